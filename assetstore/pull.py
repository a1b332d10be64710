"""Pull: download a version's files into staging, verify each against the manifest
while it streams, then install the whole version with one rename.

On async backends (s3fs, gcsfs, adlfs) the files are fetched by coroutines on the
backend's loop (aio.py): small files with one GET each, many at once, written by one
writer thread; large files one after another, each in ranges fetched in parallel and
hashed in order. Other backends
(local, memory) stream each file in a worker thread.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import hashlib
import logging
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import aio
from .cache import Cache, Heartbeat
from .errors import CacheError, IntegrityError
from .hashing import CHUNK, Callback, LocalFile, digest, hash_prefix
from .manifest import FileEntry, Manifest
from .remote import Remote
from .transfer import SharedProgress, run_all

log = logging.getLogger("assetstore")
# Files this large download into .assetstore/partial/<sha256>, which outlives a killed
# pull, so the next pull fetches only the bytes still missing (a ranged read).
RESUMABLE_SIZE = 16 * 1024 * 1024
# Ranges of one large file in flight at once: bounds memory to RANGES times the part size.
RANGES = 4
# Bytes of small files received and verified that may wait for the writer thread.
WRITE_BUDGET = 32 * 1024 * 1024


def fetch_version(
    remote: Remote,
    cache: Cache,
    manifest: Manifest,
    *,
    workers: int,
    callback: Callback,
    heartbeat: Heartbeat | None = None,
    replace: bool = False,
) -> Path:
    """Download, verify and install ``manifest``'s version; return its folder."""
    progress = SharedProgress(callback, heartbeat)
    progress.set_size(manifest.total_size)
    with cache.staging() as staging:
        root = staging / "version"
        root.mkdir()
        for folder in manifest.empty_dirs:
            (root / folder).mkdir(parents=True, exist_ok=True)
        fetch = _Fetch(remote, cache, manifest, root, progress)
        if aio.is_async(remote.fs):
            aio.run(remote.fs, lambda: fetch.all_async(workers))
        else:
            run_all(fetch.one, manifest.files, workers=workers)
        return cache.install(root, manifest, replace=replace)


class _Fetch:
    """Fetching one version's files into ``root``."""

    def __init__(
        self, remote: Remote, cache: Cache, manifest: Manifest, root: Path, progress: Callback
    ) -> None:
        self.remote = remote
        self.cache = cache
        self.manifest = manifest
        self.root = root
        self.progress = progress
        self._folders: set[Path] = set()

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
        )

    # -- one file per thread (blocking backends) -----------------------------------
    def one(self, entry: FileEntry) -> None:
        with self.destination(entry) as path:
            self._download(entry, path)

    def _download(self, entry: FileEntry, target: Path) -> None:
        held = _discard_overlong(target, entry.size)
        got = self.remote.download(
            self.source(entry), target, callback=self.progress, size=entry.size
        )
        if got != (entry.sha256, entry.size):
            target.unlink(missing_ok=True)  # never resume from bytes that do not match
            if held:  # the kept bytes were bad: once more, from scratch
                self._download(entry, target)
                return
            raise self.mismatch(entry, *got)

    # -- coroutines on the backend's loop (async backends) --------------------------
    async def all_async(self, workers: int) -> None:
        small = [e for e in self.manifest.files if e.size <= CHUNK]
        large = [e for e in self.manifest.files if e.size > CHUNK]
        async with aio.WriteBehind(WRITE_BUDGET) as writer:
            await aio.for_each(functools.partial(self._small_async, writer), small, workers)
        for entry in large:  # one at a time, each with its ranges in parallel
            with self.destination(entry) as path:
                await self._large_async(entry, path, workers)

    async def _small_async(self, writer: aio.WriteBehind, entry: FileEntry) -> None:
        """One GET of at most one byte past the declared size: a larger object (a
        lying bucket) fails verification without being read to its end. The verified
        bytes go to ``writer``'s thread."""
        data = await self.remote.read_range_async(self.source(entry), 0, entry.size + 1)
        got = (digest(hashlib.sha256(data)), len(data))
        if got != (entry.sha256, entry.size):
            raise self.mismatch(entry, *got)
        await writer.submit(len(data), self._write, entry, data)

    def _write(self, entry: FileEntry, data: bytes) -> None:
        with LocalFile(self.target(entry), mode="wb") as stream:
            stream.write(data)
        self.progress.relative_update(len(data))

    async def _large_async(self, entry: FileEntry, target: Path, workers: int) -> None:
        held = _discard_overlong(target, entry.size)
        window = min(workers, RANGES)
        source = self.source(entry)
        got = await _ranged_download(
            self.remote, source, target, entry.size, progress=self.progress, window=window
        )
        if got != (entry.sha256, entry.size):
            target.unlink(missing_ok=True)
            if held:
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


async def _ranged_download(
    remote: Remote, source: str, target: Path, size: int, *, progress: Callback, window: int
) -> tuple[str, int]:
    """Append to ``target`` what it lacks of ``source``, ``window`` ranges in flight,
    written and hashed in order; return the (sha256, size) of the whole file.

    The last range reaches one byte past ``size``, so an object larger than its
    manifest says shows as a size mismatch; a range that comes back short ends the
    download (the object is smaller than declared)."""
    hasher, held = await asyncio.to_thread(hash_prefix, target)
    if held:
        log.info("resuming %s at byte %d", remote.key_of(source), held)
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
