"""Locks, heartbeats and partial downloads of the cache: files of its own under
``.assetstore/``, none of them ever opened through a symlink.

The locks only save duplicate downloads; correctness rests on staging and rename, so a
lock that stalls (or does not work, as on some network filesystems) is given up on
rather than waited on forever. The partial download of a large file outlives a killed
pull, so that the next one resumes it.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import CacheError
from ..model.spec import Version

log = logging.getLogger("assetstore")


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


class Locks:
    """The lock files of one assets dir (``state`` is its ``.assetstore``)."""

    def __init__(
        self,
        state: Path,
        *,
        inside: Callable[[Path], Path],
        use_locks: bool = True,
        stall_seconds: float = 120.0,
    ) -> None:
        self.state = state
        self.inside = inside
        self.use_locks = use_locks
        self.stall_seconds = stall_seconds

    def lock_file(self, name: str, version: Version) -> Path:
        return self.state / "locks" / name / f"{version}.lock"

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

    @contextmanager
    def resumable(self, name: str) -> Iterator[Path | None]:
        """The folder ``partial/<name>/`` of a resumable pull of a version
        (``resume.py``), held for this process alone; None when another process holds
        it or locks are off."""
        lock = self.partial_lock(name) if self.use_locks else None
        if lock is None:
            yield None
            return
        try:
            folder = self.state / "partial" / name
            if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
                folder.unlink()  # a link or a file planted where the folder goes
            folder.mkdir(mode=0o700, exist_ok=True)  # as private as a staging folder
            yield folder
        finally:
            _release_removing(lock, Path(lock.lock_file))  # type: ignore[attr-defined]

    def drop_partial(self, name: str) -> bool:
        """Delete the partial download ``partial/<name>`` (a file, or the folder of a
        resumable version) unless a pull holds it."""
        lock = self.partial_lock(name)
        if lock is None:
            return False
        remove(self.state / "partial" / name)
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

    def _own(self, path: Path) -> Path:
        """``path``, a file of the cache's own (a lock), in a folder inside the assets dir
        that exists, with no link or other non-file left at it (``own_file``)."""
        self.inside(path.parent).mkdir(parents=True, exist_ok=True)
        return own_file(path)


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


def own_file(path: Path) -> Path:
    """``path``, once anything but a regular file is gone from it. The cache's own files
    (locks, heartbeats, partial downloads) are never links: one planted there would send
    a write, or a truncation, outside the assets dir. A folder there is refused."""
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


def is_folder(path: Path) -> bool:
    """A folder is at ``path`` itself (a link to one is not)."""
    try:
        return stat.S_ISDIR(path.lstat().st_mode)
    except FileNotFoundError:
        return False


def remove(path: Path) -> None:
    """Delete whatever is at ``path`` (a folder with all it holds; a link, not what it
    leads to)."""
    if is_folder(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        path.unlink()


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None
