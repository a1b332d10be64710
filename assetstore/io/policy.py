"""One retry policy for transient backend faults, declared once.

What counts as transient is the caller's classifier (``backends/faults.py``): resets
and refusals, timeouts, HTTP 5xx, throttling. Everything else is raised at once.

The bounds, together: at most ``attempts`` attempts; none starts once ``deadline_seconds``
have passed since the first began; each may be cut after ``limit`` seconds (a timeout,
itself transient). So a call ends within ``deadline_seconds`` plus one ``limit``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

log = logging.getLogger("assetstore")
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded in attempts and in total time."""

    transient: Callable[[BaseException], bool]
    attempts: int = 5
    initial_seconds: float = 0.2
    max_wait_seconds: float = 10.0
    deadline_seconds: float = 120.0
    sleep: Callable[[float], None] = time.sleep

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        started = time.monotonic()
        # The first attempt runs bare: building tenacity's machinery costs ~33 µs a call,
        # a tenth of a small file's request (docs/benchmarks.md). Only after a
        # transient failure does tenacity take over — with that failure as its first
        # attempt, so the attempts and waits are exactly tenacity's.
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if not self._retries(exc):
                raise
            failed: list[Exception] = [exc]
        import tenacity

        def attempt(*args: Any, **kwargs: Any) -> T:
            if failed:
                raise failed.pop()
            return fn(*args, **kwargs)

        retrying = tenacity.Retrying(sleep=self.sleep, **self._rules(started))
        return retrying(attempt, *args, **kwargs)

    async def call_async(
        self, fn: Callable[..., Awaitable[T]], *args: Any, limit: float | None = None
    ) -> T:
        """``call`` for coroutines, each attempt cut after ``limit`` seconds; waits
        without blocking the loop."""
        started = time.monotonic()
        try:
            return await within(limit, fn(*args))
        except Exception as exc:
            if not self._retries(exc):
                raise
            failed: list[Exception] = [exc]
        import tenacity

        async def attempt(*args: Any) -> T:
            if failed:
                raise failed.pop()
            return await within(limit, fn(*args))

        retrying = tenacity.AsyncRetrying(sleep=self._async_sleep, **self._rules(started))
        return await retrying(attempt, *args)

    async def _async_sleep(self, seconds: float) -> None:
        if self.sleep is time.sleep:
            await asyncio.sleep(seconds)
        else:  # a test's recording sleep
            self.sleep(seconds)

    def _retries(self, exc: Exception) -> bool:
        return self.attempts > 1 and self.transient(exc)

    def _rules(self, started: float) -> dict[str, Any]:
        """tenacity's rules for a call whose first attempt began at ``started``."""
        import tenacity

        left = self.deadline_seconds - (time.monotonic() - started)
        return {
            "stop": tenacity.stop_after_attempt(self.attempts)
            | tenacity.stop_after_delay(max(0.0, left)),
            "wait": tenacity.wait_random_exponential(
                multiplier=self.initial_seconds, max=self.max_wait_seconds
            ),
            "retry": tenacity.retry_if_exception(self.transient),
            "reraise": True,
            "before_sleep": _log_retry,
        }


async def within(limit: float | None, work: Awaitable[T]) -> T:
    """``work``, cut after ``limit`` seconds (a TimeoutError, which is transient: the
    SDKs' read timeouts do not cover a server that drips its answer); unbounded when
    None."""
    if limit is None:
        return await work
    try:
        if sys.version_info >= (3, 11):  # no task of its own, unlike wait_for
            async with asyncio.timeout(limit):
                return await work
        return await asyncio.wait_for(work, limit)
    except TimeoutError as exc:
        raise TimeoutError(str(exc) or f"no complete answer within {limit:.0f} s") from exc


def _log_retry(state: Any) -> None:
    """Retries are logged at debug level: a command that succeeds after retries says
    so once, at its end (see ``retried``); one that fails prints one line."""
    exc = state.outcome.exception() if state.outcome else None
    _RETRIED.append(type(exc).__name__)
    log.debug(
        "transient fault (%s: %s), retrying in %.1fs (attempt %d)",
        type(exc).__name__,
        (str(exc).splitlines() or [""])[0][:200] if exc else "",
        state.next_action.sleep if state.next_action else 0.0,
        state.attempt_number,
    )


_RETRIED: list[str] = []  # what was retried in this process (appended by any thread)


def retried() -> int:
    """How many retries this process has made so far."""
    return len(_RETRIED)
