"""Bounded concurrency: coroutines on a backend's event loop, threads for blocking work,
and one progress callback fed from both.

Every backend's I/O is async and runs on one event loop in a thread of its own
(fsspec's: s3fs, gcsfs and adlfs are asyncio libraries behind a blocking facade). A
blocking caller hands the loop a whole batch at once (``run``): handing over one
coroutine per file would cost about as much CPU as the requests themselves
(docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from types import TracebackType
from typing import Any, TypeVar

from .stream import Callback

T = TypeVar("T")
R = TypeVar("R")
# Local file I/O up to this size runs on the loop itself: handing it to a thread and
# back (two wake-ups, a futex each way) costs more CPU than reading or writing the
# bytes. For 10,000 files of 4 KiB that hand-off was a third of a push's CPU.
INLINE_BYTES = 256 * 1024


def on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether the caller runs on ``loop``'s own thread (where ``run`` would wait on
    itself forever)."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def run(loop: asyncio.AbstractEventLoop, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``work()`` on ``loop`` (another thread's) and wait for it. Interrupted
    (Ctrl-C), the work is cancelled and waited for, so nothing is still writing once
    this returns."""
    if on_loop(loop):
        raise RuntimeError("run() on the loop's own thread would wait on itself")
    finished = threading.Event()

    async def guarded() -> T:
        try:
            return await work()
        finally:
            finished.set()

    future = asyncio.run_coroutine_threadsafe(guarded(), loop)
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


class WriteBehind:
    """Blocking writes run in order on one helper thread while the loop goes on
    receiving. Creating a file costs the kernel far more than handing it over through a
    queue (no wake-up of the loop, no future), so a pull of many small files keeps both
    cores busy. At most ``budget`` bytes wait at once (one write of any size may).

    Used as ``async with WriteBehind(budget) as writer``: leaving waits for every write
    and raises the first failure; a failure also fails the next ``submit``. Left by an
    exception, the writes not started are dropped and the one under way is waited for,
    so nothing is still writing afterwards."""

    def __init__(self, budget: int) -> None:
        self._budget = budget
        self._queued = 0  # bytes handed over and not yet written
        self._changed = threading.Condition()
        self._items: queue.SimpleQueue[tuple[Callable[..., object], tuple[Any, ...], int] | None]
        self._items = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._dropping = False
        self._thread = threading.Thread(target=self._drain, name="assetstore-writer", daemon=True)

    async def __aenter__(self) -> WriteBehind:
        self._thread.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._items.put(None)
        if kind is not None:
            self._dropping = True
            self._thread.join()
            return
        await asyncio.to_thread(self._thread.join)
        self._raise_failure()

    async def submit(self, size: int, fn: Callable[..., object], *args: Any) -> None:
        """Hand ``fn(*args)``, a write of ``size`` bytes, to the thread."""
        self._raise_failure()
        if self._queued and self._queued + size > self._budget:
            await asyncio.to_thread(self._wait_for_room, size)
            self._raise_failure()
        with self._changed:
            self._queued += size
        self._items.put((fn, args, size))

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    def _wait_for_room(self, size: int) -> None:
        with self._changed:
            self._changed.wait_for(
                lambda: (
                    not self._queued
                    or self._queued + size <= self._budget
                    or self._error is not None
                )
            )

    def _drain(self) -> None:
        while (item := self._items.get()) is not None:
            fn, args, size = item
            if self._error is None and not self._dropping:
                try:
                    fn(*args)
                except BaseException as exc:
                    self._error = exc
            with self._changed:
                self._queued -= size
                self._changed.notify_all()


def run_all(fn: Callable[[T], R], items: Iterable[T], *, workers: int) -> list[R]:
    """Apply ``fn`` to every item with at most ``workers`` threads; results in order.

    Items are handed out as threads free up (a few queued ahead), so a version of a
    million files costs no million futures. The first failure stops handing out more
    and is raised once the running calls end, so no worker is left writing after we
    return.
    """
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    results: list[Any] = [None] * len(items)
    feed = iter(enumerate(items))
    failure: BaseException | None = None
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="assetstore") as pool:
        running: dict[Future[R], int] = {}
        while True:
            while failure is None and len(running) < 2 * workers:
                following = next(feed, None)
                if following is None:
                    break
                running[pool.submit(fn, following[1])] = following[0]
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                index = running.pop(future)
                error = future.exception()
                if error is None:
                    results[index] = future.result()
                elif failure is None:
                    failure = error
    if failure is not None:
        raise failure
    return results


class SharedProgress:
    """Serialises updates from worker threads into one callback, and calls ``beat``
    (the heartbeat that tells lock waiters the transfer is alive) on each."""

    def __init__(self, callback: Callback, beat: Callable[[], None] | None = None) -> None:
        self._callback = callback
        self._beat = beat
        self._lock = threading.Lock()

    def set_size(self, size: int | None) -> None:
        with self._lock:
            self._callback.set_size(size)

    def relative_update(self, inc: int = 1) -> None:
        with self._lock:
            self._callback.relative_update(inc)
            if self._beat is not None:
                self._beat()
