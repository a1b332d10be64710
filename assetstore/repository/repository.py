"""``Repository``: one store — a backend, a bucket and a prefix — as the rest of
assetstore sees it: versions, manifests, the protocol's small objects, and the one
place where what a backend raises becomes an assetstore error (``errors``), with the
bucket and key named and no secret.

Every backend call goes through the retry policy with a time bound: a request is cut
after its budget (``Timeouts.budget``), no attempt starts after the retry deadline.
Blocking methods run their coroutine on the backend's loop; the ``*_async`` ones are
for transfers already running there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import NamedTuple, TypeVar, cast
from urllib.parse import quote

from ..backends import faults
from ..errors import (
    BackendError,
    IntegrityError,
)
from ..io.stream import Callback
from ..model.manifest import Manifest
from ..model.spec import Version
from . import sharded
from .bucket import BucketStore
from .layout import DELETED_FILE, MANIFEST_FILE, RESERVED_FILE, YANKED_FILE, valid_name

log = logging.getLogger("assetstore")
T = TypeVar("T")
# A whole object of unknown size (a manifest, a protocol object) is read in ranges of
# this many bytes, each a request with its own time bound: a server that drips its
# answer fails the first range within about a minute (default timeouts), and a large
# manifest still comes whole.
WHOLE_READ_CHUNK = 256 * 2**10
# Manifests (or shards of one) read at once by ``manifests`` (catalog sync): one at a
# time, 1,000 versions of an asset took 0.34 s of reads on a local folder.
MANIFESTS_AT_ONCE = 32


class Scan(NamedTuple):
    """What one listing of ``.manifests/{name}/`` tells of the versions of ``name``."""

    manifests: frozenset[Version]  # a manifest is there (deleted ones until it is removed)
    reserved: frozenset[Version]  # a push holds the number (under way, or died)
    yanked: frozenset[Version]
    deleted: frozenset[Version]  # a tombstone is there: gone, the number never reused
    sizes: dict[str, int] = {}  # path -> size of every object the listing found

    @property
    def committed(self) -> frozenset[Version]:
        return self.manifests - self.deleted

    @property
    def taken(self) -> frozenset[Version]:
        return self.manifests | self.reserved | self.deleted

    @property
    def offered(self) -> list[Version]:
        """What an unpinned resolution may choose: committed and not yanked."""
        return sorted(self.committed - self.yanked)


_SCANNED = ((MANIFEST_FILE, "manifests"), (RESERVED_FILE, "reserved"),
            (YANKED_FILE, "yanked"), (DELETED_FILE, "deleted"))  # fmt: skip


class Repository(BucketStore):
    """One asset store on one backend, as the rest of assetstore sees it."""

    # -- reads ---------------------------------------------------------------------------
    def versions(self, name: str) -> list[Version]:
        """Committed versions of ``name`` (deleted ones are not), oldest first (one
        LIST, no data tree)."""
        return sorted(self.scan(name).committed)

    def taken(self, name: str) -> list[Version]:
        """Versions committed, reserved by a push under way, or deleted."""
        return sorted(self.scan(name).taken)

    def scan(self, name: str) -> Scan:
        folder = self.manifest_folder(name)
        with self.errors(f"listing versions of {name} in", path=folder):
            entries = self.listed(folder, recursive=False)
            if not entries:
                self.require_bucket()  # nothing there, or no bucket at all?
        found: dict[str, set[Version]] = {field: set() for _, field in _SCANNED}
        for entry in entries:
            base = entry.path.rstrip("/").rsplit("/", 1)[-1]
            for pattern, field in _SCANNED:
                if match := pattern.fullmatch(base):
                    found[field].add(Version.parse(match[1]))
        sizes = {entry.path: entry.size for entry in entries}
        return Scan(**{field: frozenset(v) for field, v in found.items()}, sizes=sizes)

    def names(self) -> list[str]:
        """Every asset name with at least one committed version."""
        return sorted(self.committed())

    def committed(self) -> dict[str, list[Version]]:
        """Every committed version of every name, oldest first (one LIST of
        ``.manifests/``)."""
        manifests, deleted = set(), set()
        for name, base in self.manifest_objects():
            if MANIFEST_FILE.fullmatch(base):
                manifests.add((name, Version.parse(base.removesuffix(".json"))))
            elif DELETED_FILE.fullmatch(base):
                deleted.add((name, Version.parse(base.removesuffix(".deleted"))))
        found: dict[str, list[Version]] = {}
        for name, version in sorted(manifests - deleted):
            found.setdefault(name, []).append(version)
        return found

    def manifest(self, name: str, version: Version, *, within: str | None = None) -> Manifest:
        """The manifest of ``name:version``; ``within``: for a pull of that sub-path,
        which may list only the files at or under it (``sharded.py``)."""
        if within is not None:
            return sharded.within(self, name, version, within)
        return self.manifest_and_digest(name, version)[0]

    def manifest_and_digest(self, name: str, version: Version) -> tuple[Manifest, str]:
        """The manifest, and the sha256 of its bytes as stored (what a lockfile pins)."""
        import hashlib

        data = self.manifest_bytes(name, version)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        return sharded.complete(self, name, version, data), digest

    def manifest_bytes(self, name: str, version: Version) -> bytes:
        """The manifest of ``name:version`` as stored (not found if there is none)."""
        path = self.manifest_path(name, version)
        doing = f"reading the manifest of {name}:{version} at"
        with self.errors(doing, path=path, not_found=True):
            return self.read_whole(path)

    def manifests(self, names: list[str] | None = None) -> Iterator[Manifest | IntegrityError]:
        """Every committed manifest, or for one that cannot be read as a manifest, the
        error that says why (one bad object must not hide the others)."""
        for name in self.names() if names is None else names:
            yield from self.read_manifests([(name, version) for version in self.versions(name)])

    def read_manifests(
        self, wanted: list[tuple[str, Version]]
    ) -> Iterator[Manifest | IntegrityError]:
        """The manifests of the versions ``wanted``, ``MANIFESTS_AT_ONCE`` read at once,
        in that order; an IntegrityError in the place of one that cannot be read."""
        for start in range(0, len(wanted), MANIFESTS_AT_ONCE):
            batch = wanted[start : start + MANIFESTS_AT_ONCE]
            paths = [self.manifest_path(name, version) for name, version in batch]
            found = self.read_all(paths)
            for (name, version), path, data in zip(batch, paths, found, strict=True):
                try:
                    yield self._parsed(name, version, path, data)
                except IntegrityError as exc:
                    exc.name, exc.version = name, str(version)
                    yield exc

    def _parsed(self, name: str, version: Version, path: str, data: bytes | Exception) -> Manifest:
        if isinstance(data, Exception):  # translated as a read of this one would be
            with self.errors(f"reading the manifest of {name}:{version} at", path=path,
                             not_found=True):  # fmt: skip
                raise data
        return sharded.complete(self, name, version, data)

    def object_sizes(self, name: str, version: Version) -> dict[str, int]:
        """Every object in the data folder of ``name:version``: path inside it -> size."""
        folder = self.data_path(name, version)
        with self.errors("listing the files of", path=folder):
            entries = self.listed(folder)
        return {self.under(folder, e.path): e.size for e in entries}

    # -- async: one object per call, for transfers on the backend's loop -------------------
    async def read_range_async(self, path: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of ``path`` (fewer at the object's end; none past it)."""
        with self.errors("downloading", path=path, not_found=True):
            return await self.call(self.backend.read, path, start, end, size=end - start)

    async def write_async(self, path: str, data: bytes | bytearray) -> None:
        """Write the object."""
        with self.errors("uploading to", path=path):
            await self.call(self.backend.write, path, data, size=len(data))

    async def upload_async(
        self, source: Path, path: str, *, callback: Callback, window: int
    ) -> tuple[str, int]:
        """Send a local file (in parts when large, each part one request, bounded and
        retried): the (sha256, size) of what was sent."""
        with self.errors(f"uploading {source} to", path=path):
            return await self.backend.upload_file(source, path, callback=callback, window=window)

    def copy_into(self, path: str) -> Callable[..., tuple[str, int]] | None:
        return self.backend.copy_into(path)

    # -- URLs ------------------------------------------------------------------------------
    def sign(self, path: str, expires: int) -> str:
        """A URL for the file ``path``: under the public base (a CDN) when one is set,
        else presigned for ``expires`` seconds, or plain (unsigned) when ``expires`` is 0."""
        with self.errors("making a URL for", path=path, not_found=True):
            if not self._blocking(self.backend.exists, path):
                raise FileNotFoundError(path)
        if self.public_url_base:
            return f"{self.public_url_base.rstrip('/')}/{quote(self.key_of(path))}"
        with self.errors("making a URL for", path=path, not_found=True):
            try:
                if expires == 0:
                    return self.backend.plain_url(path)
                return self.backend.sign(path, expires)
            except NotImplementedError:
                raise BackendError(
                    f"provider {self.provider!r} cannot make URLs", unreachable=False
                ) from None

    # -- small objects -----------------------------------------------------------------------
    def read_bytes(self, path: str) -> bytes:
        with self.errors("reading", path=path, not_found=True):
            return self.read_whole(path)

    def read_small(self, path: str, limit: int) -> bytes:
        """The object ``path``, which must hold at most ``limit`` bytes: one ranged read,
        so a hostile object of any size costs ``limit`` + 1 bytes at most."""
        with self.errors("reading", path=path, not_found=True):
            data = self.run(
                lambda: self.call(self.backend.read, path, 0, limit + 1, size=limit + 1)
            )
        if len(data) > limit:
            raise IntegrityError(f"{self.url_of(path)} is larger than {limit} bytes: refused")
        return data

    def read_optional(self, path: str, *, doing: str = "reading") -> bytes | None:
        """The bytes of the object ``path``, or None when there is none."""
        with self.errors(doing, path=path):
            try:
                return self.read_whole(path)
            except Exception as exc:
                if faults.is_not_found(exc):
                    return None
                raise

    def read_whole(self, path: str) -> bytes:
        return self.run(lambda: self._whole_async(path))

    def read_all(self, paths: list[str]) -> list[bytes | Exception]:
        """Each whole object, or the exception its read raised, ``MANIFESTS_AT_ONCE``
        read at once."""
        found: list[bytes | Exception] = []
        for start in range(0, len(paths), MANIFESTS_AT_ONCE):
            batch = paths[start : start + MANIFESTS_AT_ONCE]
            found += self.run(lambda: _gather(map(self._whole_async, batch)))  # noqa: B023
        return found

    async def _whole_async(self, path: str) -> bytes:
        """The whole object, in ranges of ``WHOLE_READ_CHUNK`` until one comes short."""
        parts, start = [], 0
        while True:
            end = start + WHOLE_READ_CHUNK
            part = await self.call(self.backend.read, path, start, end, size=end - start)
            parts.append(part)
            if len(part) < end - start:
                return b"".join(parts)
            start = end

    def create_bytes(self, path: str, data: bytes) -> bool:
        """Write ``data`` at ``path`` only if nothing is there (as reservations and
        manifests are written); False when something was."""
        with self.errors("writing", path=path):
            return self._blocking(self.backend.create, path, data, size=len(data))

    def create_once(self, path: str, data: bytes, *, doing: str = "writing") -> bool:
        """``create_bytes`` that survives being retried: when a write landed but its
        answer was lost (a timeout, a reset), the next attempt finds these very bytes
        there, and that is success, not "taken". False only when other bytes are there."""
        with self.errors(doing, path=path):
            return self.run(lambda: self.call(self._create_once, path, data, size=len(data)))

    async def _create_once(self, path: str, data: bytes) -> bool:
        if await self.backend.create(path, data):
            return True
        try:
            return bool(await self.backend.read(path) == data)
        except FileNotFoundError:
            return False

    def exists(self, path: str) -> bool:
        with self.errors("checking", path=path):
            return self._blocking(self.backend.exists, path)

    def delete(self, path: str) -> None:
        """Delete ``path``; that it is not there is no error."""
        with self.errors("deleting", path=path):
            self.run(lambda: self.backend.delete([path]))

    delete_quietly = delete

    def copy(self, source: str, target: str) -> None:
        """Copy inside the backend (server-side where the backend can)."""
        with self.errors(f"copying {self.url_of(source)} to", path=target, not_found=True):
            self._blocking(self.backend.copy, source, target)

    def check_inside(self, path: str) -> None:
        """Refuse to write under ``path`` when the backend says it leads out of the
        bucket (a symlink in a ``local`` folder)."""
        check = getattr(self.backend, "check_inside", None)
        if check is not None:
            check(path)

    def manifest_objects(self) -> Iterator[tuple[str, str]]:
        """(name, file name) of every object under ``.manifests/`` of a valid name."""
        folder = self.manifests_folder
        with self.errors("listing assets in", path=folder):
            entries = self.listed(folder)
            if not entries:
                self.require_bucket()
        for entry in entries:
            name, _, base = self.under(folder, entry.path).rpartition("/")
            if name and valid_name(name):
                yield name, base


async def _gather(reads: Iterable[Awaitable[bytes]]) -> list[bytes | Exception]:
    """Every read's bytes, or the exception it raised (the others still complete)."""
    found: list[bytes | BaseException] = await asyncio.gather(*reads, return_exceptions=True)
    for item in found:  # a cancellation or an interrupt is not one manifest's failure
        if isinstance(item, BaseException) and not isinstance(item, Exception):
            raise item
    return cast("list[bytes | Exception]", found)
