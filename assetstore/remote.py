"""The storage layer: the remote layout on top of an fsspec filesystem, and the one
place where backend exceptions become assetstore errors.

Layout under ``{bucket}/{prefix}``::

    {name}/{version}/<files, as pushed>
    .manifests/{name}/{version}.json        # the commit point
    .manifests/{name}/{version}.reserved    # create-if-absent, before any byte moves
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import AssetNotFoundError, AssetStoreError, BackendError, VersionExistsError
from .hashing import CHUNK, Callback, copy_hashing
from .manifest import Manifest, parse_manifest
from .redact import scrub
from .retry import RetryPolicy
from .spec import Version, check_name

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

MANIFESTS = ".manifests"
_MANIFEST_FILE = re.compile(r"(\d+\.\d+)\.json")
_RESERVED_FILE = re.compile(r"(\d+\.\d+)\.reserved")


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
    ) -> None:
        self.fs = fs
        self.provider = provider
        self.root = "/".join(part for part in (bucket.rstrip("/"), prefix) if part)
        self.url = f"{provider}://{self.root.lstrip('/')}" if provider != "local" else self.root
        self.retry = retry or RetryPolicy()
        self._secrets = secrets

    # -- paths ---------------------------------------------------------------------
    def data_path(self, name: str, version: Version, relpath: str = "") -> str:
        base = f"{self.root}/{name}/{version}"
        return f"{base}/{relpath}" if relpath else base

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
        with self.errors(f"listing versions of {name} in"):
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
            return []

    def names(self) -> list[str]:
        """Every asset name with at least one committed version."""
        folder = f"{self.root}/{MANIFESTS}"
        with self.errors("listing assets in"):
            try:
                found = self._call(self.fs.find, folder)
            except FileNotFoundError:
                found = []
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
        with self.errors(f"reading the manifest of {name}:{version} from", not_found=True):
            data = self._call(self.fs.cat_file, path)
        return parse_manifest(data, name=name, version=version)

    def manifests(self, names: list[str] | None = None) -> Iterator[Manifest]:
        for name in self.names() if names is None else names:
            for version in self.versions(name):
                yield self.manifest(name, version)

    def download(self, path: str, target: Path, *, callback: Callback) -> tuple[str, int]:
        """Stream ``path`` into the local file ``target``; return (sha256, size)."""

        def attempt() -> tuple[str, int]:
            with self.fs.open(path, "rb", block_size=CHUNK) as src, target.open("wb") as dst:
                return copy_hashing(src, dst, callback=callback)

        with self.errors(f"downloading {path} from", not_found=True):
            return self._call(attempt)

    def sign(self, path: str, expires: int) -> str:
        with self.errors(f"signing a URL for {path} in", not_found=True):
            if not self._call(self.fs.exists, path):
                raise FileNotFoundError(path)
            if self.provider == "local":
                return Path(path).as_uri()
            try:
                return str(self.fs.sign(path, expiration=expires))
            except NotImplementedError:
                raise BackendError(f"provider {self.provider!r} cannot sign URLs") from None

    # -- writes --------------------------------------------------------------------
    def reserve(self, name: str, version: Version, owner: dict[str, Any]) -> None:
        """Claim ``name:version`` with a create-if-absent write; fail if it is taken."""
        reservation = self.reservation_path(name, version)
        body = json.dumps(owner, sort_keys=True).encode()
        with self.errors(f"reserving {name}:{version} in"):
            try:
                self._call(self._create, reservation, body)
            except FileExistsError:
                raise VersionExistsError(
                    f"{name}:{version} is being pushed by another process, or a push of it "
                    f"was interrupted (reservation {reservation})",
                    name=name,
                    version=str(version),
                ) from None
        if self._exists(self.manifest_path(name, version)):
            self.release(name, version)
            raise VersionExistsError(
                f"{name}:{version} already exists; versions are immutable",
                name=name,
                version=str(version),
            )

    def release(self, name: str, version: Version) -> None:
        with self.errors(f"releasing the reservation of {name}:{version} in"):
            self._call(self.fs.rm_file, self.reservation_path(name, version))

    def commit(self, manifest: Manifest) -> None:
        """Write the manifest, create-if-absent: the version now exists."""
        path = self.manifest_path(manifest.name, manifest.version)
        with self.errors(f"committing {manifest.spec} to"):
            try:
                self._call(self._create, path, manifest.to_json())
            except FileExistsError:
                raise VersionExistsError(
                    f"{manifest.spec} already exists", name=manifest.name
                ) from None

    def upload(self, source: Path, path: str, *, callback: Callback) -> tuple[str, int]:
        """Stream a local file to ``path``; return the (sha256, size) of what was sent."""

        def attempt() -> tuple[str, int]:
            with source.open("rb") as src, self.fs.open(path, "wb", block_size=CHUNK) as dst:
                return copy_hashing(src, dst, callback=callback)

        with self.errors(f"uploading {source} to"):
            return self._call(attempt)

    def copy(self, source: str, target: str) -> None:
        """Copy inside the backend (server-side where the backend can)."""
        with self.errors(f"copying {source} to {target} in", not_found=True):
            self._call(self.fs.copy, source, target)

    def discard(self, name: str, version: Version) -> None:
        """Remove a failed push's data; best effort, the reservation goes last."""
        try:
            if self._exists(self.data_path(name, version)):
                self.fs.rm(self.data_path(name, version), recursive=True)
        finally:
            self.release(name, version)

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

    def _exists(self, path: str) -> bool:
        with self.errors(f"checking {path} in"):
            return bool(self._call(self.fs.exists, path))

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return self.retry.call(fn, *args, **kwargs)

    @contextmanager
    def errors(self, doing: str, *, not_found: bool = False) -> Iterator[None]:
        """Translate whatever the backend raises into our errors, naming no secret."""
        try:
            yield
        except AssetStoreError:
            raise
        except FileNotFoundError as exc:
            if not_found:
                raise AssetNotFoundError(f"not found: {doing} {self.url}") from exc
            raise BackendError(self._message(doing, exc)) from exc
        except Exception as exc:
            raise BackendError(self._message(doing, exc), backend=self.url) from exc

    def _message(self, doing: str, exc: Exception) -> str:
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, PermissionError):
            reason = f"permission denied ({reason})"
        return scrub(f"{doing} {self.url} failed: {reason}", self._secrets)


def _valid_name(name: str) -> bool:
    try:
        check_name(name)
    except AssetStoreError:
        return False
    return True
