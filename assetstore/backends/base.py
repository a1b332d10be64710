"""The seam every provider fills in: one small interface of async object operations
over the paths of one bucket, as the provider's fsspec filesystem names them
(``bucket/key``, or an absolute path for ``local``).

Everything above (the repository, transfers) calls only this. The exceptions the
methods raise are the SDK's own; ``faults.py`` classifies them, and the repository
translates them into assetstore's errors in one place — as httpx maps the exceptions of
its transports at one seam.

The primitives (``read``, ``write``, ``create``, ``exists``, ``copy``, the bucket's) are
one request each, which the caller sends through ``request``; the others (``list``,
``upload_file``, ``delete``) send each of their requests through it themselves. A
request has the time it may take (``Timeouts.budget``) and is retried on a transient
fault, so a server that answers slowly, or drips its answer, ends in a timeout instead
of a hang.
"""

from __future__ import annotations

import asyncio
import functools
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, TypeVar

from ..io.policy import RetryPolicy, within
from ..io.stream import Callback
from .provider import Provider

T = TypeVar("T")
# Bytes per second below which a request that moves data counts as stalled.
SLOWEST_RATE = 64 * 2**10


@dataclass(frozen=True)
class Timeouts:
    """How long a request may take: to connect, to wait for each read, and in all."""

    connect: float = 5.0
    read: float = 60.0

    def budget(self, size: int = 0) -> float:
        """The most time a request that moves ``size`` bytes may take: the connect and
        read timeouts, plus those bytes at a crawl (``SLOWEST_RATE``)."""
        return self.connect + self.read + size / SLOWEST_RATE


class Entry(NamedTuple):
    """One object a listing found."""

    path: str
    size: int


@dataclass
class Backend(ABC):
    """One bucket of one provider. All I/O is async and runs on ``loop``."""

    provider: ClassVar[Provider]
    parallel_parts: ClassVar[bool] = False  # the parts of one large upload go at once
    bucket: str
    options: Mapping[str, Any] = field(default_factory=dict)
    timeouts: Timeouts = field(default_factory=Timeouts)
    part_size: int = 8 * 2**20
    retry: RetryPolicy | None = None  # None: each request is tried once

    def __post_init__(self) -> None:  # noqa: B027 (optional: most backends need none)
        """What a backend sets up when built (its own state; no request yet)."""

    # -- the event loop everything runs on, and the filesystem behind ------------------
    @property
    @abstractmethod
    def loop(self) -> asyncio.AbstractEventLoop: ...

    @property
    def fs(self) -> Any:
        """The provider's fsspec filesystem (to look behind assetstore's back)."""
        return None

    def check_options(self) -> None:
        """Make what the SDK makes of the options now, so that a bad option is an error
        when the store opens, not at its first request."""
        self.fs  # noqa: B018

    # -- naming ------------------------------------------------------------------------
    def url_of(self, path: str) -> str:
        """How messages name ``path``: ``s3://bucket/key``, or a local path."""
        return f"{self.provider.name}://{path.lstrip('/')}"

    def key_of(self, path: str) -> str:
        """The object key of ``path``: its path inside the bucket."""
        return path.strip("/").removeprefix(self.bucket.strip("/")).lstrip("/")

    def same_account(self, other: Backend) -> bool:
        """Whether ``other`` can copy this one's objects itself (server-side)."""
        return type(other) is type(self) and other.options == self.options

    # -- objects -----------------------------------------------------------------------
    @abstractmethod
    def listing(self, prefix: str, *, recursive: bool = True) -> AsyncIterator[list[Entry]]:
        """The objects under the folder ``prefix``, a page at a time (each page one
        request); without ``recursive``, only those directly in it."""

    @abstractmethod
    async def read(self, path: str, start: int = 0, end: int | None = None) -> bytes:
        """Bytes ``[start, end)`` of ``path`` (fewer at its end, none past it); never
        more than asked for, whatever the server sends."""

    @abstractmethod
    async def write(self, path: str, data: bytes | bytearray) -> None:
        """Write the object ``path``."""

    @abstractmethod
    async def create(self, path: str, data: bytes) -> bool:
        """Write ``data`` at ``path`` only if nothing is there, atomically: False when
        something was."""

    @abstractmethod
    async def exists(self, path: str) -> bool: ...

    @abstractmethod
    async def delete(self, paths: list[str]) -> None:
        """Delete the objects ``paths``; one that is not there is no error."""

    @abstractmethod
    async def copy(self, source: str, target: str) -> None:
        """Copy an object inside this bucket (server-side where the provider can)."""

    async def upload_file(
        self, source: Path, path: str, *, callback: Callback, window: int
    ) -> tuple[str, int]:
        """Send a local file, read once: return the (sha256, size) of what was sent.
        Large files go up in parts of ``part_size``, ``window`` of them at once."""
        from ..io.stream import read_hashed

        data, hasher = await asyncio.to_thread(read_hashed, source)
        await self.request(len(data), self.write, path, data)
        callback.relative_update(len(data))
        return f"sha256:{hasher.hexdigest()}", len(data)

    def copy_into(self, path: str) -> Callable[..., tuple[str, int]] | None:
        """A way to copy ``path`` straight into a local file without reading it
        through Python (the kernel's copy, for a local folder); None: no such way."""
        return None

    # -- the bucket itself ---------------------------------------------------------------
    async def bucket_exists(self) -> bool:
        return True

    async def create_bucket(self) -> None:
        raise NotImplementedError(f"provider {self.provider.name!r} has no buckets")

    # -- URLs (blocking: they sign locally) ----------------------------------------------
    def sign(self, path: str, expires: int) -> str:
        raise NotImplementedError(f"provider {self.provider.name!r} cannot sign URLs")

    def plain_url(self, path: str) -> str:
        raise NotImplementedError(f"provider {self.provider.name!r} has no URLs")

    # -- helpers -------------------------------------------------------------------------
    async def request(
        self, size: int, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any
    ) -> T:
        """One request ``fn(*args, **kwargs)`` moving about ``size`` bytes: each attempt
        given up (a timeout, transient) once it takes longer than its budget, transient
        faults retried by ``retry``. The SDKs' read timeout does not cover a server that
        drips its answer, nor one that stops reading what is sent to it."""
        limit = self.timeouts.budget(size)
        if self.retry is None:
            return await within(limit, fn(*args, **kwargs))
        return await self.retry.call_async(functools.partial(fn, *args, **kwargs), limit=limit)

    def close(self) -> None:  # noqa: B027 (optional: most backends hold nothing)
        """Release what the backend holds (sessions); it is not used afterwards."""
