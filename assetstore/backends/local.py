"""``local``: a folder as the remote, with the standard library only.

Objects are files under the bucket folder. A create-if-absent write is a hard link of a
file written aside (``link`` fails if the name exists, and no reader sees a partly
written file); a copy is a hard link where the filesystem allows (both files are
immutable); large files are copied by the kernel (``copy_file_range``) and hashed as
read back. No write ever follows a symlink out of the bucket folder.
"""

from __future__ import annotations

import asyncio
import errno
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from functools import cached_property
from pathlib import Path
from typing import Any

from ..errors import BackendError
from ..io.pool import file_io
from ..io.stream import CHUNK, Callback, copy_hashing, kernel_copy_hashing, open_no_follow
from .base import Backend, Entry
from .registry import LOCAL

_PAGE = 1000
# What link answers where a copy must do: another device, a filesystem without links.
_NO_LINKS = frozenset({errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP})


class LocalBackend(Backend):
    provider = LOCAL

    def __post_init__(self) -> None:
        self._inside: set[str] = set()  # folders already checked to stay in the bucket

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        from fsspec.asyn import get_loop

        return get_loop()  # type: ignore[no-any-return]

    @cached_property
    def fs(self) -> Any:
        from fsspec.implementations.local import LocalFileSystem

        return LocalFileSystem(auto_mkdir=True, skip_instance_cache=True)

    def url_of(self, path: str) -> str:
        return path

    def key_of(self, path: str) -> str:
        return Path(path).relative_to(self.bucket).as_posix()

    # -- objects -----------------------------------------------------------------------
    async def listing(self, prefix: str, *, recursive: bool = True) -> AsyncIterator[list[Entry]]:
        entries = await asyncio.to_thread(_walk, Path(prefix), recursive)
        for start in range(0, len(entries), _PAGE):
            yield entries[start : start + _PAGE]

    async def read(self, path: str, start: int = 0, end: int | None = None) -> bytes:
        size = (end - start) if end is not None else CHUNK
        return await file_io(size, _pread, path, start, end)

    async def write(self, path: str, data: bytes | bytearray) -> None:
        self.check_inside(str(Path(path).parent))
        await file_io(len(data), _write_file, Path(path), data)

    async def create(self, path: str, data: bytes) -> bool:
        self.check_inside(str(Path(path).parent))
        return await file_io(len(data), _create, Path(path), data)

    async def exists(self, path: str) -> bool:
        return os.path.lexists(path)

    async def delete(self, paths: list[str]) -> None:
        for path in paths:
            self.check_inside(str(Path(path).parent))
        await asyncio.to_thread(_delete, paths, Path(self.bucket))

    async def copy(self, source: str, target: str) -> None:
        self.check_inside(str(Path(target).parent))
        await asyncio.to_thread(_link_or_copy, Path(source), Path(target))

    async def upload_file(
        self, source: Path, path: str, *, callback: Callback, window: int
    ) -> tuple[str, int]:
        self.check_inside(str(Path(path).parent))
        return await asyncio.to_thread(_upload, source, Path(path), callback)

    def copy_into(self, path: str) -> Callable[..., tuple[str, int]] | None:
        """The kernel copies the object into the local target (``LocalFile.copy_from``),
        or, where it cannot (another filesystem, a FUSE mount, macOS), user space does."""

        def copy(target: Any, *, callback: Callback, prefix: Any, limit: int | None) -> Any:
            with Path(path).open("rb") as src:
                got = target.copy_from(src, callback=callback, prefix=prefix, limit=limit)
                if got is not None:
                    return got
                src.seek(prefix[1])
                target.seek(prefix[1])
                return copy_hashing(src, target, callback=callback, prefix=prefix, limit=limit)

        return copy

    # -- URLs ----------------------------------------------------------------------------
    def sign(self, path: str, expires: int) -> str:
        return Path(path).as_uri()

    def plain_url(self, path: str) -> str:
        return Path(path).as_uri()

    # -- the folder ----------------------------------------------------------------------
    def check_inside(self, folder: str) -> None:
        """Refuse to write under ``folder`` when a symlink leads it out of the bucket
        folder: the write, or a clean-up's delete, would happen elsewhere."""
        if folder in self._inside:
            return
        root = Path(self.bucket).resolve()
        real = Path(folder).resolve()
        if real != root and root not in real.parents:
            raise BackendError(
                f"refusing to write under {folder}: a symlink in the bucket folder leads it "
                f"out, to {real}",
                backend=self.bucket,
                unreachable=False,
            )
        self._inside.add(folder)


def _walk(prefix: Path, recursive: bool) -> list[Entry]:
    """The files under ``prefix`` (not following links to folders); none when there is
    no such folder, an error when a file stands where a folder should. A file removed
    while the folder is read (a reservation released meanwhile) is left out: it is gone,
    and the listing of everything else stands."""
    try:
        prefix.stat()
    except FileNotFoundError:
        return []
    if not prefix.is_dir():
        raise NotADirectoryError(20, "Not a directory", str(prefix))
    if recursive:
        paths = [str(Path(here, name)) for here, _, names in os.walk(prefix) for name in names]
    else:
        paths = [e.path for e in os.scandir(prefix) if not e.is_dir(follow_symlinks=False)]
    found = (Entry(path, size) for path in paths if (size := _size(path)) is not None)
    return sorted(found)


def _size(path: str) -> int | None:
    try:
        return os.lstat(path).st_size
    except FileNotFoundError:
        return None


def _pread(path: str, start: int, end: int | None) -> bytes:
    with Path(path).open("rb") as stream:
        stream.seek(start)
        return stream.read() if end is None else stream.read(max(0, end - start))


def _write_file(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with open_no_follow(target, "wb") as stream:
        stream.write(data)


def _create(target: Path, data: bytes) -> bool:
    """Write aside, then link into place: ``link`` fails if the name exists."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.link(temp, target)
    except FileExistsError:
        return False
    finally:
        Path(temp).unlink()
    return True


def _delete(paths: list[str], root: Path) -> None:
    """Delete the files, then the folders they leave empty (up to the bucket folder)."""
    folders = set()
    for path in paths:
        Path(path).unlink(missing_ok=True)
        folders.add(Path(path).parent)
    for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
        while folder != root and root in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                break  # not empty (or gone): its parents are not empty either
            folder = folder.parent


def _link_or_copy(source: Path, target: Path) -> None:
    """Link ``target`` to ``source``; copy where links are not possible (another
    device, a filesystem without them)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
        return
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno not in (
            errno.EXDEV,
            errno.EPERM,
            errno.EMLINK,
            errno.ENOTSUP,
            errno.EOPNOTSUPP,
        ):
            raise
    with source.open("rb") as src, target.open("wb") as dst:
        while block := src.read(CHUNK):
            dst.write(block)


def _upload(source: Path, target: Path, callback: Callback) -> tuple[str, int]:
    """Copy a local file into the bucket: by the kernel when large, hashed as read back."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as src, open_no_follow(target, "w+b") as dst:
        if os.fstat(src.fileno()).st_size > CHUNK:
            got = kernel_copy_hashing(src, dst, callback=callback)
            if got is not None:
                return got
        return copy_hashing(src, dst, callback=callback)
