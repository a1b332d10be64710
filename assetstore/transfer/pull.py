"""Pull: download a version's files into staging, verify each against the manifest
while it streams, then install the whole version with one rename.

The files are fetched by coroutines on the backend's loop, whatever the backend: small
files with one read each, many at once, written by one writer thread; large files one
after another into a resumable partial file — each in ranges fetched in parallel and
hashed in order, or copied by the backend itself where it can (the kernel's copy, for a
local folder) — both resuming from the bytes the partial file already holds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import functools
import hashlib
import logging
import os
import shutil
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..cache.cache import Cache
from ..cache.locks import Heartbeat
from ..cache.resume import check_complete, workspace
from ..cache.subset import PartialRecord, Patterns, intact, read_record, selected
from ..errors import CacheError, IntegrityError
from ..io import pool
from ..io.pool import SharedProgress
from ..io.progress import describe
from ..io.stream import CHUNK, Callback, LocalFile, create_file, digest, hash_prefix, sha256_file
from ..model.manifest import FileEntry, Manifest
from ..model.spec import Version
from ..repository.repository import Repository
from .unpack import PackRead, pack_reads, unpack

log = logging.getLogger("assetstore")
# Files this large download into .assetstore/partial/<sha256>, which outlives a killed
# pull, so the next pull fetches only the bytes still missing (a ranged read).
RESUMABLE_SIZE = 16 * 1024 * 1024
# Ranges of one large file in flight at once: bounds memory to RANGES times the part size.
RANGES = 4
# Threads creating the files of packs at once: each file costs a few short system
# calls, each a hand-over of the GIL, so threads beyond one mostly wait on one another
# (a pull of 10,000 files of 4 KiB from a local folder: 0.61-0.76 s with one thread,
# 0.76-0.91 s with two, 0.92-0.98 s with six).
UNPACKERS = 1
# Bytes of small files received and verified that may wait for the writer thread.
WRITE_BUDGET = 32 * 1024 * 1024


def download(
    remote: Repository,
    cache: Cache,
    name: str,
    version: Version,
    *,
    manifest: Callable[[str, Version], Manifest],
    workers: int,
    force: bool,
    callback: Callback,
    patterns: Patterns | None = None,
) -> Manifest:
    """Put ``name:version`` into the cache (again, with ``force``) under its lock, so
    that processes pulling one version at once download it once; return its manifest
    (``manifest`` reads it from the bucket). With ``patterns``, only the files they
    select are fetched, as a partial version (``cache/subset.py``), and the manifest
    returned lists those the partial version holds."""
    with cache.writing(f"downloading {name}:{version}"), cache.locked(name, version) as beat:
        if not force and cache.has(name, version):
            return cache.manifest(name, version)
        found = manifest(name, version)
        if patterns:
            return _download_part(remote, cache, found, patterns, workers, force, callback, beat)
        log.info("downloading %s (%d files, %d bytes)", found.spec, len(found.files),
                 found.total_size)  # fmt: skip
        fetch_version(
            remote, cache, found, workers=workers, callback=callback, heartbeat=beat,
            replace=force,
        )  # fmt: skip
        return found


def _download_part(
    remote: Repository, cache: Cache, found: Manifest, patterns: Patterns, workers: int,
    force: bool, callback: Callback, beat: Heartbeat,
) -> Manifest:  # fmt: skip
    """The files ``patterns`` select, added to those a partial version already holds
    (which stay where they are: only the others are downloaded)."""
    wanted = selected(found, patterns)
    held = None if force else read_record(cache, found.name, found.version)
    kept = frozenset[str]()
    if held is not None and held.agrees(found):
        kept = intact(cache, held)
        if wanted <= kept:
            return held.held
        wanted |= kept
    if found.scope is None and len(wanted) == len(found.files):  # the complete version
        fetch_version(remote, cache, found, workers=workers, callback=callback, heartbeat=beat,
                      replace=True, kept=kept)  # fmt: skip
        return found
    record = PartialRecord(found, wanted)
    part = record.held
    log.info("downloading %d of the %d files of %s (%d bytes)", len(wanted - kept),
             len(found.files), found.spec, part.total_size)  # fmt: skip
    fetch_version(remote, cache, part, workers=workers, callback=callback, heartbeat=beat,
                  record=record.to_json(), kept=kept)  # fmt: skip
    return part


def fetch_version(
    remote: Repository,
    cache: Cache,
    manifest: Manifest,
    *,
    workers: int,
    callback: Callback,
    heartbeat: Heartbeat | None = None,
    replace: bool = False,
    record: bytes | None = None,
    kept: frozenset[str] = frozenset(),
) -> Path:
    """Download, verify and install ``manifest``'s version; return its folder. With a
    partial ``record``, ``manifest`` lists part of a version, installed as such; the
    files at ``kept`` are taken from the partial version in the cache, not downloaded."""
    describe(callback, manifest.spec)
    progress = SharedProgress(callback, None if heartbeat is None else heartbeat.beat)
    progress.set_size(manifest.total_size)
    packed = sum(e.size for e in manifest.files if e.pack is not None)
    resumable = packed >= RESUMABLE_SIZE
    beat = heartbeat.beat if heartbeat is not None else (lambda: None)
    with workspace(cache, manifest, resumable=resumable, beat=beat) as (root, resumed):
        if resumed:
            log.info("resuming %s: %d files kept from an earlier pull", manifest.spec,
                     len(resumed))  # fmt: skip
        for folder in manifest.empty_dirs:
            (root / folder).mkdir(parents=True, exist_ok=True)
        held = cache.version_dir(manifest.name, manifest.version)
        linked = resumed | _link_kept(held, root, manifest, kept - resumed)
        progress.relative_update(sum(e.size for e in manifest.files if e.path in linked))
        rest = tuple(e for e in manifest.files if e.path not in linked)
        fetch = _Fetch(remote, cache, dataclasses.replace(manifest, files=rest), root, progress)
        remote.run(lambda: fetch.all_async(workers))
        if resumable:
            check_complete(root, manifest)
        if record is not None:
            return cache.install_partial(root, manifest, record)
        return cache.install(root, manifest, replace=replace)


def _link_kept(held: Path, root: Path, manifest: Manifest, kept: frozenset[str]) -> set[str]:
    """Hard-link the files at ``kept`` from the partial version ``held`` into ``root``
    (copied where the filesystem has no hard links), each checked against its sha256
    first; return those linked (any other is downloaded again)."""
    linked = set()
    for entry in manifest.files:
        if entry.path not in kept or sha256_file(held / entry.path) != entry.sha256:
            continue
        (root / entry.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(held / entry.path, root / entry.path)
        except OSError:
            shutil.copyfile(held / entry.path, root / entry.path)
        linked.add(entry.path)
    return linked


class _Fetch:
    """Fetching one version's files into ``root``."""

    def __init__(
        self, remote: Repository, cache: Cache, manifest: Manifest, root: Path, progress: Callback
    ) -> None:
        self.remote = remote
        self.cache = cache
        self.manifest = manifest
        self.root = root
        self.progress = progress
        self._folders: set[Path] = set()
        self._unpackers = asyncio.Semaphore(UNPACKERS)

    def source(self, entry: FileEntry) -> str:
        return self.remote.file_path(self.manifest, entry)

    def target(self, entry: FileEntry) -> Path:
        target = self.root / entry.path
        if target.parent not in self._folders:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._folders.add(target.parent)
        return target

    @contextmanager
    def destination(self, entry: FileEntry) -> Iterator[Path]:
        """Where ``entry``'s bytes go: its place in the version, or for a large file a
        partial file that outlives this pull, moved into place once complete."""
        target = self.target(entry)
        if entry.size < RESUMABLE_SIZE:
            yield target
            return
        with self.cache.partial(entry.sha256) as partial:
            if partial is None:
                yield target
                return
            try:
                yield partial
            except CacheError as exc:
                if _out_of_space(exc):  # a partial file there would keep the disk full
                    partial.unlink(missing_ok=True)
                raise CacheError(f"downloading {self.manifest.spec}[{entry.path}]: {exc}") from exc
            partial.rename(target)
            if not target.is_file() or target.is_symlink():  # swapped under us
                raise CacheError(f"refusing to install {target}: not a regular file")

    def mismatch(self, entry: FileEntry, sha256: str, size: int) -> IntegrityError:
        return IntegrityError(
            f"{self.manifest.spec}: {entry.path} does not match its manifest "
            f"(got {size} bytes, {sha256}; expected {entry.size} bytes, {entry.sha256})",
            name=self.manifest.name,
            version=str(self.manifest.version),
            path=entry.path,
            **_difference(entry, sha256, size),
        )

    async def all_async(self, workers: int) -> None:
        reads = pack_reads(self.remote, self.manifest, most=self.remote.part_size)
        await pool.for_each(self._pack_read_async, reads, workers)
        own = [e for e in self.manifest.files if e.pack is None]
        small = [e for e in own if e.size <= CHUNK]
        large = [e for e in own if e.size > CHUNK]
        async with pool.WriteBehind(WRITE_BUDGET) as writer:
            await pool.for_each(functools.partial(self._small_async, writer), small, workers)
        for entry in large:  # one at a time, each with its ranges in parallel
            with self.destination(entry) as path:
                await self._large_async(entry, path, workers)

    async def _pack_read_async(self, read: PackRead) -> None:
        """One ranged read of a pack; its files checked and written in a thread (at
        most ``UNPACKERS`` at once) while the other reads go on."""
        data = await self.remote.read_range_async(read.source, read.start, read.end)
        async with self._unpackers:
            await asyncio.to_thread(unpack, read, data, self.root, self.mismatch, self.progress)

    async def _small_async(self, writer: pool.WriteBehind, entry: FileEntry) -> None:
        """One GET of at most one byte past the declared size: a larger object (a
        lying bucket) fails verification without being read to its end. The verified
        bytes go to ``writer``'s thread."""
        data = await self.remote.read_range_async(self.source(entry), 0, entry.size + 1)
        got = (digest(hashlib.sha256(data)), len(data))
        if got != (entry.sha256, entry.size):
            raise self.mismatch(entry, *got)
        await writer.submit(len(data), self._write, entry, data)

    def _write(self, entry: FileEntry, data: bytes) -> None:
        create_file(self.target(entry), data)
        self.progress.relative_update(len(data))

    async def _large_async(self, entry: FileEntry, target: Path, workers: int) -> None:
        held = _discard_overlong(target, entry.size)
        source = self.source(entry)
        copy = self.remote.copy_into(source)
        if copy is not None:
            got = await asyncio.to_thread(
                _copied, self.remote, copy, source, target, entry.size, self.progress
            )
        else:
            got = await _ranged_download(
                self.remote, source, target, entry.size, progress=self.progress,
                window=min(workers, RANGES),
            )  # fmt: skip
        if got != (entry.sha256, entry.size):
            target.unlink(missing_ok=True)
            if held:  # the kept bytes were wrong: uncount this attempt, start afresh
                self.progress.relative_update(-got[1])
                await self._large_async(entry, target, workers)
                return
            raise self.mismatch(entry, *got)


def _out_of_space(exc: BaseException) -> bool:
    """A write failed for lack of room: the disk or the quota is full, or the file is
    over the process's size limit."""
    cause = exc.__cause__
    return isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _discard_overlong(target: Path, size: int) -> int:
    """How many bytes ``target`` holds from an earlier attempt, after deleting it if it
    holds more than the file can."""
    held = target.stat().st_size if target.exists() else 0
    if held > size:
        target.unlink()
        return 0
    return held


def _copied(
    remote: Repository, copy: Any, source: str, target: Path, size: int, progress: Callback
) -> tuple[str, int]:
    """The backend's own copy of ``source`` into ``target``, after the bytes it holds
    (a resumed download); never more than one byte past ``size``."""
    prefix = hash_prefix(target)
    if prefix[1]:
        log.info("resuming %s at byte %d", remote.key_of(source), prefix[1])
        progress.relative_update(prefix[1])
    with (
        remote.errors("downloading", path=source, not_found=True),
        LocalFile(target, mode="r+b" if prefix[1] else "w+b") as dst,
    ):
        got: tuple[str, int] = copy(dst, callback=progress, prefix=prefix, limit=size + 1)
    return got


async def _ranged_download(
    remote: Repository, source: str, target: Path, size: int, *, progress: Callback, window: int
) -> tuple[str, int]:
    """Append to ``target`` what it lacks of ``source``, ``window`` ranges in flight,
    written and hashed in order; return the (sha256, size) of the whole file.

    The last range reaches one byte past ``size``, so an object larger than its
    manifest says shows as a size mismatch; a range that comes back short ends the
    download (the object is smaller than declared)."""
    hasher, held = await asyncio.to_thread(hash_prefix, target)
    if held:
        log.info("resuming %s at byte %d", remote.key_of(source), held)
        progress.relative_update(held)
    step = remote.part_size
    starts = iter(range(held, size + 1, step))
    in_flight: deque[tuple[int, asyncio.Task[bytes]]] = deque()

    def launch() -> None:
        start = next(starts, None)
        if start is not None:
            end = min(start + step, size + 1)
            task = asyncio.ensure_future(remote.read_range_async(source, start, end))
            in_flight.append((end - start, task))

    for _ in range(max(1, window)):
        launch()
    try:
        with LocalFile(target) as stream:
            while in_flight:
                wanted, task = in_flight.popleft()
                data = await task
                launch()
                await asyncio.gather(  # both release the GIL: hash and write at once
                    asyncio.to_thread(hasher.update, data), asyncio.to_thread(stream.write, data)
                )
                held += len(data)
                progress.relative_update(len(data))
                if len(data) < wanted:
                    break
    finally:
        for _, task in in_flight:
            task.cancel()
        await asyncio.gather(*(task for _, task in in_flight), return_exceptions=True)
    return digest(hasher), held


def _difference(entry: FileEntry, sha256: str, size: int) -> dict[str, str]:
    """What an IntegrityError says was expected and found: the sizes when they differ,
    else the digests."""
    if size != entry.size:
        return {"expected": str(entry.size), "actual": str(size)}
    return {"expected": entry.sha256, "actual": sha256}
