"""Bounded concurrency for per-file work, and thread-safe progress fan-in."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import TypeVar

from .cache import Heartbeat
from .hashing import Callback

T = TypeVar("T")
R = TypeVar("R")


def run_all(fn: Callable[[T], R], items: Iterable[T], *, workers: int) -> list[R]:
    """Apply ``fn`` to every item with at most ``workers`` threads; results in order.

    The first failure cancels what has not started and is raised once the running
    calls end, so no worker is left writing after we return.
    """
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="assetstore") as pool:
        futures = [pool.submit(fn, item) for item in items]
        _, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        for future in futures:
            if future.done() and not future.cancelled() and future.exception():
                raise future.exception()  # type: ignore[misc]
        return [future.result() for future in futures]


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
