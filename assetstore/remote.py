"""The storage layer: the remote layout on top of an fsspec filesystem, and the one
place where backend exceptions become assetstore errors.

Layout under ``{bucket}/{prefix}``::

    {name}/{version}/<files this version sent>
    .manifests/{name}/{version}.json        # the commit point (gzip-compressed JSON)
    .manifests/{name}/{version}.reserved    # create-if-absent, before any byte moves

A version's files live under its own folder, or — a file an earlier version already
held, reused by a push instead of sent or copied again — under that earlier version's
folder, at the ``<version>/<path>`` its manifest entry names (``stored_at``): always an
earlier, committed version of the same name. So the objects of one version may be read
through any later one, and deleting them breaks those. This tool never deletes a
committed version's objects: the only data it removes is the folder of a version
reserved and not committed (``discard``, from ``reclaim``: a failed or dead push), and
pushes refer only to committed versions. Anything that ever deletes a committed version
must first keep (or move, rewriting the manifests) the objects later manifests refer to.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import re
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from .errors import (
    AssetNotFoundError,
    AssetStoreError,
    BackendError,
    ConfigError,
    IntegrityError,
    VersionExistsError,
)
from .hashing import CHUNK, Callback, LocalFile, copy_hashing, hash_prefix, kernel_copy_hashing
from .manifest import FileEntry, Manifest, parse_manifest
from .providers import PROVIDERS, bucket_exists, create_bucket, plain_url, signed_url
from .redact import MASK, scrub
from .reservations import Reservation, parse_reservation
from .retry import RetryPolicy, error_code, http_status, is_unreachable
from .spec import Version, check_name

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

    from .s3direct import S3Direct
    from .settings import Settings

log = logging.getLogger("assetstore")
T = TypeVar("T")
MANIFESTS = ".manifests"
DEFAULT_PART_SIZE = 8 * 2**20
_SLOWEST_RATE = 64 * 2**10  # bytes per second below which a request counts as stalled
# Only a version's canonical form names it: a stray "01.2.json" is not a version (and
# must not make every listing of its name fail).
_VERSION_TEXT = r"((?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*))"  # ASCII digits only
_MANIFEST_FILE = re.compile(_VERSION_TEXT + r"\.json")
_RESERVED_FILE = re.compile(_VERSION_TEXT + r"\.reserved")
_OUTCOME_FILE = re.compile(_VERSION_TEXT + r"\.([0-9a-f]{32})\.outcome")


class Remote:
    """One asset store on one backend: a filesystem, a bucket and a prefix."""

    def __init__(
        self,
        fs: AbstractFileSystem,
        *,
        provider: str,
        bucket: str,
        prefix: str,
        retry: RetryPolicy | None = None,
        secrets: tuple[str, ...] = (),
        auto_create_bucket: bool = False,
        public_url_base: str | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        stall_seconds: float = 65.0,
    ) -> None:
        self.fs = fs
        self.provider = provider
        self.bucket = bucket.rstrip("/")
        self.root = "/".join(part for part in (self.bucket, prefix) if part)
        self.url = self.url_of(self.root)
        self.retry = retry or RetryPolicy()
        self.auto_create_bucket = auto_create_bucket
        self.public_url_base = public_url_base
        self.part_size = part_size
        self.stall_seconds = stall_seconds
        self._secrets = secrets
        # Folders (local, memory) need no bucket; for object stores, known once seen.
        self._bucket_seen = not PROVIDERS[provider].object_store
        self._direct = _s3_direct(fs) if provider == "s3" else None

    def url_of(self, path: str) -> str:
        """How messages name ``path``: ``s3://bucket/key``, or a local path."""
        return path if self.provider == "local" else f"{self.provider}://{path.lstrip('/')}"

    # -- paths ---------------------------------------------------------------------
    def data_path(self, name: str, version: Version, relpath: str = "") -> str:
        base = f"{self.root}/{name}/{version}"
        return f"{base}/{relpath}" if relpath else base

    def file_path(self, manifest: Manifest, entry: FileEntry) -> str:
        """Where the bytes of ``manifest``'s file ``entry`` are: in its version's folder,
        or in the earlier version's folder the entry names."""
        version, relpath = entry.location(manifest.version)
        return self.data_path(manifest.name, version, relpath)

    def manifest_path(self, name: str, version: Version) -> str:
        return f"{self.root}/{MANIFESTS}/{name}/{version}.json"

    def reservation_path(self, name: str, version: Version) -> str:
        return f"{self.root}/{MANIFESTS}/{name}/{version}.reserved"

    # -- reads ---------------------------------------------------------------------
    def versions(self, name: str) -> list[Version]:
        """Committed versions of ``name``, oldest first (one LIST, no data tree)."""
        return sorted(self._scan(name)[0])

    def taken(self, name: str) -> list[Version]:
        """Versions committed or reserved by a push under way."""
        committed, reserved = self._scan(name)
        return sorted(committed | reserved)

    def _scan(self, name: str) -> tuple[set[Version], set[Version]]:
        folder = f"{self.root}/{MANIFESTS}/{name}"
        with self.errors(f"listing versions of {name} in", path=folder):
            entries = self._call(self._ls, folder)
        committed, reserved = set(), set()
        for entry in entries:
            base = entry.rstrip("/").rsplit("/", 1)[-1]
            if match := _MANIFEST_FILE.fullmatch(base):
                committed.add(Version.parse(match[1]))
            elif match := _RESERVED_FILE.fullmatch(base):
                reserved.add(Version.parse(match[1]))
        return committed, reserved

    def _ls(self, folder: str) -> list[str]:
        try:
            return list(self.fs.ls(folder, detail=False))
        except FileNotFoundError:
            self.require_bucket()  # nothing there, or no bucket at all?
            return []

    def object_sizes(self, name: str, version: Version) -> dict[str, int]:
        """Every object in the data folder of ``name:version``: path inside it -> size."""
        folder = self.data_path(name, version)
        with self.errors("listing the files of", path=folder):
            try:
                found = self._call(self.fs.find, folder, detail=True)
            except FileNotFoundError:
                found = {}
        top = folder.strip("/") + "/"
        return {
            path.strip("/").removeprefix(top): int(info.get("size") or 0)
            for path, info in found.items()
            if info.get("type", "file") == "file" and path.strip("/").startswith(top)
        }

    def names(self) -> list[str]:
        """Every asset name with at least one committed version."""
        folder = f"{self.root}/{MANIFESTS}"
        with self.errors("listing assets in", path=folder):
            try:
                found = self._call(self.fs.find, folder)
            except FileNotFoundError:
                found = []
            if not found:
                self.require_bucket()
        top = folder.strip("/") + "/"
        names = set()
        for path in found:
            relative = path.strip("/").removeprefix(top)
            name, _, base = relative.rpartition("/")
            if _MANIFEST_FILE.fullmatch(base) and name:
                names.add(name)
        return sorted(n for n in names if _valid_name(n))

    def manifest(self, name: str, version: Version) -> Manifest:
        path = self.manifest_path(name, version)
        with self.errors(f"reading the manifest of {name}:{version} at", path=path, not_found=True):
            data = self._call(self.fs.cat_file, path)
        return parse_manifest(data, name=name, version=version)

    def manifests(self, names: list[str] | None = None) -> Iterator[Manifest | IntegrityError]:
        """Every committed manifest, or for one that cannot be read as a manifest, the
        error that says why (one bad object must not hide the others)."""
        for name in self.names() if names is None else names:
            for version in self.versions(name):
                try:
                    yield self.manifest(name, version)
                except IntegrityError as exc:
                    exc.name, exc.version = name, str(version)
                    yield exc

    def download(
        self, path: str, target: Path, *, callback: Callback, size: int | None = None
    ) -> tuple[str, int]:
        """Stream ``path`` into the local file ``target``; return the (sha256, size) of
        the whole file. Bytes ``target`` already holds — from an attempt a fault cut
        short, or a pull that was killed — are kept and only the rest is fetched: a
        ranged read from where they end. The final sha256 covers every byte.

        A file the manifest says is small (``size`` ≤ one chunk) is fetched with one
        GET: opening it as a stream would first ask the backend for its size."""

        # Never read more than one byte past the manifest's size: an object larger than
        # that (a lying or hostile bucket) fails verification without filling the disk,
        # or memory.
        limit = None if size is None else size + 1

        def attempt() -> tuple[str, int]:
            prefix = hash_prefix(target)
            if prefix[1]:
                log.info("resuming %s at byte %d", self.key_of(path), prefix[1])
            if self.provider == "local" and (size is None or size > CHUNK):
                got = self._kernel_download(path, target, prefix, limit, callback)
                if got is not None:
                    return got
            data = None
            if size is not None and 0 < size <= CHUNK and not prefix[1]:
                data = self._head_bytes(path, limit)
            if data is not None:
                with LocalFile(target) as dst:
                    return copy_hashing(io.BytesIO(data), dst, callback=callback)
            # Ranged reads of CHUNK bytes, no read-ahead cache: one chunk in memory.
            with (
                self.fs.open(path, "rb", block_size=CHUNK, cache_type="none") as src,
                LocalFile(target) as dst,
            ):
                src.seek(prefix[1])
                return copy_hashing(src, dst, callback=callback, prefix=prefix, limit=limit)

        with self.errors("downloading", path=path, not_found=True):
            return self._call(attempt)

    def _kernel_download(
        self,
        path: str,
        target: Path,
        prefix: tuple[Any, int],
        limit: int | None,
        callback: Callback,
    ) -> tuple[str, int] | None:
        """``download`` from a local folder, the kernel copying (None: it cannot here)."""
        with (
            Path(self.fs._strip_protocol(path)).open("rb") as src,
            LocalFile(target, mode="r+b" if prefix[1] else "w+b") as dst,
        ):
            return dst.copy_from(src, callback=callback, prefix=prefix, limit=limit)

    def _head_bytes(self, path: str, count: int | None) -> bytes | None:
        """The first ``count`` bytes of ``path``, in one GET; None when the object is
        empty (object stores answer 416 to any range of it: then stream it)."""
        try:
            return bytes(self.fs.cat_file(path, start=0, end=count))
        except Exception as exc:  # the SDKs' own types: OSError, HttpError, HttpResponseError
            if _is_past_the_end(exc):
                return None
            raise

    # -- async: one object per call, on the backend's own event loop (see aio.py) ----
    async def read_range_async(self, path: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of ``path`` (fewer at the object's end; none past it)."""
        with self.errors("downloading", path=path, not_found=True):
            return await self.retry.call_async(
                self._bounded, end - start, self._read_range_async, path, start, end
            )

    async def _read_range_async(self, path: str, start: int, end: int) -> bytes:
        if self._direct is not None and self._direct.enabled:
            data = await self._direct.get(path, start, end)
            if data is not None:
                return data
        try:
            return bytes(await self.fs._cat_file(path, start=start, end=end))
        except Exception as exc:  # object stores answer 416 to a range past the end
            if _is_past_the_end(exc):
                return b""
            raise

    async def write_async(self, path: str, data: bytes, *, sha256: str | None = None) -> None:
        """Write the object ``path``; ``sha256`` is the hex digest of ``data`` if known."""
        with self.errors("uploading to", path=path):
            await self.retry.call_async(
                self._bounded, len(data), self._write_async, path, data, sha256
            )

    async def _write_async(self, path: str, data: bytes, sha256: str | None) -> None:
        direct = self._direct
        if direct is not None and direct.enabled and await direct.put(path, data, sha256):
            return
        await self.fs._pipe_file(path, data)

    async def _bounded(self, size: int, request: Callable[..., Awaitable[T]], *args: Any) -> T:
        """One attempt of ``request``, given up (as a timeout: retried) when it takes
        longer than the stall allowance plus ``size`` bytes at a crawl. The SDKs' read
        timeout does not cover a server that stops reading what is sent to it."""
        import asyncio

        limit = self.stall_seconds + size / _SLOWEST_RATE
        try:
            if sys.version_info >= (3, 11):  # no task of its own, unlike wait_for
                async with asyncio.timeout(limit):
                    return await request(*args)
            return await asyncio.wait_for(request(*args), limit)
        except TimeoutError as exc:
            raise TimeoutError(str(exc) or f"no complete answer within {limit:.0f} s") from exc

    def sign(self, path: str, expires: int) -> str:
        """A URL for the file ``path``: under the public base (a CDN) when one is set,
        else presigned for ``expires`` seconds, or plain (unsigned) when ``expires`` is 0."""
        with self.errors("making a URL for", path=path, not_found=True):
            if not self._call(self.fs.exists, path):
                raise FileNotFoundError(path)
        if self.public_url_base:
            return f"{self.public_url_base.rstrip('/')}/{quote(self.key_of(path))}"
        with self.errors("making a URL for", path=path, not_found=True):
            try:
                if expires == 0:
                    return plain_url(self.fs, self.provider, path)
                return signed_url(self.fs, self.provider, path, expires)
            except NotImplementedError:
                raise BackendError(
                    f"provider {self.provider!r} cannot make URLs", unreachable=False
                ) from None

    def key_of(self, path: str) -> str:
        """The object key of ``path``: its path inside the bucket."""
        return path.strip("/").removeprefix(self.bucket.strip("/")).lstrip("/")

    # -- the bucket itself -----------------------------------------------------------
    def bucket_exists(self) -> bool:
        """Whether the bucket (container) exists; a folder always does."""
        if self._bucket_seen:
            return True
        with self.errors(f"checking that the {self.bucket_word} exists at", path=self.bucket):
            found = bool(self._call(bucket_exists, self.fs, self.provider, self.bucket))
        self._bucket_seen = found
        return found

    def require_bucket(self, *, create: bool = False) -> None:
        """Fail clearly when the bucket is missing; with ``auto_create_bucket``, a missing
        bucket reads as empty and ``create=True`` (a push) creates it."""
        try:
            if self.bucket_exists():
                return
        except BackendError as exc:
            if not _is_denied(exc.__cause__ or exc):
                raise
            # Some roles may use the objects but not look at the bucket itself (GCS's
            # objectViewer has no storage.buckets.get): go on, the object calls will tell.
            log.debug("cannot tell whether the bucket exists (%s); going on", exc)
            self._bucket_seen = True
            return
        if not self.auto_create_bucket:
            raise self.missing_bucket()
        if create:
            self._create_bucket()

    def _create_bucket(self) -> None:
        with self.errors(f"creating the {self.bucket_word}", path=self.bucket):
            try:
                self._call(create_bucket, self.fs, self.provider, self.bucket)
            except Exception:
                # Another process may have created it first: that is what we wanted.
                if not bucket_exists(self.fs, self.provider, self.bucket):
                    raise
        self._bucket_seen = True

    def missing_bucket(self) -> BackendError:
        word = self.bucket_word
        return BackendError(
            f"the {word} {self.bucket!r} does not exist ({self.url_of(self.bucket)}): create "
            f"it, or set ASSETSTORE_AUTO_CREATE_BUCKET=true to have the first push create it",
            backend=self.url,
            unreachable=False,
        )

    @property
    def bucket_word(self) -> str:
        return PROVIDERS[self.provider].bucket_word or "folder"

    # -- small objects -------------------------------------------------------------
    def read_bytes(self, path: str) -> bytes:
        with self.errors("reading", path=path, not_found=True):
            return bytes(self._call(self.fs.cat_file, path))

    def read_optional(self, path: str, *, doing: str = "reading") -> bytes | None:
        """The bytes of the object ``path``, or None when there is none."""
        with self.errors(doing, path=path):
            try:
                return bytes(self._call(self.fs.cat_file, path))
            except FileNotFoundError:
                return None

    def create_bytes(self, path: str, data: bytes) -> bool:
        """Write ``data`` at ``path`` only if nothing is there (as reservations and
        manifests are written); False when something was."""
        with self.errors("writing", path=path):
            try:
                self._call(self._create, path, data)
            except FileExistsError:
                return False
        return True

    def create_once(self, path: str, data: bytes, *, doing: str = "writing") -> bool:
        """``create_bytes`` that survives being retried: False only when other bytes
        are there (see ``_create_once``)."""
        with self.errors(doing, path=path):
            try:
                self._call(self._create_once, path, data)
            except FileExistsError:
                return False
        return True

    def exists(self, path: str) -> bool:
        return self._exists(path)

    def delete(self, path: str) -> None:
        with self.errors("deleting", path=path):
            self._call(self.fs.rm_file, path)

    def delete_quietly(self, path: str) -> None:
        """Delete ``path``; that it is not there is no error."""
        with self.errors("deleting", path=path):
            try:
                self._call(self.fs.rm_file, path)
            except FileNotFoundError:
                pass

    # -- the version protocol's objects (commit.py) ------------------------------------
    def manifest_folder(self, name: str) -> str:
        return f"{self.root}/{MANIFESTS}/{name}"

    def reservation(self, name: str, version: Version) -> Reservation | None:
        path = self.reservation_path(name, version)
        found = self.read_optional(path, doing="reading the reservation")
        return None if found is None else parse_reservation(name, version, found)

    def reservations(self) -> list[Reservation]:
        """Every reservation in the store: pushes under way, or that died."""
        held = []
        for name, base in self._protocol_objects():
            match = _RESERVED_FILE.fullmatch(base)
            if match:
                found_one = self.reservation(name, Version.parse(match[1]))
                if found_one is not None:
                    held.append(found_one)
        return sorted(held, key=lambda r: (r.name, r.version))

    def outcomes(self) -> list[tuple[str, Version, str]]:
        """Every decision on a reservation: (name, version, reservation id)."""
        found = []
        for name, base in self._protocol_objects():
            match = _OUTCOME_FILE.fullmatch(base)
            if match:
                found.append((name, Version.parse(match[1]), match[2]))
        return sorted(found)

    def _protocol_objects(self) -> Iterator[tuple[str, str]]:
        """(name, file name) of every object under ``.manifests/`` of a valid name."""
        folder = f"{self.root}/{MANIFESTS}"
        with self.errors("listing reservations in", path=folder):
            try:
                found = self._call(self.fs.find, folder)
            except FileNotFoundError:
                found = []
        top = folder.strip("/") + "/"
        for path in found:
            name, _, base = path.strip("/").removeprefix(top).rpartition("/")
            if _valid_name(name):
                yield name, base

    def release(self, name: str, version: Version) -> None:
        """Delete the reservation of ``name:version`` (none there is no error)."""
        self.delete_quietly(self.reservation_path(name, version))

    def commit(self, manifest: Manifest, data: bytes) -> None:
        """Write the manifest ``data`` (plain JSON), create-if-absent: the version now
        exists. No timestamp: the same manifest is the same bytes, which a retried
        write, and a commit rolled forward by another process, rely on."""
        path = self.manifest_path(manifest.name, manifest.version)
        if not self.create_once(path, data, doing=f"committing {manifest.spec} at"):
            raise VersionExistsError(f"{manifest.spec} already exists", name=manifest.name)

    def upload(self, source: Path, path: str, *, callback: Callback) -> tuple[str, int]:
        """Stream a local file to ``path``; return the (sha256, size) of what was sent."""

        def attempt() -> tuple[str, int]:
            if self.provider == "local" and source.stat().st_size > CHUNK:
                got = self._kernel_upload(source, path, callback)
                if got is not None:
                    return got
            # Large files go up in parts of part_size (multipart, resumable or block
            # uploads); reading in chunks that divide a part evenly keeps the write
            # buffer at one part, so memory stays bounded whatever the file's size.
            with (
                source.open("rb") as src,
                self.fs.open(path, "wb", block_size=self.part_size) as dst,
            ):
                return copy_hashing(src, dst, callback=callback, chunk=self._write_chunk)

        with self.errors(f"uploading {source} to", path=path):
            return self._call(attempt)

    def _kernel_upload(self, source: Path, path: str, callback: Callback) -> tuple[str, int] | None:
        """``upload`` to a local folder, the kernel copying (None: it cannot here)."""
        target = Path(self.fs._strip_protocol(path))
        target.parent.mkdir(parents=True, exist_ok=True)
        with source.open("rb") as src, target.open("w+b") as dst:
            return kernel_copy_hashing(src, dst, callback=callback)

    async def upload_async(
        self, source: Path, path: str, *, callback: Callback, window: int
    ) -> tuple[str, int]:
        """``upload`` from the backend's loop: on S3 with ``window`` parts in flight
        (``multipart.py``), elsewhere the blocking upload in a worker thread."""
        import asyncio

        if self.provider != "s3":
            return await asyncio.to_thread(self.upload, source, path, callback=callback)
        from .multipart import upload_in_parts

        with self.errors(f"uploading {source} to", path=path):
            return await upload_in_parts(self, source, path, callback=callback, window=window)

    @property
    def _write_chunk(self) -> int:
        """Read size for uploads: at most CHUNK, and ``part_size`` is a whole number of
        them (5 MiB parts: 2.5 MiB reads), so a part is sent the moment it is full."""
        pieces = -(-self.part_size // CHUNK)
        return -(-self.part_size // pieces)

    def check_inside(self, path: str) -> None:
        """Refuse to write under ``path`` of a folder bucket (``local``) when a symlink
        leads it out of the bucket: it would write, or a clean-up delete, elsewhere."""
        if self.provider != "local":
            return
        root = Path(self.bucket).resolve()
        real = Path(path).resolve()
        if real != root and root not in real.parents:
            raise BackendError(
                f"refusing to write under {path}: a symlink in the bucket folder leads it "
                f"out, to {real}",
                backend=self.url,
                unreachable=False,
            )

    def copy(self, source: str, target: str) -> None:
        """Copy inside the backend (server-side where the backend can; on a local
        folder, a hard link where the filesystem allows: both files are immutable)."""
        with self.errors(f"copying {self.url_of(source)} to", path=target, not_found=True):
            if self.provider == "local" and _hard_link(Path(source), Path(target)):
                return
            self._call(self.fs.copy, source, target)

    def discard(self, name: str, version: Version) -> None:
        """Remove the data of a push that will never commit (see commit.py). Fails while
        objects remain, so the reservation that guards the folder is kept until then."""
        path = self.data_path(name, version)
        self.check_inside(path)
        with self.errors("removing the files of a failed push at", path=path):
            self._call(self._remove_tree, path)

    def _remove_tree(self, path: str) -> None:
        """Delete every object under ``path``. A push that does not know yet that it
        was reclaimed may still be adding some (it looks every few seconds): delete
        again, a few times, before giving up."""
        import time

        for wait in (0.5, 1.0, 2.0, 4.0, None):
            try:
                self.fs.rm(path, recursive=True)
            except FileNotFoundError:
                pass  # nothing was written, or an earlier attempt removed it all
            except OSError as exc:  # a folder that filled again while it was emptied
                if exc.errno != errno.ENOTEMPTY:
                    raise
            if not self.fs.find(path):  # s3fs's bulk delete does not raise for keys it kept
                return
            if wait is not None:
                time.sleep(wait)
        raise OSError(
            f"objects remain under {path} after deleting them (a push may still be "
            "writing there: run 'assetstore repair' again once it has ended)"
        )

    # -- plumbing ------------------------------------------------------------------
    def _create(self, path: str, data: bytes) -> None:
        """Write ``data`` at ``path`` only if nothing is there, atomically.

        Object stores do this with a conditional PUT (s3fs, gcsfs and adlfs map
        ``mode="create"`` to one). fsspec's local filesystem only checks, then writes —
        two processes can both pass the check — so local files are written aside and
        hard-linked into place: ``link`` fails if the name exists, and a reader never
        sees a partly written file.
        """
        if self.provider != "local":
            self.fs.pipe_file(path, data, mode="create")
            return
        target = Path(path)
        self.check_inside(str(target.parent))
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            os.link(temp, target)
        finally:
            Path(temp).unlink()

    def _create_once(self, path: str, data: bytes) -> None:
        """``_create`` that survives being retried: when a write landed but its answer
        was lost (a timeout, a reset), the next attempt finds these very bytes there,
        and that is success, not "taken"."""
        try:
            self._create(path, data)
        except FileExistsError:
            try:
                if self.fs.cat_file(path) == data:
                    return
            except FileNotFoundError:
                pass
            raise

    def _exists(self, path: str) -> bool:
        with self.errors("checking", path=path):
            return bool(self._call(self.fs.exists, path))

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return self.retry.call(fn, *args, **kwargs)

    @contextmanager
    def errors(
        self, doing: str, *, path: str | None = None, not_found: bool = False
    ) -> Iterator[None]:
        """Translate whatever the backend raises into our errors: "not found" into
        ``AssetNotFoundError`` where ``not_found`` says it means that, a missing bucket
        and everything else into ``BackendError``. Messages name the bucket and the key
        (``path``), never a secret."""
        try:
            yield
        except AssetStoreError:
            raise
        except Exception as exc:
            raise self._translate(exc, doing, path, not_found=not_found) from exc

    def _translate(
        self, exc: Exception, doing: str, path: str | None, *, not_found: bool
    ) -> AssetStoreError:
        where = self.url_of(path) if path else self.url
        if _is_not_found(exc):
            if self._bucket_gone():
                return self.missing_bucket()
            if not_found:
                return AssetNotFoundError(self._scrub(f"not found: {doing} {where}"))
        message = self._scrub(f"{doing} {where} failed: {describe(exc)}")
        unreachable = is_unreachable(exc) and not _is_denied(exc)
        return BackendError(message, backend=self.url, unreachable=unreachable)

    def _bucket_gone(self) -> bool:
        """After a "not found": was it the whole bucket? (One probe, on errors only.)"""
        if self._bucket_seen:
            return False
        try:
            self._bucket_seen = bool(bucket_exists(self.fs, self.provider, self.bucket))
        except Exception:
            return False
        return not self._bucket_seen

    def _scrub(self, text: str) -> str:
        return _SIGNATURE.sub(lambda m: f"{m[1]}={MASK}", scrub(text, self._secrets))


# Query parameters of presigned URLs and SAS tokens that carry a signature or a key id.
_SIGNATURE = re.compile(
    r"\b(sig|X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|X-Goog-Signature|"
    r"X-Goog-Credential|Signature|AWSAccessKeyId|AccountKey|SharedAccessSignature)=[^&;\s'\"]+",
    re.IGNORECASE,
)
_NOT_FOUND_CODES = {"NoSuchKey", "NoSuchBucket", "BlobNotFound", "ContainerNotFound", "404"}
_DENIED_CODES = {
    "AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch",
    "ExpiredToken", "InvalidToken", "AuthenticationFailed", "AuthorizationFailure",
    "AuthorizationPermissionMismatch", "InsufficientAccountPermissions", "403", "401",
}  # fmt: skip
_CREDENTIAL_TYPES = {
    "NoCredentialsError", "PartialCredentialsError", "DefaultCredentialsError", "RefreshError",
    "ClientAuthenticationError", "CredentialUnavailableError",
}  # fmt: skip


def describe(exc: BaseException) -> str:
    """What went wrong, in one line: the kind, the service's error code, its message.

    >>> describe(PermissionError("Access Denied"))
    'permission denied (PermissionError: Access Denied)'
    """
    text = (str(exc) or type(exc).__name__).strip().splitlines()[0][:300]
    code = next((c for c in map(error_code, _causes(exc)) if c), None)
    text = f"{code}: {text}" if code and code not in text else f"{type(exc).__name__}: {text}"
    if _lacks_credentials(exc):
        return f"no usable credentials ({text})"
    if _is_denied(exc):
        return f"permission denied ({text})"
    if is_unreachable(exc):
        return f"backend unreachable ({text})"
    return text


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it was explicitly raised from (``__cause__``): an exception that
    was only being handled (``__context__``) says nothing about this one."""
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(found) < 10:
        found.append(current)
        current = current.__cause__
    return found


def _is_past_the_end(exc: BaseException) -> bool:
    """A ranged read that starts at or past the object's end (HTTP 416)."""
    return any(http_status(e) == 416 or error_code(e) == "InvalidRange" for e in _causes(exc))


def _is_not_found(exc: BaseException) -> bool:
    return any(
        isinstance(e, FileNotFoundError)
        or type(e).__name__ == "ResourceNotFoundError"
        or http_status(e) == 404
        or error_code(e) in _NOT_FOUND_CODES
        for e in _causes(exc)
    )


def _lacks_credentials(exc: BaseException) -> bool:
    return any(
        {c.__name__ for c in type(e).__mro__} & _CREDENTIAL_TYPES
        # google-cloud-storage, asked to sign with credentials that hold no private key
        or (isinstance(e, AttributeError) and "private key to sign" in str(e))
        for e in _causes(exc)
    )


def _is_denied(exc: BaseException) -> bool:
    return _lacks_credentials(exc) or any(
        isinstance(e, PermissionError)
        or http_status(e) in (401, 403)
        or error_code(e) in _DENIED_CODES
        or (isinstance(e, OSError) and str(e).startswith("Forbidden"))  # gcsfs's 403
        for e in _causes(exc)
    )


def remote_from_settings(settings: Settings) -> Remote:
    """The ``Remote`` that ``settings`` describe: filesystem, retry policy, bucket options."""
    from .providers import make_filesystem
    from .redact import secret_values

    s = settings
    if s.provider is None or s.bucket is None:
        raise ConfigError("no storage provider is configured")
    secrets = tuple(secret_values(dict(s.storage_options)))
    try:
        fs = make_filesystem(
            s.provider,
            s.storage_options,
            connect_timeout=s.connect_timeout_seconds,
            read_timeout=s.read_timeout_seconds,
        )
    except AssetStoreError:
        raise
    except Exception as exc:  # the SDK refused the options before any request
        reason = scrub(f"{type(exc).__name__}: {exc}".splitlines()[0], secrets)
        raise ConfigError(
            f"cannot set up provider {s.provider!r} for {s.bucket}: {reason}"
        ) from exc
    retry = RetryPolicy(attempts=s.retry_attempts, deadline_seconds=s.retry_deadline_seconds)
    return Remote(
        fs,
        provider=s.provider,
        bucket=s.bucket,
        prefix=s.prefix,
        retry=retry,
        secrets=secrets,
        auto_create_bucket=s.auto_create_bucket,
        public_url_base=s.public_url_base,
        part_size=s.part_size_mib * 2**20,
        stall_seconds=s.connect_timeout_seconds + s.read_timeout_seconds,
    )


def _s3_direct(fs: Any) -> S3Direct | None:
    """The lean GET/PUT path for an s3fs filesystem (None: s3fs makes every request)."""
    from .aio import is_async
    from .s3direct import S3Direct

    return S3Direct.for_fs(fs) if is_async(fs) else None


def _hard_link(source: Path, target: Path) -> bool:
    """Link ``target`` to ``source``; False where links are not possible (another
    device, a filesystem without them) and a copy must do."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP):
            return False
        raise
    return True


def _valid_name(name: str) -> bool:
    try:
        check_name(name)
    except AssetStoreError:
        return False
    return True
