"""Local streaming I/O: sha256 computed while bytes move (in user space, or by the
kernel's copy), local files opened without following links, and the progress-callback
protocol."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, Literal, Protocol, TypeVar

# A local file's path: text (as a push's scan finds it) or a Path.
LocalPath = str | os.PathLike[str]
CHUNK = 4 * 1024 * 1024
T = TypeVar("T")
# What copy_file_range answers, before it has written anything, when the kernel cannot
# copy between two files (another filesystem on some kernels, a filesystem or special
# file that does not support it): the bytes then go through user space as usual.
_NO_KERNEL_COPY = frozenset(
    {errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.EBADF, errno.ETXTBSY}
)
# Errors of writing into a target: its disk is full, read-only or over quota, or the
# file is over the process's size limit.
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


class Callback(Protocol):
    """The part of ``fsspec.callbacks.Callback`` the library calls: any fsspec callback
    (``TqdmCallback`` included) fits."""

    def set_size(self, size: int | None) -> None: ...

    def relative_update(self, inc: int = 1) -> None: ...


class NoProgress:
    """The null callback: the library reports progress to nobody by default."""

    def set_size(self, size: int | None) -> None:
        pass

    def relative_update(self, inc: int = 1) -> None:
        pass


def digest(hasher: hashlib._Hash) -> str:
    return f"sha256:{hasher.hexdigest()}"


class Writer(Protocol):
    def write(self, data: bytes, /) -> object: ...


def copy_hashing(
    source: BinaryIO,
    target: Writer,
    *,
    callback: Callback,
    chunk: int = CHUNK,
    prefix: tuple[hashlib._Hash, int] | None = None,
    limit: int | None = None,
) -> tuple[str, int]:
    """Copy ``source`` to ``target`` in bounded chunks; return the sha256 and size of
    everything ``target`` holds: ``prefix`` (a hasher and a size) when it already held
    bytes, plus what this call copied. With ``limit``, stop once ``target`` holds that
    many bytes, whatever ``source`` has left (a source larger than it should be)."""
    hasher, size = prefix or (hashlib.sha256(), 0)
    started = size
    # From the second block on, a helper thread hashes a block while it is written: both
    # release the GIL, so a large file costs max(hash, write) per block, not their sum.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="assetstore-hash") as helper:
        while (limit is None or size < limit) and (
            block := source.read(chunk if limit is None else min(chunk, limit - size))
        ):
            if size == started:  # a small file is one block: no thread for it
                hasher.update(block)
                target.write(block)
            else:
                hashed = helper.submit(hasher.update, block)
                target.write(block)
                hashed.result()
            size += len(block)
            callback.relative_update(len(block))
    return digest(hasher), size


def kernel_copy_hashing(
    source: BinaryIO,
    target: BinaryIO,
    *,
    callback: Callback,
    chunk: int = CHUNK,
    prefix: tuple[hashlib._Hash, int] | None = None,
    limit: int | None = None,
) -> tuple[str, int] | None:
    """``copy_hashing`` between two local files, the kernel moving the bytes
    (``os.copy_file_range``: no copy through user space; on a copy-on-write filesystem
    or NFS 4.2, maybe no copy at all). The sha256 is of what ``target`` holds: each
    block is read back and hashed in a helper thread while the next one is copied.
    ``prefix`` bytes are already in ``target``, and the copy resumes at that offset in
    both files. ``target`` must be open for reading and writing, not appending.

    None when the kernel cannot copy between these files; nothing was written then."""
    copy = getattr(os, "copy_file_range", None)  # Linux only
    if copy is None:
        return None
    hasher, size = prefix or (hashlib.sha256(), 0)
    source_fd, target_fd = source.fileno(), target.fileno()
    hashed: Future[None] | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="assetstore-hash") as helper:
        while limit is None or size < limit:
            want = chunk if limit is None else min(chunk, limit - size)
            try:
                moved = copy(source_fd, target_fd, want, size, size)
            except OSError as exc:
                if hashed is None and exc.errno in _NO_KERNEL_COPY:
                    return None
                raise
            if not moved:
                break
            if hashed is not None:
                hashed.result()
            hashed = helper.submit(_hash_back, hasher, target_fd, size, moved)
            size += moved
            callback.relative_update(moved)
        if hashed is not None:
            hashed.result()
    return digest(hasher), size


def _hash_back(hasher: hashlib._Hash, fd: int, offset: int, count: int) -> None:
    """Feed ``hasher`` the ``count`` bytes at ``offset`` of the file ``fd``."""
    while count:
        block = os.pread(fd, min(count, CHUNK), offset)
        if not block:  # truncated under us: the sizes will not match
            return
        hasher.update(block)
        offset += len(block)
        count -= len(block)


def hash_prefix(path: Path, *, chunk: int = CHUNK) -> tuple[hashlib._Hash, int]:
    """A sha256 hasher fed with what ``path`` holds already, and its size (0 if none).
    A symlink there is never followed (it fails, as ``LocalFile`` would)."""
    hasher = hashlib.sha256()
    size = 0
    try:
        with open_no_follow(path, "rb") as stream:
            while block := stream.read(chunk):
                hasher.update(block)
                size += len(block)
    except FileNotFoundError:
        pass
    return hasher, size


_MODES = {
    "rb": os.O_RDONLY,
    "ab": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
    "wb": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
    "r+b": os.O_RDWR,
    "w+b": os.O_RDWR | os.O_CREAT | os.O_TRUNC,
}
# O_NOFOLLOW: the last component must not be a symlink (a planted one would send the
# write, or the truncation, somewhere else); O_NONBLOCK: a planted FIFO must not hang
# the open (it is refused below, as anything but a regular file is).
_NO_FOLLOW = (
    getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
)


def open_no_follow(path: Path, mode: Literal["rb", "ab", "wb", "r+b", "w+b"]) -> BinaryIO:
    """``path.open(mode)`` that refuses a symlink, or anything but a regular file, at
    ``path`` (OSError ELOOP, or EINVAL) instead of following it."""
    fd = os.open(path, _MODES[mode] | _NO_FOLLOW, 0o644)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if _NO_FOLLOW & getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)
        return os.fdopen(fd, mode)
    except BaseException:
        os.close(fd)
        raise


def create_file(path: Path | str, data: bytes | memoryview) -> None:
    """Write a new file ``path`` holding ``data``, with one open and no buffered file
    object (a pull of 10,000 small files makes 10,000 of them). ``O_EXCL`` refuses
    anything already at ``path`` and never follows a symlink planted there. A failure
    is the assets dir's (CacheError)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
    except OSError as exc:
        raise _cache_error(path, exc) from exc


class LocalFile:
    """A local file being written by a download: a failed write (disk full, read-only)
    is the assets dir's fault, not the backend's, and says so (CacheError, exit 8).
    Opened for appending by default, so a download can resume where an earlier attempt
    stopped."""

    def __init__(self, path: Path, *, mode: Literal["ab", "wb", "r+b", "w+b"] = "ab") -> None:
        self.path = path
        self.mode = mode
        self._stream: BinaryIO | None = None

    def __enter__(self) -> LocalFile:
        self._stream = self._guard(lambda: open_no_follow(self.path, self.mode))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            self._guard(stream.close)

    def seek(self, offset: int) -> None:
        assert self._stream is not None
        self._stream.seek(offset)

    def write(self, block: bytes) -> int:
        assert self._stream is not None
        stream = self._stream
        return self._guard(lambda: stream.write(block))

    def copy_from(
        self,
        source: BinaryIO,
        *,
        callback: Callback,
        prefix: tuple[hashlib._Hash, int],
        limit: int | None,
    ) -> tuple[str, int] | None:
        """``kernel_copy_hashing`` from ``source`` into this file (opened "r+b" or "w+b").
        A failed write is the cache's fault (CacheError); a failed read is raised as is."""
        assert self._stream is not None
        try:
            return kernel_copy_hashing(
                source, self._stream, callback=callback, prefix=prefix, limit=limit
            )
        except OSError as exc:
            if exc.errno not in WRITE_ERRNOS:
                raise
            raise _cache_error(self.path, exc) from exc

    def _guard(self, action: Callable[[], T]) -> T:
        try:
            return action()
        except OSError as exc:
            raise _cache_error(self.path, exc) from exc


def sha256_file(path: LocalPath, *, chunk: int = CHUNK) -> str:
    """The ``sha256:<hex>`` of a local file, read in bounded chunks."""
    hasher = hashlib.sha256()
    with open(path, "rb") as stream:  # noqa: PTH123 (path may be text)
        while block := stream.read(chunk):
            hasher.update(block)
    return digest(hasher)


def read_hashed(path: Path, size: int | None = None) -> tuple[bytes, hashlib._Hash]:
    """A local file's bytes, hashed — at most ``size + 1`` of them when ``size`` is given
    (one more than expected shows that the file grew)."""
    with path.open("rb") as stream:
        data = stream.read() if size is None else stream.read(size + 1)
    return data, hashlib.sha256(data)


def _cache_error(path: Path | str, exc: OSError) -> Exception:
    from ..errors import CacheError

    refused = (errno.ELOOP, errno.EINVAL, errno.EEXIST)
    if exc.errno in refused and Path(path).is_symlink():
        return CacheError(f"refusing to write through the symlink {path}")
    return CacheError(f"writing {path} failed: {exc.strerror or exc}")
