"""The local cache (the assets dir). A version appears at its final path only when
complete: files are staged on the same filesystem, verified, then renamed into place.

Layout::

    {assets_dir}/{name}/{version}/...                    # the asset, as pushed
    {assets_dir}/.assetstore/manifests/{name}/{version}.json
    {assets_dir}/.assetstore/manifests/{name}/{version}.partial.json  # see subset.py
    {assets_dir}/.assetstore/locks/ partial/ staging/ trash/  # see locks.py

The version folder is the completion marker; its manifest copy is written before it.
Pre-downloaded mode only ever calls the reading methods, which write nothing.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AssetNotFoundError, AssetStoreError, CacheError
from ..model.manifest import Manifest
from ..model.spec import VERSION_TEXT, Version
from .locks import Heartbeat, Locks
from .memo import MANIFESTS

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

# tempfile, shutil, uuid and hashing are imported where a write or a verify needs them:
# reading a cached version (``assetstore.get``) needs none of them.

log = logging.getLogger("assetstore")
STATE = ".assetstore"
_VERSION_DIR = re.compile(VERSION_TEXT)


class Cache:
    def __init__(
        self, assets_dir: Path, *, use_locks: bool = True, stall_seconds: float = 120.0
    ) -> None:
        self.root = assets_dir
        self.state = assets_dir / STATE
        self.use_locks = use_locks
        self.locks = Locks(
            self.state, inside=self.inside, use_locks=use_locks, stall_seconds=stall_seconds
        )

    # -- paths ---------------------------------------------------------------------
    def version_dir(self, name: str, version: Version) -> Path:
        return self.root / name / str(version)

    def manifest_file(self, name: str, version: Version) -> Path:
        return self.state / "manifests" / name / f"{version}.json"

    def partial_record(self, name: str, version: Version) -> Path:
        return self.state / "manifests" / name / f"{version}.partial.json"

    def lock_file(self, name: str, version: Version) -> Path:
        return self.locks.lock_file(name, version)

    # -- reads (safe on a read-only assets dir) ------------------------------------
    def has(self, name: str, version: Version) -> bool:
        return (
            self.version_dir(name, version).is_dir() and self.manifest_file(name, version).is_file()
        )

    def versions(self, name: str) -> list[Version]:
        folder = self.root / name
        if not folder.is_dir():
            return []
        found = [
            Version.parse(child.name)
            for child in folder.iterdir()
            if _VERSION_DIR.fullmatch(child.name)
        ]
        return sorted(v for v in found if self.has(name, v))

    def partial_versions(self, name: str) -> list[Version]:
        """The versions of ``name`` held in part (``subset.py``), not complete."""
        folder = self.state / "manifests" / name
        found = [
            Version.parse(path.name.removesuffix(".partial.json"))
            for path in (folder.glob("*.partial.json") if folder.is_dir() else ())
            if _VERSION_DIR.fullmatch(path.name.removesuffix(".partial.json"))
        ]
        return sorted(
            v for v in found if self.version_dir(name, v).is_dir() and not self.has(name, v)
        )

    def names(self, *, partial: bool = False) -> list[str]:
        """The names with a complete version cached (``partial``: or a partial one)."""
        manifests = self.state / "manifests"
        if not manifests.is_dir():
            return []
        names = {
            path.parent.relative_to(manifests).as_posix()
            for path in manifests.rglob("*.json")
            if _VERSION_DIR.fullmatch(path.name.removesuffix(".json").removesuffix(".partial"))
        }
        return sorted(
            name for name in names
            if self.versions(name) or (partial and self.partial_versions(name))
        )  # fmt: skip

    def manifest(self, name: str, version: Version) -> Manifest:
        """The cached copy of the manifest, parsed and validated once per process while
        the file stays the same (see ``_MANIFESTS``)."""
        try:
            return MANIFESTS.get(self.manifest_file(name, version), name, version)
        except FileNotFoundError:
            raise AssetNotFoundError(
                f"{name}:{version} is not in the assets dir {self.root}", name=name
            ) from None

    # -- locks and partial downloads (locks.py) ---------------------------------------
    def locked(self, name: str, version: Version) -> AbstractContextManager[Heartbeat]:
        return self.locks.locked(name, version)

    def try_lock(self, name: str, version: Version) -> object | None:
        return self.locks.try_lock(name, version)

    def partial(self, sha256: str) -> AbstractContextManager[Path | None]:
        return self.locks.partial(sha256)

    def resumable(self, name: str) -> AbstractContextManager[Path | None]:
        return self.locks.resumable(name)

    def partial_lock(self, name: str) -> object | None:
        return self.locks.partial_lock(name)

    def drop_partial(self, name: str) -> bool:
        return self.locks.drop_partial(name)

    # -- writes --------------------------------------------------------------------
    def inside(self, path: Path) -> Path:
        """``path``, once sure that no symlink leads it out of the assets dir: one
        planted there would make a pull write, or a prune delete, somewhere else."""
        root = self.root.resolve()
        real = path.resolve()
        if real != root and root not in real.parents:
            raise CacheError(
                f"refusing to write or remove {path}: a symlink in the assets dir leads it "
                f"out, to {real}"
            )
        return path

    @contextmanager
    def writing(self, doing: str) -> Iterator[None]:
        """Turn a failed write to the assets dir (read-only, full, not permitted) into a
        CacheError that says what was being done where."""
        try:
            yield
        except OSError as exc:
            if isinstance(exc, AssetStoreError):
                raise
            where = exc.filename or self.root
            raise CacheError(
                f"{doing} in the assets dir failed: {exc.strerror or exc} ({where})"
            ) from exc

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """A fresh folder on the cache's filesystem, removed afterwards whatever happens."""
        import shutil
        import tempfile

        parent = self.inside(self.state / "staging")
        parent.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(dir=parent, prefix=f"{os.getpid()}-"))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def install(self, staged: Path, manifest: Manifest, *, replace: bool = False) -> Path:
        """Move a staged, verified version into place, atomically.

        A folder already at the place is kept only when another process installed it
        meanwhile (it wrote the manifest copy first, as this one does). One that was
        there without a manifest copy is no installed version, whatever it holds: it is
        swapped out for the verified one."""
        target = self.inside(self.version_dir(manifest.name, manifest.version))
        copy = self.inside(self.manifest_file(manifest.name, manifest.version))
        trusted = copy.is_file() and not replace
        data = manifest.to_json()
        atomic_write(copy, data)
        MANIFESTS.seed(copy, manifest, data)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() and not trusted:
            self._discard(target)
        try:
            os.rename(staged, target)
        except OSError:
            if not target.is_dir():
                raise
            if not self.partial_record(manifest.name, manifest.version).is_file():
                log.debug("%s was installed by another process meanwhile", manifest.spec)
            else:  # a part of the version was put there meanwhile: this is all of it
                self._discard(target)
                os.rename(staged, target)
        self.partial_record(manifest.name, manifest.version).unlink(missing_ok=True)
        return target

    def install_partial(self, staged: Path, manifest: Manifest, record: bytes) -> Path:
        """Move a staged, verified part of a version into place (``subset.py``), in
        place of the part there before. The record goes first: a pull killed between
        the two leaves a record naming files not there, which the next pull fetches."""
        target = self.inside(self.version_dir(manifest.name, manifest.version))
        copy = self.manifest_file(manifest.name, manifest.version)
        if copy.is_file():  # the whole version was installed meanwhile: it holds this part
            return target
        atomic_write(self.inside(self.partial_record(manifest.name, manifest.version)), record)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            self._discard(target)
        os.rename(staged, target)
        if copy.is_file():  # ... or in the last instant: then it is a part again, for now
            copy.unlink(missing_ok=True)
            MANIFESTS.forget(copy)
        return target

    def remove(self, name: str, version: Version) -> None:
        self._discard(self.inside(self.version_dir(name, version)))
        copy = self.manifest_file(name, version)
        copy.unlink(missing_ok=True)
        MANIFESTS.forget(copy)
        self.partial_record(name, version).unlink(missing_ok=True)

    def _discard(self, folder: Path) -> None:
        """Make ``folder`` disappear at once (a rename), then delete it at leisure."""
        import shutil
        import uuid

        trash = self.inside(self.state / "trash")
        trash.mkdir(parents=True, exist_ok=True)
        # Straight to a unique name: a folder made in the trash first would be deleted
        # by a concurrent prune (which empties the trash) before the rename into it.
        doomed = trash / f"{os.getpid()}-{uuid.uuid4().hex}"
        os.rename(folder, doomed)
        shutil.rmtree(doomed, ignore_errors=True)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder and ``os.replace``."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
