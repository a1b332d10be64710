"""Push: scan and hash the source, plan what to send and what the new version reuses
from an earlier one (by reference: nothing is copied), then carry the plan out.

``plan_push`` only reads (``--dry-run`` is the plan printed); ``execute_push``
reserves the version, moves bytes, and writes the manifest last.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import posixpath
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..cache.hashcache import HashCache, Identity, stat_identity
from ..errors import PushSourceError, VersionExistsError
from ..io import pool
from ..io.pool import SharedProgress, run_all
from ..io.stream import CHUNK, Callback, digest
from ..model.manifest import FileEntry, Kind, Manifest
from ..model.paths import check_relpath
from ..model.spec import Version, next_version, parse_target
from ..repository.commit import Watch, publish, publish_first_free
from ..repository.repository import Repository
from ..repository.reservations import Publisher

log = logging.getLogger("assetstore")
# Parts of one large file in flight at once: bounds memory to PARTS times the part size.
PARTS = 4


@dataclass(frozen=True)
class SourceFile:
    path: str  # relative, POSIX
    source: Path
    size: int
    sha256: str | None  # None: not hashed yet; hashed while it is sent
    identity: Identity | None = None  # its stat identity for the hash cache (None: unsettled)


@dataclass(frozen=True)
class PushPlan:
    name: str
    version: Version
    kind: Kind
    files: tuple[SourceFile, ...]
    empty_dirs: tuple[str, ...]
    reused: dict[str, str] = field(default_factory=dict)  # path -> its entry's stored_at
    metadata: dict[str, str] = field(default_factory=dict)
    explicit: bool = False
    reused_from: Version | None = None  # the version whose manifest ``reused`` comes from
    expires_at: str | None = None  # ISO 8601, UTC: gc deletes the version after it

    @property
    def spec(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def to_send(self) -> list[SourceFile]:
        return [f for f in self.files if f.path not in self.reused]

    @property
    def upload_bytes(self) -> int:
        return sum(f.size for f in self.to_send)

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "kind": self.kind,
            "files": len(self.files),
            "total_size": self.total_bytes,
            "upload_size": self.upload_bytes,
            "reused_files": len(self.reused),
            "empty_dirs": list(self.empty_dirs),
            "metadata": self.metadata,
        }


def scan_source(source: Path) -> tuple[Kind, list[tuple[str, Path]], list[str]]:
    """What a push of ``source`` would send: its kind, (relative path, file), empty dirs.

    Symlinks inside a tree are refused (never followed); a symlink named as the
    source itself is the user's explicit choice and is followed.
    """
    if not source.exists():
        raise PushSourceError(f"cannot push {source}: no such file or directory")
    if source.is_file():
        check_relpath(source.resolve().name, what="file name")
        return "file", [(source.resolve().name, source)], []
    if not source.is_dir():
        raise PushSourceError(f"cannot push {source}: not a regular file or directory")
    files: list[tuple[str, Path]] = []
    empty: list[str] = []
    for folder, dirs, names in os.walk(source):
        here = Path(folder)
        dirs.sort()
        for entry in [*dirs, *names]:
            _check_entry(here / entry, source)
        if not dirs and not names and here != source:
            empty.append(_relative(here, source))
        files.extend((_relative(here / n, source), here / n) for n in sorted(names))
    if not files and not empty:
        raise PushSourceError(f"cannot push {source}: the directory is empty")
    return "dir", files, empty


def _check_entry(path: Path, root: Path) -> None:
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        raise PushSourceError(
            f"cannot push {root}: {path} is a symlink (to {os.readlink(path)}); symlinks "
            "inside a pushed tree are refused — replace it with the file it points to"
        )
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise PushSourceError(f"cannot push {root}: {path} is not a regular file or folder")


def _relative(path: Path, root: Path) -> str:
    return check_relpath(path.relative_to(root).as_posix(), what="path in the pushed tree")


def plan_files(
    remote: Repository,
    name: str,
    version: Version,
    entries: list[tuple[str, Path]],
    *,
    workers: int,
    hashes: HashCache | None = None,
) -> tuple[tuple[SourceFile, ...], dict[str, str], Version | None]:
    """The files to push as ``name:version``, which of them the newest committed
    version below it already holds (path -> where those bytes are stored, as a manifest
    entry's ``stored_at``), and that version. Only a file the size of one in that
    version can be one of those, so only those are hashed now (or found in ``hashes``,
    unchanged since an earlier push); the others are hashed as they are sent (a first
    push reads each byte once)."""
    source, by_content = _reusable(remote, name, version)
    sizes = {size for _, size in by_content}
    hashes = hashes or HashCache(None)

    def stat(entry: tuple[str, Path]) -> SourceFile:
        relpath, path = entry
        st, ident = stat_identity(path)
        known = hashes.known(path, ident) if st.st_size in sizes else None
        return SourceFile(relpath, path, st.st_size, known, ident)

    def hashed(file: SourceFile) -> SourceFile:
        return replace(file, sha256=hashes.sha256(file.source, file.identity))

    # A stat() of a file the scan has just seen, or a look-up in the hash cache, costs
    # less than handing it to a thread: only reading files to hash them goes to threads.
    files = [stat(entry) for entry in entries]
    unknown = [i for i, f in enumerate(files) if f.sha256 is None and f.size in sizes]
    computed = run_all(hashed, [files[i] for i in unknown], workers=workers)
    for i, file in zip(unknown, computed, strict=True):
        files[i] = file
    found = ((f.path, by_content.get((f.sha256 or "", f.size))) for f in files)
    reused = {path: stored_at for path, stored_at in found if stored_at is not None}
    return tuple(files), reused, source if reused else None


def _reusable(
    remote: Repository, name: str, version: Version
) -> tuple[Version | None, dict[tuple[str, int], str]]:
    """The newest committed version of ``name`` below ``version``, and (sha256, size)
    -> where the bytes are stored, for each of its files whose object is there, at its
    size: a file is only referred to where it can be read."""
    older = [v for v in remote.versions(name) if v < version]
    if not older:
        return None, {}
    previous = remote.manifest(name, older[-1])
    # A file that version itself reused points where its bytes are: no chains to follow.
    found = {(e.sha256, e.size): e.stored_at or f"{older[-1]}/{e.path}" for e in previous.files}
    present = _stored_sizes(remote, name, set(found.values()))
    return older[-1], {key: at for key, at in found.items() if present.get(at) == key[1]}


def _stored_sizes(remote: Repository, name: str, locations: set[str]) -> dict[str, int]:
    """The size of each object at ``locations`` (``<version>/<path>``) that exists: one
    listing per version folder, not one request per file."""
    sizes: dict[str, int] = {}
    for folder in sorted({at.partition("/")[0] for at in locations}):
        listed = remote.object_sizes(name, Version.parse(folder))
        sizes.update((f"{folder}/{rel}", size) for rel, size in listed.items())
    return sizes


def execute_push(
    remote: Repository, plan: PushPlan, publisher: Publisher, *, callback: Callback
) -> Manifest:
    """Reserve the version, send the files it does not reuse, commit the manifest."""
    return publish(
        remote,
        plan.name,
        plan.version,
        publisher,
        lambda watch: _transfer(remote, plan, publisher, callback, watch),
    )


def _transfer(
    remote: Repository, plan: PushPlan, publisher: Publisher, callback: Callback, watch: Watch
) -> Manifest:
    remote.check_inside(remote.data_path(plan.name, plan.version))
    plan = _still_reusable(remote, plan)
    progress = SharedProgress(callback)
    progress.set_size(plan.upload_bytes)
    send = _Send(remote, plan, progress, watch)
    remote.run(lambda: send.all_async(publisher.workers))
    files = (
        FileEntry(f.path, f.size, send.sha256_of(f), plan.reused.get(f.path)) for f in plan.files
    )
    return Manifest(
        name=plan.name,
        version=plan.version,
        kind=plan.kind,
        files=tuple(files),
        pushed_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        pushed_by=publisher.pushed_by,
        metadata=plan.metadata,
        empty_dirs=plan.empty_dirs,
        expires_at=plan.expires_at,
    )


def _still_reusable(remote: Repository, plan: PushPlan) -> PushPlan:
    """``plan``, or — when the version it reuses files from was deleted since it was
    planned — ``plan`` sending every file. Checked once the reservation is in place: a
    delete's sweep seen after that point defers to this push (lifecycle/deleting.py),
    and one seen before it left its tombstone, which this listing finds."""
    if plan.reused_from is None or plan.reused_from in remote.scan(plan.name).committed:
        return plan
    log.info("%s was deleted since this push was planned: every file is sent", plan.reused_from)
    return replace(plan, reused={}, reused_from=None)


def folder_by_folder(files: list[SourceFile]) -> list[SourceFile]:
    """``files`` in turns across their folders: one from each folder, then the next from
    each, and so on. Uploads under way at once then create their objects in different
    folders. A server that keeps objects as files (rclone, MinIO) creates each one under
    its folder's lock: eight uploads into one folder made rclone spend a third more CPU
    (in the kernel, spinning on that lock) than the same uploads in turns."""
    by_folder: dict[str, list[SourceFile]] = {}
    for item in files:
        by_folder.setdefault(posixpath.dirname(item.path), []).append(item)
    turns = itertools.zip_longest(*by_folder.values())
    return [item for turn in turns for item in turn if item is not None]


class _Send:
    """Sending the files of one plan that no earlier version holds."""

    def __init__(
        self, remote: Repository, plan: PushPlan, progress: Callback, watch: Watch
    ) -> None:
        self.remote = remote
        self.plan = plan
        self.progress = progress
        self.watch = watch
        self._sent: dict[str, str] = {}  # path -> sha256 of the bytes sent

    def sha256_of(self, item: SourceFile) -> str:
        return item.sha256 or self._sent[item.path]

    def check_sent(self, item: SourceFile, sent: tuple[str, int]) -> None:
        """Record what was sent; fail if the file is not what the plan saw."""
        if sent[1] != item.size or item.sha256 not in (None, sent[0]):
            raise PushSourceError(f"{item.source} changed while it was being pushed")
        self._sent[item.path] = sent[0]

    def target(self, item: SourceFile) -> str:
        return self.remote.data_path(self.plan.name, self.plan.version, item.path)

    async def all_async(self, workers: int) -> None:
        """Small files as coroutines, ``workers`` at once; then large files, each
        streamed in parts."""
        small = folder_by_folder([f for f in self.plan.to_send if f.size <= CHUNK])
        await pool.for_each(self._one_async, small, workers)
        large = [f for f in self.plan.to_send if f.size > CHUNK]
        # Where the parts of one file go up in parallel, one file at a time; elsewhere
        # (one part at a time, or a local copy) several files at once.
        files_at_once = 1 if self.remote.backend.parallel_parts else workers
        window = min(workers, PARTS)

        async def upload(item: SourceFile) -> None:
            self.watch.check()
            got = await self.remote.upload_async(
                item.source, self.target(item), callback=self.progress, window=window
            )
            self.check_sent(item, got)

        await pool.for_each(upload, large, files_at_once)

    async def _one_async(self, item: SourceFile) -> None:
        self.watch.check()
        data, hasher = await pool.file_io(item.size, _read_source, item)
        self.check_sent(item, (digest(hasher), len(data)))
        await self.remote.write_async(self.target(item), data)
        self.progress.relative_update(len(data))


def _read_source(item: SourceFile) -> tuple[bytes, hashlib._Hash]:
    """The file's bytes (one more than planned, if it grew), hashed."""
    try:
        with item.source.open("rb") as stream:
            data = stream.read(item.size + 1)
    except OSError as exc:
        raise PushSourceError(f"cannot read {item.source}: {exc.strerror or exc}") from exc
    return data, hashlib.sha256(data)


def _check_free(remote: Repository, name: str, version: Version) -> None:
    scan = remote.scan(name)
    if version in scan.deleted:
        raise VersionExistsError(
            f"{name}:{version} was deleted; a version number is never given again",
            name=name, version=str(version),
        )  # fmt: skip
    if version in scan.committed:
        raise VersionExistsError(
            f"{name}:{version} already exists; versions are immutable",
            name=name, version=str(version),
        )  # fmt: skip


def plan_push(
    remote: Repository,
    state: Path,
    source: Path,
    target: str,
    *,
    bump: str,
    metadata: Mapping[str, str] | None,
    workers: int,
) -> PushPlan:
    """What a push of ``source`` as ``target`` would do (``state``: the assets dir's
    ``.assetstore``, where the hash cache lives)."""
    name, version = parse_target(target)
    kind, entries, empty_dirs = scan_source(source)
    if version is None:
        version = next_version(remote.taken(name), bump)
    else:
        _check_free(remote, name, version)
    hashes = HashCache(state / "hashes.db")
    files, reused, reused_from = plan_files(remote, name, version, entries, workers=workers,
                                            hashes=hashes)  # fmt: skip
    hashes.save()
    return PushPlan(
        name=name,
        version=version,
        kind=kind,
        files=files,
        empty_dirs=tuple(empty_dirs),
        reused=reused,
        reused_from=reused_from,
        metadata=dict(metadata or {}),
        explicit=":" in target,
    )


def push_plan(
    remote: Repository,
    state: Path,
    plan: PushPlan,
    publisher: Publisher,
    *,
    bump: str,
    callback: Callback,
) -> Manifest:
    """Carry ``plan`` out — for an unpinned push, at the first version still free — then
    remember the hashes computed while sending, for the next push of these files."""

    def at(version: Version) -> Manifest:
        return execute_push(remote, replace(plan, version=version), publisher, callback=callback)

    manifest = publish_first_free(
        remote, plan.name, plan.version, at, bump=bump, explicit=plan.explicit
    )
    hashes = HashCache(state / "hashes.db")
    sent = {entry.path: entry.sha256 for entry in manifest.files}
    for item in plan.files:
        if item.sha256 is None:
            hashes.remember(item.source, item.identity, sent[item.path])
    hashes.save()
    return manifest
