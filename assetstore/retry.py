"""One retry policy for transient backend faults, declared once.

Retried: connection resets and refusals, timeouts, HTTP 5xx, throttling (429, SlowDown).
Never retried: not found, permission denied, exists, and every other 4xx — retrying
those only delays a clear error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import AssetStoreError

log = logging.getLogger("assetstore")
T = TypeVar("T")

_TRANSIENT_CODES = {
    "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests",
    "RequestTimeout", "InternalError", "ServiceUnavailable", "ServerBusy", "OperationTimedOut",
}  # fmt: skip
# Connection-level failures: the backend could not be reached or stopped answering.
_CONNECTION_TYPES = {
    "ServerDisconnectedError", "ClientConnectionError", "ClientConnectorError", "ClientOSError",
    "EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ServiceRequestError",
    "ServiceResponseError", "RemoteDisconnected", "ConnectionError", "Timeout", "TimeoutError",
    "FSTimeoutError", "ServerTimeoutError", "ConnectionTimeoutError", "SocketTimeoutError",
}  # fmt: skip
_TRANSIENT_TYPES = _CONNECTION_TYPES | {
    "ClientPayloadError", "ResponseStreamingError", "IncompleteRead", "ProtocolError",
    "ChunkedEncodingError", "TransportError", "ResponseParserError",
}  # fmt: skip
_PERMANENT = (AssetStoreError, FileNotFoundError, FileExistsError, PermissionError)


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is worth retrying."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        verdict = _classify(current)
        if verdict is not None:
            return verdict
        current = current.__cause__ or current.__context__
    return False


def is_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) says the backend could not
    be reached: refused, reset, timed out, DNS."""
    return any(
        isinstance(e, (ConnectionError, TimeoutError)) or _type_names(e) & _CONNECTION_TYPES
        for e in _chain(exc)
    )


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not e for e in seen):
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _classify(exc: BaseException) -> bool | None:
    if isinstance(exc, _PERMANENT):
        return False
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    status = http_status(exc)
    if status is not None:
        return status >= 500 or status in (408, 429)
    if error_code(exc) in _TRANSIENT_CODES or _type_names(exc) & _TRANSIENT_TYPES:
        return True
    return None


def _type_names(exc: BaseException) -> set[str]:
    """Names of the exception's classes: SDK exceptions are matched by name, so that
    this module imports no SDK."""
    return {cls.__name__ for cls in type(exc).__mro__}


def http_status(exc: BaseException) -> int | None:
    """The HTTP status an SDK exception carries, if any (botocore, azure, gcsfs, aiohttp)."""
    for attribute in ("status_code", "status", "code"):
        value = getattr(exc, attribute, None)
        if isinstance(value, int) and 100 <= value < 600:
            return value
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        value = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if isinstance(value, int):
            return value
    return None


def error_code(exc: BaseException) -> str | None:
    """The service's error code (``SlowDown``, ``AccessDenied``, ``BlobNotFound``...)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    code = getattr(exc, "error_code", None)  # azure: a StorageErrorCode enum, or a str
    code = getattr(code, "value", code)
    return str(code) if code is not None else None


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded in attempts and in total time."""

    attempts: int = 5
    initial_seconds: float = 0.2
    max_wait_seconds: float = 10.0
    deadline_seconds: float = 120.0
    sleep: Callable[[float], None] = time.sleep

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        started = time.monotonic()
        try:  # the first attempt runs bare: most calls need no retry machinery
            return fn(*args, **kwargs)
        except Exception as exc:
            if not self._retries(exc):
                raise
            first = exc
        import tenacity

        pending = [first]

        def attempt(*args: Any, **kwargs: Any) -> T:
            if pending:  # the failure already had, handed to tenacity
                raise pending.pop()
            return fn(*args, **kwargs)

        retrying = tenacity.Retrying(sleep=self.sleep, **self._rules(started))
        return retrying(attempt, *args, **kwargs)

    async def call_async(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """``call`` for coroutines: the same rules, waiting without blocking the loop."""
        started = time.monotonic()
        try:  # tenacity costs ~20 µs a call: a tenth of a small file's GET
            return await fn(*args, **kwargs)
        except Exception as exc:
            if not self._retries(exc):
                raise
            first = exc
        import asyncio

        import tenacity

        async def sleep(seconds: float) -> None:
            if self.sleep is time.sleep:
                await asyncio.sleep(seconds)
            else:  # a test's recording sleep
                self.sleep(seconds)

        pending = [first]

        async def attempt(*args: Any, **kwargs: Any) -> T:
            if pending:  # the failure already had, handed to tenacity
                raise pending.pop()
            return await fn(*args, **kwargs)

        retrying = tenacity.AsyncRetrying(sleep=sleep, **self._rules(started))
        return await retrying(attempt, *args, **kwargs)

    def _retries(self, exc: Exception) -> bool:
        return self.attempts > 1 and is_transient(exc)

    def _rules(self, started: float) -> dict[str, Any]:
        """tenacity's rules, for a call whose first attempt began at ``started`` and
        failed: tenacity is handed that failure, so the attempts and the waits run as
        if it had made it."""
        import tenacity

        left = self.deadline_seconds - (time.monotonic() - started)
        return {
            "stop": tenacity.stop_after_attempt(self.attempts)
            | tenacity.stop_after_delay(max(0.0, left)),
            "wait": tenacity.wait_random_exponential(
                multiplier=self.initial_seconds, max=self.max_wait_seconds
            ),
            "retry": tenacity.retry_if_exception(is_transient),
            "reraise": True,
            "before_sleep": _log_retry,
        }


def _log_retry(state: Any) -> None:
    exc = state.outcome.exception() if state.outcome else None
    log.warning(
        "transient fault (%s), retrying in %.1fs (attempt %d)",
        type(exc).__name__,
        state.next_action.sleep if state.next_action else 0.0,
        state.attempt_number,
    )
