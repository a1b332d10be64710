"""The async transfer path: bounded batches on the backend's loop, retries of
coroutines, and requests that stall without ever timing out on their own."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from fsspec.asyn import AsyncFileSystem

from assetstore import BackendError, aio
from assetstore.remote import Remote
from assetstore.retry import RetryPolicy


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


def _remote(fs: _Deaf, attempts: int) -> Remote:
    retry = RetryPolicy(attempts=attempts, initial_seconds=0.01, sleep=lambda _s: None)
    return Remote(fs, provider="s3", bucket="b", prefix="", retry=retry, stall_seconds=0.2)


def test_a_stalled_upload_is_given_up_and_retried() -> None:
    fs = _Deaf(flaky=1)
    remote = _remote(fs, attempts=3)
    aio.run(fs, lambda: remote.write_async("b/k", b"data"))
    assert fs.calls == 2 and fs.written == {"b/k": b"data"}


def test_an_upload_that_always_stalls_fails_clearly_in_bounded_time() -> None:
    fs = _Deaf()
    remote = _remote(fs, attempts=2)
    started = time.monotonic()
    with pytest.raises(BackendError, match=r"backend unreachable.*no complete answer"):
        aio.run(fs, lambda: remote.write_async("b/k", b"data"))
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
        aio.run(fs, lambda: aio.for_each(work, range(1000), workers=4))
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
    aio.run(fs, lambda: aio.for_each(work, range(200), workers=7))
    assert peak == 7
