"""``memory``: fsspec's in-process memory filesystem, for tests and experiments. Its
objects live in one dict for the whole process, so only that process sees them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import cached_property
from typing import Any

from .base import Backend, Entry
from .registry import MEMORY

_PAGE = 1000


class MemoryBackend(Backend):
    provider = MEMORY

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        from fsspec.asyn import get_loop

        return get_loop()  # type: ignore[no-any-return]

    @cached_property
    def fs(self) -> Any:
        from fsspec.implementations.memory import MemoryFileSystem

        return MemoryFileSystem(skip_instance_cache=True, **self.options)

    async def listing(self, prefix: str, *, recursive: bool = True) -> AsyncIterator[list[Entry]]:
        try:
            found = self.fs.find(prefix, detail=True, maxdepth=None if recursive else 1)
        except FileNotFoundError:
            found = {}
        entries = sorted(
            Entry(path, int(info.get("size") or 0))
            for path, info in found.items()
            if info.get("type") == "file"
        )
        for start in range(0, len(entries), _PAGE):
            yield entries[start : start + _PAGE]

    async def read(self, path: str, start: int = 0, end: int | None = None) -> bytes:
        data = bytes(self.fs.cat_file(path))
        return data[start:end]

    async def write(self, path: str, data: bytes | bytearray) -> None:
        self.fs.pipe_file(path, data)

    async def create(self, path: str, data: bytes) -> bool:
        # Atomic: no other coroutine runs on the loop between the check and the write.
        if self.fs.exists(path):
            return False
        self.fs.pipe_file(path, data)
        return True

    async def exists(self, path: str) -> bool:
        return bool(self.fs.exists(path))

    async def delete(self, paths: list[str]) -> None:
        for path in paths:
            try:
                self.fs.rm_file(path)
            except FileNotFoundError:
                pass

    async def copy(self, source: str, target: str) -> None:
        self.fs.copy(source, target)

    def sign(self, path: str, expires: int) -> str:
        raise NotImplementedError("provider 'memory' cannot make URLs")
