"""What the three object stores share: a backend over an async fsspec filesystem
(s3fs, gcsfs, adlfs), called through their coroutines (fsspec's ``_cat_file``,
``_pipe_file``... are the async API) on the filesystem's own loop.

Each provider module subclasses this with what fsspec has no common API for: paged
listings, large uploads in parts, the bucket itself, URLs.
"""

from __future__ import annotations

import asyncio
import hashlib
from abc import abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import PushSourceError
from ..io.stream import digest
from . import faults
from .base import Backend, Entry

_DELETES_AT_ONCE = 8


class ObjectStoreBackend(Backend):
    @cached_property
    def fs(self) -> Any:
        return self.make_filesystem()

    @abstractmethod
    def make_filesystem(self) -> Any:
        """A fresh filesystem: no instance or listing cache (we own caching, and a
        cached instance would outlive settings and credentials), the SDK's own retries
        off, the request timeouts set."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self.fs.loop  # type: ignore[no-any-return]

    async def listing(self, prefix: str, *, recursive: bool = True) -> AsyncIterator[list[Entry]]:
        """One request for the whole listing (fsspec's ``_find``); providers override
        this with one request a page."""
        try:
            found = await self.request(
                0, self.fs._find, prefix, detail=True, maxdepth=None if recursive else 1
            )
        except FileNotFoundError:
            return
        yield sorted(
            Entry(path, int(info.get("size") or 0))
            for path, info in found.items()
            if info.get("type", "file") == "file"
        )

    async def read(self, path: str, start: int = 0, end: int | None = None) -> bytes:
        try:
            data = await self.fs._cat_file(path, start=start, end=end)
        except Exception as exc:  # object stores answer 416 to a range past the end
            if faults.is_past_the_end(exc):
                return b""
            raise
        return bytes(data) if end is None else bytes(data[: max(0, end - start)])

    async def write(self, path: str, data: bytes | bytearray) -> None:
        await self.fs._pipe_file(path, data)

    async def create(self, path: str, data: bytes) -> bool:
        try:
            await self.fs._pipe_file(path, data, mode="create")  # a conditional PUT
        except FileExistsError:
            return False
        return True

    async def exists(self, path: str) -> bool:
        # Not fs._exists: s3fs answers False to every error, wrong credentials too.
        try:
            await self.fs._info(path)
        except FileNotFoundError:
            return False
        return True

    async def delete(self, paths: list[str]) -> None:
        """One request an object, a few at once; one that is not there is no error."""
        queue: Iterator[str] = iter(paths)

        async def worker() -> None:
            for path in queue:
                try:
                    await self.request(0, self.fs._rm_file, path)
                except FileNotFoundError:
                    pass

        await asyncio.gather(*(worker() for _ in range(min(_DELETES_AT_ONCE, len(paths)))))

    async def copy(self, source: str, target: str) -> None:
        await self.fs._cp_file(source, target)

    async def send_parts(
        self,
        source: Path,
        send: Callable[[int, bytes, Any], Awaitable[None]],
        *,
        window: int,
        part_size: int | None = None,
        extra: Callable[[bytes], Any] | None = None,
    ) -> tuple[str, int]:
        """Read ``source`` once, in order, in a worker thread, in parts of
        ``part_size``; hash it; ``send(number, part, extra(part))`` (numbers from 1) with
        up to ``window`` parts in flight. Memory stays bounded by ``window`` parts; the
        first failure ends the upload. Returns the (sha256, size) of what was sent."""
        hasher, size, number = hashlib.sha256(), 0, 0
        in_flight: set[asyncio.Task[None]] = set()
        try:
            with _open(source) as stream:
                while part := await asyncio.to_thread(
                    _read_part, stream, hasher, part_size or self.part_size, extra
                ):
                    number += 1
                    size += len(part[0])
                    in_flight.add(asyncio.ensure_future(send(number, *part)))
                    if len(in_flight) >= window:
                        done, in_flight = await asyncio.wait(
                            in_flight, return_when=asyncio.FIRST_COMPLETED
                        )
                        for task in done:
                            task.result()
            await asyncio.gather(*in_flight)
        finally:
            for task in in_flight:
                task.cancel()
        return digest(hasher), size

    def close(self) -> None:
        self.__dict__.pop("fs", None)


def _open(source: Path) -> BinaryIO:
    try:
        return source.open("rb")
    except OSError as exc:
        raise PushSourceError(f"cannot read {source}: {exc.strerror or exc}") from exc


def _read_part(
    stream: BinaryIO, hasher: Any, size: int, extra: Callable[[bytes], Any] | None
) -> tuple[bytes, Any] | None:
    """The next part and what ``extra`` says of it, fed to ``hasher`` (reading, sha256
    and CRC32 all release the GIL: this runs in a thread); None at the end."""
    data = stream.read(size)
    if not data:
        return None
    hasher.update(data)
    return data, None if extra is None else extra(data)
