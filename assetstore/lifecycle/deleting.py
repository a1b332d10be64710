"""Deleting versions, and the sweep that removes the objects no committed version needs.

The order is the commit's in reverse: the tombstone first (from then on the version is
gone for every listing, and its number is never given again), then the manifest, then
the objects of its folder that no other committed manifest names. A file a later
version reused stays where it is, as long as a manifest names it (reference counting
from the manifests: ``stored_at`` stays true).

Why no push can lose an object to a concurrent sweep (docs/concepts.md, "Lifecycle"): a
sweep deletes nothing of a name while a push of that name holds a reservation, and a
push checks, once its reservation is in place, that the versions it reuses from are
still committed (``transfer/push.py``). A push either is seen by the sweep, or started
after the sweep's listing and then reuses only from manifests that listing saw.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import AssetNotFoundError, IntegrityError, ProtectedError
from ..model.lifecycle import Mark, new_mark
from ..model.spec import VERSION_TEXT, Version
from ..repository import marks
from ..repository.repository import Repository, Scan
from .protect import guards

_VERSION_FOLDER = re.compile(VERSION_TEXT)


@dataclass(frozen=True)
class Removed:
    """One object deleted (or that a dry run would delete), and why."""

    key: str  # its URL
    bytes: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "bytes": self.bytes, "reason": self.reason}


@dataclass
class Report:
    """What a delete, a retention rule or a gc did (or, with ``dry_run``, would do)."""

    dry_run: bool = False
    deleted: list[Mark] = field(default_factory=list)  # versions deleted
    kept: dict[str, str] = field(default_factory=dict)  # spec -> why it was kept
    items: list[Removed] = field(default_factory=list)  # objects removed
    deferred: dict[str, str] = field(default_factory=dict)  # name -> why its sweep waits

    @property
    def bytes(self) -> int:
        return sum(item.bytes for item in self.items)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "deleted": [mark.spec for mark in self.deleted],
            "kept": dict(self.kept),
            "deferred": dict(self.deferred),
            "objects": len(self.items),
            "bytes": self.bytes,
            "items": [item.to_dict() for item in self.items],
        }


def delete(
    repo: Repository, name: str, versions: Iterable[Version], *, by: str,
    reason: str | None = None, force: bool = False, dry_run: bool = False,
    strict: bool = True, report: Report | None = None, orphans: bool = False,
) -> Report:  # fmt: skip
    """Delete ``versions`` of ``name``, then sweep (``orphans``: as gc does). ``strict``:
    a protected version is an error (ProtectedError, nothing deleted); else it is kept
    and reported."""
    report = report or Report(dry_run=dry_run)
    scan, wanted = repo.scan(name), sorted(set(versions))
    missing = [v for v in wanted if v not in scan.committed and v not in scan.deleted]
    if missing:
        raise AssetNotFoundError(f"{name}:{missing[0]} not found in {repo.url}", name=name)
    chosen = _unprotected(repo, name, [v for v in wanted if v in scan.committed], force,
                          strict, report)  # fmt: skip
    for version in chosen:
        mark = new_mark("delete", name, version, by, reason)
        report.deleted.append(mark)
        if not dry_run:
            marks.write(repo, mark)
    sweep(repo, name, report, gone=set(chosen), orphans=orphans)
    return report


def _unprotected(
    repo: Repository, name: str, versions: list[Version], force: bool, strict: bool,
    report: Report,
) -> list[Version]:  # fmt: skip
    needed = guards(repo, name) if versions else {}
    chosen = []
    for version in versions:
        why = needed[version].why(force=force) if version in needed else None
        if why and strict:
            raise ProtectedError(f"{name}:{version} is protected: {why}")
        if why:
            report.kept[f"{name}:{version}"] = why
        else:
            chosen.append(version)
    return chosen


def sweep(
    repo: Repository, name: str, report: Report, *, gone: set[Version] | None = None,
    orphans: bool = False,
) -> None:  # fmt: skip
    """Remove what no committed version of ``name`` needs: the manifests and marks of
    deleted versions, the objects of their folders no manifest names (with ``orphans``,
    gc's: of every folder). ``gone``: versions this run deletes (a dry run has not)."""
    scan = _as_if_deleted(repo.scan(name), gone or set())
    if scan.reserved:
        _defer(name, scan.reserved, report)
        return
    needed = _referenced(repo, name, scan)
    folders = _data_folders(repo, name)
    # A second listing, once the manifests are read and the folders listed: a push that
    # committed while the first was paged through shows here (it is then not deleted
    # from under), and a folder no listing knows of is no push's.
    later = _as_if_deleted(repo.scan(name), gone or set())
    if later.committed - scan.committed:
        _defer(name, later.committed - scan.committed, report)
        return
    for version in sorted(scan.deleted | (scan.yanked - scan.manifests)):
        _remove_records(repo, name, version, scan, report)
    for version, objects in sorted(folders.items()):
        unneeded = [o for o in objects if o[0] not in needed]  # always: whatever the folder
        if version in scan.deleted:
            remove(unneeded, "deleted version", repo, report)
        elif orphans and version in scan.committed:
            remove(unneeded, "no manifest names it", repo, report)
        elif orphans and version not in scan.taken | later.taken:
            remove(unneeded, "data of no committed version", repo, report)


def _defer(name: str, pushed: frozenset[Version], report: Report) -> None:
    held = ", ".join(str(v) for v in sorted(pushed))
    report.deferred[name] = (f"a push of {name} holds or just committed {held}: its objects "
                             "stay until no push of it is under way (run gc then)")  # fmt: skip


def _as_if_deleted(scan: Scan, gone: set[Version]) -> Scan:
    return scan._replace(deleted=scan.deleted | gone)


def _referenced(repo: Repository, name: str, scan: Scan) -> set[str]:
    """The path of every object a committed manifest of ``name`` names (its files' and
    its shards')."""
    needed: set[str] = set()
    for version in scan.committed:
        try:
            manifest = repo.manifest(name, version)
        except AssetNotFoundError:
            continue  # deleted since the listing: what it named is not needed by it
        except IntegrityError as exc:  # it might name anything: keep them all
            raise IntegrityError(f"{exc}: nothing of {name} is deleted") from None
        needed.update(repo.file_path(manifest, entry) for entry in manifest.files)
        needed.update(repo.shard_paths(manifest))
    return needed


def _remove_records(
    repo: Repository, name: str, version: Version, scan: Scan, report: Report
) -> None:
    if version in scan.manifests:
        path = repo.manifest_path(name, version)
        remove([(path, scan.sizes.get(path, 0))], "manifest of a deleted version", repo, report)
    if version in scan.yanked:
        why = "yank of a deleted version" if version in scan.deleted else "yank of no version"
        path = repo.yank_path(name, version)
        remove([(path, scan.sizes.get(path, 0))], why, repo, report)


def _data_folders(repo: Repository, name: str) -> dict[Version, list[tuple[str, int]]]:
    """The objects under each version folder of ``name`` (not those of a longer name
    such as ``name/sub``: a version folder's name is a version)."""
    root = repo.asset_folder(name)
    with repo.errors(f"listing the files of {name} in", path=root):
        entries = repo.listed(root)
    found: dict[Version, list[tuple[str, int]]] = {}
    for entry in entries:
        head = repo.under(root, entry.path).partition("/")[0]
        if _VERSION_FOLDER.fullmatch(head):
            found.setdefault(Version.parse(head), []).append((entry.path, entry.size))
    return found


def remove(objects: list[tuple[str, int]], reason: str, repo: Repository, report: Report) -> None:
    if not objects:
        return
    report.items += [Removed(repo.url_of(path), size, reason) for path, size in objects]
    if not report.dry_run:
        paths = [path for path, _ in objects]
        for path in paths:
            repo.check_inside(path)
        with repo.errors("deleting", path=paths[0]):
            repo.run(lambda: repo.backend.delete(paths))
