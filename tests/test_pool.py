"""The async transfer path: bounded batches on the backend's loop, retries of
coroutines, and requests that stall without ever timing out on their own."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from fsspec.asyn import AsyncFileSystem

from assetstore import BackendError
from assetstore.backends.base import Timeouts
from assetstore.backends.faults import is_transient
from assetstore.backends.objectstore import ObjectStoreBackend
from assetstore.backends.registry import S3
from assetstore.io import pool as aio
from assetstore.io.policy import RetryPolicy
from assetstore.repository.repository import Repository as Remote


class _Deaf(AsyncFileSystem):  # type: ignore[misc]
    """A backend whose uploads are accepted and never answered: a server that stops
    reading the body, which no SDK read timeout covers."""

    protocol = "deaf"

    def __init__(self, flaky: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.calls = 0
        self.flaky = flaky  # this many calls stall, the rest succeed
        self.written: dict[str, bytes] = {}

    async def _pipe_file(self, path: str, data: bytes, **_: Any) -> None:
        self.calls += 1
        if self.calls <= self.flaky or not self.flaky:
            await asyncio.sleep(3600)
        self.written[path] = data


class _DeafBackend(ObjectStoreBackend):
    provider = S3

    def make_filesystem(self) -> Any:
        return self.options["fs"]


def _remote(fs: _Deaf, attempts: int) -> Remote:
    retry = RetryPolicy(
        is_transient, attempts=attempts, initial_seconds=0.01, sleep=lambda _s: None
    )
    backend = _DeafBackend("b", {"fs": fs}, Timeouts(connect=0.1, read=0.1))  # 0.2 s a request
    return Remote(backend, prefix="", retry=retry)


def test_a_stalled_upload_is_given_up_and_retried() -> None:
    fs = _Deaf(flaky=1)
    remote = _remote(fs, attempts=3)
    aio.run(fs.loop, lambda: remote.write_async("b/k", b"data"))
    assert fs.calls == 2 and fs.written == {"b/k": b"data"}


def test_an_upload_that_always_stalls_fails_clearly_in_bounded_time() -> None:
    fs = _Deaf()
    remote = _remote(fs, attempts=2)
    started = time.monotonic()
    with pytest.raises(BackendError, match=r"backend unreachable.*no complete answer"):
        aio.run(fs.loop, lambda: remote.write_async("b/k", b"data"))
    assert fs.calls == 2 and time.monotonic() - started < 5


def test_a_batch_stops_handing_out_work_after_the_first_failure() -> None:
    seen: list[int] = []

    async def work(item: int) -> None:
        seen.append(item)
        await asyncio.sleep(0)
        if item == 3:
            raise ValueError("item 3")

    fs = _Deaf()
    with pytest.raises(ValueError, match="item 3"):
        aio.run(fs.loop, lambda: aio.for_each(work, range(1000), workers=4))
    assert 3 in seen and len(seen) < 20  # the rest were never started


def test_a_batch_keeps_at_most_workers_in_flight() -> None:
    running = peak = 0

    async def work(_item: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001)
        running -= 1

    fs = _Deaf()
    aio.run(fs.loop, lambda: aio.for_each(work, range(200), workers=7))
    assert peak == 7


def test_write_behind_runs_every_write_in_order_on_its_own_thread() -> None:
    done: list[tuple[int, int]] = []

    async def main() -> None:
        async with aio.WriteBehind(budget=100) as writer:
            for i in range(500):
                await writer.submit(1, lambda i: done.append((i, threading.get_ident())), i)

    asyncio.run(main())  # every write is done once the block is left
    assert [i for i, _ in done] == list(range(500))
    assert {thread for _, thread in done} != {threading.get_ident()}


def test_write_behind_raises_the_first_failure_and_runs_no_later_write() -> None:
    done: list[int] = []

    def write(i: int) -> None:
        if i == 3:
            raise OSError(28, "No space left on device")
        done.append(i)

    async def main(stop_early: bool) -> None:
        async with aio.WriteBehind(budget=1) as writer:  # one at a time: 4 fails first
            for i in range(10):
                await writer.submit(1, write, i)
                if stop_early and i == 3:
                    return

    with pytest.raises(OSError, match="No space"):
        asyncio.run(main(stop_early=False))  # raised by a later submit
    assert done == [0, 1, 2]
    done.clear()
    with pytest.raises(OSError, match="No space"):
        asyncio.run(main(stop_early=True))  # raised when the block is left
    assert done == [0, 1, 2]


def test_write_behind_holds_the_loop_at_its_budget() -> None:
    release = threading.Event()

    async def main() -> tuple[bool, bool]:
        async with aio.WriteBehind(budget=10) as writer:
            await writer.submit(8, release.wait)  # blocks the writer thread
            await writer.submit(2, lambda: None)  # fits: returns at once
            third = asyncio.ensure_future(writer.submit(1, lambda: None))
            await asyncio.sleep(0.2)
            waited = not third.done()
            release.set()
            await asyncio.wait_for(third, timeout=10)
            return waited, third.done()

    assert asyncio.run(main()) == (True, True)


def test_write_behind_left_by_an_error_drops_the_writes_not_started() -> None:
    started, release = threading.Event(), threading.Event()
    done: list[int] = []

    def write(i: int) -> None:
        if i == 0:
            started.set()
            release.wait(timeout=10)
        done.append(i)

    async def main() -> None:
        async with aio.WriteBehind(budget=100) as writer:
            for i in range(5):
                await writer.submit(1, write, i)
            await asyncio.to_thread(started.wait, 10)
            threading.Timer(0.1, release.set).start()
            raise KeyError("the transfer failed")

    with pytest.raises(KeyError):
        asyncio.run(main())
    assert done == [0]  # the write under way ended before the error came out
