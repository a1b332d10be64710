"""The lifecycle's objects in the bucket: yanks and tombstones beside the manifests
(``.manifests/{name}/{version}.yanked`` / ``.deleted``), and the registered lockfiles
(``.locks/{service}.toml``). Each is read bounded and checked against where it lives."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from ..errors import AssetNotFoundError, IntegrityError, InvalidSpecError
from ..model.lifecycle import MAX_MARK_BYTES, Kind, Mark
from ..model.spec import Version
from .layout import DELETED_FILE, LOCK_FILE, YANKED_FILE
from .repository import Repository

log = logging.getLogger("assetstore")
MAX_LOCK_BYTES = 4 * 2**20  # a lockfile of thousands of assets is well under this


def mark_path(repo: Repository, kind: Kind, name: str, version: Version) -> str:
    if kind == "yank":
        return repo.yank_path(name, version)
    return repo.tombstone_path(name, version)


def read(repo: Repository, kind: Kind, name: str, version: Version) -> Mark | None:
    """The yank or tombstone of ``name:version``, or None when there is none."""
    path = mark_path(repo, kind, name, version)
    if not repo.exists(path):
        return None
    mark = Mark.from_json(repo.read_small(path, MAX_MARK_BYTES), repo.url_of(path))
    if (mark.kind, mark.name, mark.version) != (kind, name, version):
        raise IntegrityError(
            f"{repo.url_of(path)} is a {mark.kind} record of {mark.spec}, not of {name}:{version}"
        )
    return mark


def check_served(repo: Repository, name: str, version: Version) -> None:
    """Before a download: refuse a version being deleted (its tombstone is there, its
    manifest not removed yet); warn that a yanked one, named exactly, is served anyway."""
    scan = repo.scan(name)
    if version in scan.deleted:
        raise AssetNotFoundError(
            f"{name}:{version} was deleted from {repo.url}", name=name, version=str(version),
            backend=repo.url,
        )  # fmt: skip
    if version in scan.yanked:
        mark = read(repo, "yank", name, version)
        why = f": {mark.reason}" if mark and mark.reason else ""
        log.warning("%s:%s is yanked%s (served because it was named exactly)", name, version, why)


def write(repo: Repository, mark: Mark) -> None:
    """Write (or, for a yank, rewrite) the mark. A tombstone is never rewritten: the
    first delete's record stays."""
    path = mark_path(repo, mark.kind, mark.name, mark.version)
    doing = f"recording the {mark.kind} of {mark.spec} at"
    if mark.kind == "delete":  # False: deleted before, and that record is the one kept
        repo.create_once(path, mark.to_json(), doing=doing)
        return
    with repo.errors(doing, path=path):
        repo.run(lambda: repo.call(repo.backend.write, path, mark.to_json()))


def remove(repo: Repository, kind: Kind, name: str, version: Version) -> None:
    repo.delete(mark_path(repo, kind, name, version))


def every_mark(repo: Repository) -> Iterator[Mark]:
    """Every yank and tombstone in the store (what ``catalog sync`` indexes)."""
    for name, base in repo.manifest_objects():
        for kind, pattern in (("yank", YANKED_FILE), ("delete", DELETED_FILE)):
            match = pattern.fullmatch(base)
            if match:
                found = read(repo, kind, name, Version.parse(match[1]))  # type: ignore[arg-type]
                if found is not None:
                    yield found


# -- registered lockfiles ----------------------------------------------------------------
def check_service(service: str) -> str:
    if not LOCK_FILE.fullmatch(f"{service}.toml"):
        raise InvalidSpecError(
            f"invalid service name {service!r}: lowercase letters, digits, '.', '_' and '-', "
            "at most 64, starting with a letter or digit"
        )
    return service


def register(repo: Repository, service: str, text: bytes) -> None:
    path = repo.lock_path(check_service(service))
    with repo.errors(f"registering the lockfile of {service} at", path=path):
        repo.run(lambda: repo.call(repo.backend.write, path, text, size=len(text)))


def unregister(repo: Repository, service: str) -> bool:
    """Remove the service's registered lockfile; False when there was none."""
    path = repo.lock_path(check_service(service))
    if not repo.exists(path):
        return False
    repo.delete(path)
    return True


def registered(repo: Repository) -> dict[str, bytes]:
    """service -> its registered lockfile's bytes."""
    folder = repo.locks_folder
    with repo.errors("listing the registered lockfiles in", path=folder):
        entries = repo.listed(folder, recursive=False)
    found = {}
    for entry in entries:
        match = LOCK_FILE.fullmatch(repo.under(folder, entry.path))
        if match:
            found[match[1]] = repo.read_small(entry.path, MAX_LOCK_BYTES)
    return dict(sorted(found.items()))
