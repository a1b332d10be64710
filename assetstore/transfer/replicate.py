"""Copy a version between two stores, keeping its number, metadata and pusher.

Inside one account the bytes are copied server-side; across backends each file is read
from one and sent to the other — small files through memory, large ones through a
temporary file, so memory stays bounded — and verified against the manifest's sha256
on the way. The copy is self-contained: each file goes into the version's own folder in
the target, and its manifest there refers to no earlier version (those may be absent).
"""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
from pathlib import Path

from ..errors import IntegrityError
from ..io import pool
from ..io.pool import SharedProgress, run_all
from ..io.progress import COMMIT, describe
from ..io.stream import CHUNK, Callback, NoProgress, digest
from ..model.manifest import FileEntry, Manifest
from ..repository.commit import Watch, publish
from ..repository.repository import Repository
from ..repository.reservations import Publisher
from .pull import RANGES, _ranged_download


def copy_version(
    source: Repository,
    target: Repository,
    manifest: Manifest,
    publisher: Publisher,
    *,
    callback: Callback,
) -> Manifest:
    """Publish ``manifest``'s version in ``target`` with the bytes of ``source``."""
    describe(callback, manifest.spec)
    progress = SharedProgress(callback)
    progress.set_size(manifest.total_size + COMMIT)
    server_side = source.backend.same_account(target.backend)

    def transfer(watch: Watch) -> Manifest:
        if server_side:
            workers = publisher.workers
            run_all(lambda entry: _copy_one(entry, watch), manifest.files, workers=workers)
        else:
            with tempfile.TemporaryDirectory(prefix="assetstore-copy-") as scratch:
                streams = _Streams(source, target, manifest, progress, Path(scratch), watch)
                target.run(lambda: pool.for_each(streams.one, manifest.files, publisher.workers))
        own = tuple(dataclasses.replace(entry, stored_at=None) for entry in manifest.files)
        return dataclasses.replace(manifest, files=own)

    def _copy_one(entry: FileEntry, watch: Watch) -> None:
        watch.check()
        dst = target.data_path(manifest.name, manifest.version, entry.path)
        target.copy(source.file_path(manifest, entry), dst)
        progress.relative_update(entry.size)

    copied = publish(target, manifest.name, manifest.version, publisher, transfer)
    callback.relative_update(COMMIT)
    return copied


@dataclasses.dataclass
class _Streams:
    """Files read from one backend and sent to another, verified on the way."""

    source: Repository
    target: Repository
    manifest: Manifest
    progress: Callback
    scratch: Path
    watch: Watch

    async def one(self, entry: FileEntry) -> None:
        self.watch.check()
        src = self.source.file_path(self.manifest, entry)
        dst = self.target.data_path(self.manifest.name, self.manifest.version, entry.path)
        if entry.size <= CHUNK:
            data = await self.source.read_range_async(src, 0, entry.size + 1)
            self._check(entry, digest(hashlib.sha256(data)), len(data))
            await self.target.write_async(dst, data)
            self.progress.relative_update(len(data))
            return
        local = self.scratch / entry.sha256.removeprefix("sha256:")
        got = await _ranged_download(
            self.source, src, local, entry.size, progress=NoProgress(), window=RANGES
        )
        self._check(entry, *got)
        sent = await self.target.upload_async(local, dst, callback=self.progress, window=RANGES)
        local.unlink()
        self._check(entry, *sent)

    def _check(self, entry: FileEntry, sha256: str, size: int) -> None:
        if (sha256, size) != (entry.sha256, entry.size):
            raise IntegrityError(
                f"{self.manifest.spec}: {entry.path} in {self.source.url} does not match its "
                "manifest; nothing was copied"
            )


__all__ = ["copy_version"]
