"""Copy a version between two stores, keeping its number, metadata and pusher.

Inside one account the bytes are copied server-side; across backends each file is read
from one and sent to the other — small files through memory, large ones (and packs)
through a temporary file, so memory stays bounded — and verified against the manifest's
sha256 on the way. The copy is self-contained: each file goes into the version's own
folder in the target, and its manifest there refers to no earlier version (those may be
absent). A pack the version reads from is copied whole into that folder, under a name of
its own there, and the entries in it keep their offsets.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
import uuid
from pathlib import Path

from ..errors import IntegrityError
from ..io import pool
from ..io.pool import SharedProgress, run_all
from ..io.progress import COMMIT, describe
from ..io.stream import CHUNK, Callback, NoProgress, digest
from ..model.manifest import FileEntry, Manifest
from ..model.pack import pack_names
from ..model.spec import Version
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

    renamed = _pack_names(manifest)
    members = _by_pack(manifest)
    unpacked = [entry for entry in manifest.files if entry.pack is None]

    def transfer(watch: Watch) -> Manifest:
        if server_side:
            workers = publisher.workers
            run_all(lambda entry: _copy_one(entry, watch), unpacked, workers=workers)
            run_all(lambda pair: _copy_pack(*pair, watch), renamed.items(), workers=workers)
        else:
            with tempfile.TemporaryDirectory(prefix="assetstore-copy-") as scratch:
                sizes = _pack_sizes(source, manifest)
                streams = _Streams(source, target, manifest, progress, Path(scratch), watch,
                                   sizes, members)  # fmt: skip
                target.run(lambda: pool.for_each(streams.one, unpacked, publisher.workers))
                packs = list(renamed.items())
                target.run(lambda: pool.for_each(streams.pack, packs, publisher.workers))
        own = tuple(_own(entry, manifest, renamed) for entry in manifest.files)
        return dataclasses.replace(manifest, files=own)

    def _copy_pack(pack: str, name: str, watch: Watch) -> None:
        watch.check()
        src = source.file_path(manifest, members[pack][0])
        target.copy(src, target.data_path(manifest.name, manifest.version, name))
        progress.relative_update(sum(e.size for e in members[pack]))

    def _copy_one(entry: FileEntry, watch: Watch) -> None:
        watch.check()
        dst = target.data_path(manifest.name, manifest.version, entry.path)
        target.copy(source.file_path(manifest, entry), dst)
        progress.relative_update(entry.size)

    copied = publish(target, manifest.name, manifest.version, publisher, transfer)
    callback.relative_update(COMMIT)
    return copied


def _pack_names(manifest: Manifest) -> dict[str, str]:
    """A name in the copy's folder for each pack ``manifest`` reads from (its own packs
    and earlier versions' alike), none a name its own files have there."""
    packs = sorted(manifest.packs)
    own = {e.path.partition("/")[0] for e in manifest.files if e.pack is None}
    tag = uuid.uuid4().hex[:8]
    return dict(zip(packs, pack_names(len(packs), own, tag), strict=True))


def _pack_sizes(source: Repository, manifest: Manifest) -> dict[str, int]:
    """The size of each pack ``manifest`` reads from: one listing per version folder."""
    sizes: dict[str, int] = {}
    for folder in {pack.partition("/")[0] for pack in manifest.packs}:
        listed = source.object_sizes(manifest.name, Version.parse(folder))
        sizes |= {f"{folder}/{path}": size for path, size in listed.items()}
    return sizes


def _by_pack(manifest: Manifest) -> dict[str, list[FileEntry]]:
    """The entries of ``manifest`` in each pack it reads from."""
    found: dict[str, list[FileEntry]] = {}
    for entry in manifest.files:
        if entry.pack is not None:
            found.setdefault(entry.pack, []).append(entry)
    return found


def _own(entry: FileEntry, manifest: Manifest, renamed: dict[str, str]) -> FileEntry:
    """``entry`` as the copy's manifest has it: in the copy's own folder."""
    if entry.pack is None:
        return dataclasses.replace(entry, stored_at=None)
    return dataclasses.replace(entry, pack=f"{manifest.version}/{renamed[entry.pack]}")


@dataclasses.dataclass
class _Streams:
    """Files read from one backend and sent to another, verified on the way."""

    source: Repository
    target: Repository
    manifest: Manifest
    progress: Callback
    scratch: Path
    watch: Watch
    pack_sizes: dict[str, int]  # pack -> its object's size
    members: dict[str, list[FileEntry]]  # pack -> the entries in it

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

    async def pack(self, pair: tuple[str, str]) -> None:
        """Copy one pack through a temporary file: each file in it that the version
        holds is checked there before the pack is sent."""
        self.watch.check()
        pack, name = pair
        entries = self.members[pack]
        src = self.source.file_path(self.manifest, entries[0])
        size = self.pack_sizes.get(pack, 0)
        local = self.scratch / name
        await _ranged_download(self.source, src, local, size, progress=NoProgress(),
                               window=RANGES)  # fmt: skip
        with local.open("rb") as stream:
            for entry in entries:
                stream.seek(entry.offset)
                self._check(entry, *_hashed(stream.read(entry.size)))
        dst = self.target.data_path(self.manifest.name, self.manifest.version, name)
        await self.target.upload_async(local, dst, callback=NoProgress(), window=RANGES)
        local.unlink()
        self.progress.relative_update(sum(entry.size for entry in entries))

    def _check(self, entry: FileEntry, sha256: str, size: int) -> None:
        if (sha256, size) != (entry.sha256, entry.size):
            raise IntegrityError(
                f"{self.manifest.spec}: {entry.path} in {self.source.url} does not match its "
                "manifest; nothing was copied"
            )


def _hashed(data: bytes) -> tuple[str, int]:
    return digest(hashlib.sha256(data)), len(data)


__all__ = ["copy_version"]
