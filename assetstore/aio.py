"""Batches of transfers run as coroutines on an async backend's own event loop.

s3fs, gcsfs and adlfs are asyncio libraries behind a blocking facade: each blocking
call hands one coroutine to fsspec's loop thread and waits for it. For a version of
10,000 small files that hand-off costs about as much CPU as the requests themselves
(profiled in docs/benchmarks.md), so transfers to and from those backends run here:
one hand-off per batch, at most ``workers`` requests in flight.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar

T = TypeVar("T")
# Local file I/O up to this size runs on the loop itself: handing it to a thread and
# back (two wake-ups, a futex each way) costs more CPU than reading or writing the
# bytes. For 10,000 files of 4 KiB that hand-off was a third of a push's CPU.
INLINE_BYTES = 256 * 1024


def is_async(fs: Any) -> bool:
    """Whether ``fs`` is an fsspec async filesystem, with a loop of its own."""
    return bool(getattr(fs, "async_impl", False)) and getattr(fs, "loop", None) is not None


def run(fs: Any, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``work()`` on ``fs``'s loop and wait for it. Interrupted (Ctrl-C), the work
    is cancelled and waited for, so nothing is still writing once this returns."""
    finished = threading.Event()

    async def guarded() -> T:
        try:
            return await work()
        finally:
            finished.set()

    future = asyncio.run_coroutine_threadsafe(guarded(), fs.loop)
    try:
        return future.result()
    except BaseException:
        future.cancel()
        finished.wait(timeout=60)
        raise


async def file_io(size: int, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``, blocking file I/O of about ``size`` bytes: on the loop when small
    (``INLINE_BYTES``), else in a thread so the loop goes on with the network."""
    if size <= INLINE_BYTES:
        return fn(*args)
    return await asyncio.to_thread(fn, *args)


async def for_each(fn: Callable[[T], Awaitable[None]], items: Iterable[T], workers: int) -> None:
    """Await ``fn(item)`` for every item, at most ``workers`` at once. The first failure
    stops handing out more items and is raised once the calls under way have ended."""
    feed = iter(items)
    failures: list[BaseException] = []

    async def worker() -> None:
        for item in feed:  # one shared iterator: each item goes to one worker
            if failures:
                return
            try:
                await fn(item)
            except Exception as exc:
                failures.append(exc)
                return

    await asyncio.gather(*(worker() for _ in range(max(1, workers))))
    if failures:
        raise failures[0]
