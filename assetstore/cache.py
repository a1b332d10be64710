"""The local cache (the assets dir). A version appears at its final path only when
complete: files are staged on the same filesystem, verified, then renamed into place.

Layout::

    {assets_dir}/{name}/{version}/...                    # the asset, as pushed
    {assets_dir}/.assetstore/manifests/{name}/{version}.json
    {assets_dir}/.assetstore/locks/ staging/ trash/

The version folder is the completion marker; its manifest copy is written before it.
Pre-downloaded mode only ever calls the reading methods, which write nothing.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import AssetNotFoundError, AssetStoreError, CacheError
from .fileid import FileIdentity
from .fileid import identity_of as _identity_of
from .fileid import settled as _settled
from .manifest import Manifest, parse_manifest
from .spec import Version

# tempfile, shutil, uuid and hashing are imported where a write or a verify needs them:
# reading a cached version (``assetstore.get``) needs none of them.

log = logging.getLogger("assetstore")
STATE = ".assetstore"
# Canonical, ASCII: neither "01.2" nor "1.2" in other digits is a version folder.
_VERSION_DIR = re.compile(r"(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)")


_TOUCH_FLAGS = (
    os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
)


class Heartbeat:
    """Tells processes waiting on a version lock that the download is still moving."""

    def __init__(self, path: Path | None, *, every: float = 1.0) -> None:
        self.path = path
        self.every = every
        self._last = 0.0

    def beat(self) -> None:
        now = time.monotonic()
        if self.path is None or now - self._last < self.every:
            return
        self._last = now
        try:
            # Not Path.touch(): it follows a symlink planted at the path, and creates
            # the file it points to.
            fd = os.open(self.path, _TOUCH_FLAGS, 0o644)
            try:
                os.utime(fd)
            finally:
                os.close(fd)
        except OSError:
            pass  # a heartbeat is advisory, like the lock it serves


class Cache:
    def __init__(
        self, assets_dir: Path, *, use_locks: bool = True, stall_seconds: float = 120.0
    ) -> None:
        self.root = assets_dir
        self.state = assets_dir / STATE
        self.use_locks = use_locks
        self.stall_seconds = stall_seconds

    # -- paths ---------------------------------------------------------------------
    def version_dir(self, name: str, version: Version) -> Path:
        return self.root / name / str(version)

    def manifest_file(self, name: str, version: Version) -> Path:
        return self.state / "manifests" / name / f"{version}.json"

    def lock_file(self, name: str, version: Version) -> Path:
        return self.state / "locks" / name / f"{version}.lock"

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

    def names(self) -> list[str]:
        manifests = self.state / "manifests"
        if not manifests.is_dir():
            return []
        names = {
            path.parent.relative_to(manifests).as_posix()
            for path in manifests.rglob("*.json")
            if _VERSION_DIR.fullmatch(path.stem)
        }
        return sorted(name for name in names if self.versions(name))

    def manifest(self, name: str, version: Version) -> Manifest:
        """The cached copy of the manifest, parsed and validated once per process while
        the file stays the same (see ``_MANIFESTS``)."""
        try:
            return _MANIFESTS.get(self.manifest_file(name, version), name, version)
        except FileNotFoundError:
            raise AssetNotFoundError(
                f"{name}:{version} is not in the assets dir {self.root}", name=name
            ) from None

    def problems(self, manifest: Manifest) -> list[str]:
        """What differs between the cached copy and its manifest (empty when intact).

        A prune or ``pull --force`` may swap the folder out (one rename) while it is
        being read: that is no corruption. The folder read is then checked again if a
        new copy took its place, and ``AssetNotFoundError`` says so if none did."""
        root = self.version_dir(manifest.name, manifest.version)
        before = _identity(root)
        try:
            found: list[str] | None = self._differences(manifest, root)
        except (FileNotFoundError, NotADirectoryError):
            found = None  # a file went between looking and reading it
        if found is not None and (not found or (before is not None and _identity(root) == before)):
            return found  # intact, or the same folder throughout: what it holds is wrong
        if not self.has(manifest.name, manifest.version):
            raise AssetNotFoundError(
                f"{manifest.spec} was removed from the assets dir {self.root} while it was "
                "being verified (by a concurrent prune or pull --force)",
                name=manifest.name,
                version=str(manifest.version),
            )
        return self._differences(manifest, root)

    def _differences(self, manifest: Manifest, root: Path) -> list[str]:
        found = []
        for entry in manifest.files:
            path = root / entry.path
            if path.is_symlink() or not path.is_file():
                found.append(f"{entry.path}: missing")
            elif path.stat().st_size != entry.size:
                found.append(f"{entry.path}: size {path.stat().st_size}, expected {entry.size}")
            elif _sha256_file(path) != entry.sha256:
                found.append(f"{entry.path}: sha256 mismatch")
        found.extend(_extras(manifest, root))
        return found

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

    def _own(self, path: Path) -> Path:
        """``path``, a file of the cache's own (a lock), in a folder inside the assets dir
        that exists, with no link or other non-file left at it (``own_file``)."""
        self.inside(path.parent).mkdir(parents=True, exist_ok=True)
        return own_file(path)

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
        _MANIFESTS.seed(copy, manifest, data)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() and not trusted:
            self._discard(target)
        try:
            os.rename(staged, target)
        except OSError:
            if not target.is_dir():
                raise
            log.debug("%s was installed by another process meanwhile", manifest.spec)
        return target

    def remove(self, name: str, version: Version) -> None:
        self._discard(self.inside(self.version_dir(name, version)))
        copy = self.manifest_file(name, version)
        copy.unlink(missing_ok=True)
        _MANIFESTS.forget(copy)

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

    @contextmanager
    def partial(self, sha256: str) -> Iterator[Path | None]:
        """The resumable download file of the content ``sha256``, held for this process
        alone; None when another process holds it or locks are off (then the caller
        downloads into staging, without resume — only duplicate work is lost)."""
        if not self.use_locks:
            yield None
            return
        name = sha256.removeprefix("sha256:")
        lock = self.partial_lock(name)
        if lock is None:
            yield None
            return
        try:
            yield own_file(self.state / "partial" / name)
        finally:
            _release_removing(lock, Path(lock.lock_file))  # type: ignore[attr-defined]

    def drop_partial(self, name: str) -> bool:
        """Delete the partial download ``partial/<name>`` unless a pull holds it."""
        lock = self.partial_lock(name)
        if lock is None:
            return False
        (self.state / "partial" / name).unlink(missing_ok=True)
        _release_removing(lock, Path(lock.lock_file))  # type: ignore[attr-defined]
        return True

    def partial_lock(self, name: str) -> object | None:
        """The lock of the partial download ``partial/<name>`` if nobody holds it."""
        import filelock

        lock = filelock.FileLock(str(self._own(self.state / "partial" / f"{name}.lock")))
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            return None
        return lock

    # -- locks ---------------------------------------------------------------------
    @contextmanager
    def locked(self, name: str, version: Version) -> Iterator[Heartbeat]:
        """Hold the version's lock while the holder makes progress.

        The lock only saves duplicate downloads; correctness rests on staging and
        rename, so a lock that stalls (or does not work, as on some network
        filesystems) is given up on rather than waited on forever.
        """
        if not self.use_locks:
            yield Heartbeat(None)
            return
        import filelock

        path = self._own(self.lock_file(name, version))
        beat = own_file(path.with_suffix(".progress"))
        lock = filelock.FileLock(str(path))
        acquired = self._acquire(lock, beat, f"{name}:{version}")
        try:
            yield Heartbeat(beat)
        except BaseException:
            if acquired:
                lock.release()
            raise
        if acquired:  # done: no lock files left behind (they would ship in a deploy dir)
            beat.unlink(missing_ok=True)
            _release_removing(lock, path)

    def _acquire(self, lock: object, beat: Path, spec: str) -> bool:
        import filelock

        assert isinstance(lock, filelock.BaseFileLock)
        last_seen, since = _mtime(beat), time.monotonic()
        while True:
            try:
                lock.acquire(timeout=0.5)
                return True
            except filelock.Timeout:
                seen = _mtime(beat)
                if seen != last_seen:
                    last_seen, since = seen, time.monotonic()
                elif time.monotonic() - since > self.stall_seconds:
                    log.warning(
                        "%s: the process holding its lock made no progress for %.0fs; "
                        "going ahead without the lock",
                        spec,
                        self.stall_seconds,
                    )
                    return False

    def try_lock(self, name: str, version: Version) -> object | None:
        """The version's lock if nobody holds it (for prune), else None."""
        if not self.use_locks:
            return _NoLock()
        import filelock

        lock = filelock.FileLock(str(self._own(self.lock_file(name, version))))
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            return None
        return lock


def _release_removing(lock: object, path: Path) -> None:
    """Delete the lock file, then release the lock. A process that opened the file just
    before may then lock a file no longer there: it only repeats work that staging and
    sha256 keep correct (the locks are an optimisation, see ``locked``)."""
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass
    lock.release()  # type: ignore[attr-defined]


class _NoLock:
    def release(self) -> None:
        pass


def _extras(manifest: Manifest, root: Path) -> list[str]:
    """What the cached folder holds beyond the manifest: files, folders and links of
    any kind (a link is never part of a version), none of them followed."""
    files = {entry.path for entry in manifest.files}
    found = []
    for here, dirs, names in os.walk(root):
        rel = Path(here).relative_to(root).as_posix()
        prefix = "" if rel == "." else f"{rel}/"
        for name in sorted(dirs):
            path = prefix + name
            if Path(here, name).is_symlink():
                found.append(f"{path}: a symlink, not in the manifest")
            elif path not in manifest.folders:
                found.append(f"{path}/: a folder not in the manifest")
        dirs[:] = [d for d in dirs if prefix + d in manifest.folders]
        found.extend(
            f"{prefix + name}: not in the manifest" for name in sorted(names)
            if prefix + name not in files
        )  # fmt: skip
    return sorted(found)


def own_file(path: Path) -> Path:
    """``path``, once anything but a regular file is gone from it. The cache's own files
    (locks, heartbeats, partial downloads) are never links: one planted there would send
    a write, or a truncation, outside the assets dir. A folder there is refused."""
    import stat

    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return path
    if stat.S_ISREG(mode):
        return path
    if stat.S_ISDIR(mode):
        raise CacheError(f"refusing to use {path}: a folder where the cache keeps a file")
    log.warning("removing %s: not a regular file, where the cache keeps one of its own", path)
    path.unlink()
    return path


def _identity(path: Path) -> tuple[int, int, int] | None:
    """Which folder is at ``path`` now: a rename in or out changes this."""
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_dev, info.st_ino, info.st_ctime_ns)


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


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


def _sha256_file(path: Path) -> str:
    from .hashing import sha256_file

    return sha256_file(path)


# -- the per-process memo of parsed cached manifests -----------------------------------
class _Memo:
    __slots__ = ("data", "identity", "manifest")

    def __init__(self, identity: FileIdentity, manifest: Manifest, data: bytes | None) -> None:
        self.identity = identity
        self.manifest = manifest
        self.data = data  # the bytes parsed while the file may change unseen, else None


class ManifestMemo:
    """Parsed, validated cached manifests, reused while their file stays the same.

    Parsing and validating a manifest costs ~3 µs a file (30 ms for 10,000); checking
    that the file is unchanged costs one ``stat``. The file is told apart by
    ``(st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)``: a replaced file (the cache
    writes manifests by rename) has another inode, an edited one other times. A file
    changed less than ``SETTLE_NS`` before it was read is read again on each use and
    compared to the bytes parsed, until that much time has passed: a change within the
    filesystem's time granularity would not show in its stamps. Errors are not kept:
    a corrupt manifest fails each time.
    """

    def __init__(self, max_files: int = 1_000_000, max_entries: int = 256) -> None:
        self.max_files = max_files  # the files of all manifests kept, summed
        self.max_entries = max_entries
        self._entries: dict[str, _Memo] = {}
        self._lock = threading.Lock()

    def get(self, path: Path, name: str, version: Version) -> Manifest:
        key = str(path)
        memo = self._entries.get(key)
        if memo is not None and memo.data is None:
            try:
                if _identity_of(path.stat()) == memo.identity:
                    return memo.manifest
            except OSError:
                pass  # gone or unreadable: the read below says which
        with path.open("rb") as stream:
            info = os.fstat(stream.fileno())
            read_at = time.time_ns()
            data = stream.read()
        if memo is not None and memo.data == data:
            manifest = memo.manifest  # the same bytes: read again only as they were recent
        else:
            manifest = parse_manifest(data, name=name, version=version)
        settled = _settled(info, read_at)
        self._keep(key, _Memo(_identity_of(info), manifest, None if settled else data))
        return manifest

    def seed(self, path: Path, manifest: Manifest, data: bytes) -> None:
        """Remember a manifest just written to ``path`` as ``data`` (checked by a read
        on its next use, like any recent file)."""
        try:
            identity = _identity_of(path.stat())
        except OSError:
            return
        self._keep(str(path), _Memo(identity, manifest, data))

    def forget(self, path: Path) -> None:
        with self._lock:
            self._entries.pop(str(path), None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _keep(self, key: str, memo: _Memo) -> None:
        size = len(memo.manifest.files)
        if size > self.max_files:
            return
        with self._lock:
            entries = self._entries
            entries.pop(key, None)
            held = sum(len(m.manifest.files) for m in entries.values()) + size
            while entries and (held > self.max_files or len(entries) >= self.max_entries):
                oldest = next(iter(entries))
                held -= len(entries.pop(oldest).manifest.files)
            entries[key] = memo


_MANIFESTS = ManifestMemo()
