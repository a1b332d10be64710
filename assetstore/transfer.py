"""Bounded concurrency for per-file work, and thread-safe progress fan-in."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from .cache import Heartbeat
from .hashing import Callback

T = TypeVar("T")
R = TypeVar("R")


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
    """Serialises updates from worker threads into one callback, and beats the
    heartbeat that tells lock waiters the transfer is alive."""

    def __init__(self, callback: Callback, heartbeat: Heartbeat | None = None) -> None:
        self._callback = callback
        self._heartbeat = heartbeat
        self._lock = threading.Lock()

    def set_size(self, size: int | None) -> None:
        with self._lock:
            self._callback.set_size(size)

    def relative_update(self, inc: int = 1) -> None:
        with self._lock:
            self._callback.relative_update(inc)
            if self._heartbeat is not None:
                self._heartbeat.beat()
