"""One retry policy for transient backend faults, declared once.

Retried: connection resets and refusals, timeouts, HTTP 5xx, throttling (429, SlowDown).
Never retried: not found, permission denied, exists, and every other 4xx — retrying
those only delays a clear error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import AssetStoreError

log = logging.getLogger("assetstore")
T = TypeVar("T")

_TRANSIENT_CODES = {
    "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests",
    "RequestTimeout", "InternalError", "ServiceUnavailable", "ServerBusy", "OperationTimedOut",
}  # fmt: skip
_TRANSIENT_TYPES = {
    "ServerDisconnectedError", "ClientConnectionError", "ClientOSError", "ClientPayloadError",
    "EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ResponseStreamingError",
    "ServiceRequestError", "ServiceResponseError", "IncompleteRead", "ProtocolError",
    "RemoteDisconnected", "ChunkedEncodingError", "TransportError",
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


def _classify(exc: BaseException) -> bool | None:
    if isinstance(exc, _PERMANENT):
        return False
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    status = _http_status(exc)
    if status is not None:
        return status >= 500 or status == 429
    if _error_code(exc) in _TRANSIENT_CODES or type(exc).__name__ in _TRANSIENT_TYPES:
        return True
    return None


def _http_status(exc: BaseException) -> int | None:
    for attribute in ("status_code", "status", "code"):
        value = getattr(exc, attribute, None)
        if isinstance(value, int) and 100 <= value < 600:
            return value
    return None


def _error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return getattr(exc, "error_code", None)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded in attempts and in total time."""

    attempts: int = 5
    initial_seconds: float = 0.2
    max_wait_seconds: float = 10.0
    deadline_seconds: float = 120.0
    sleep: Callable[[float], None] = time.sleep

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        import tenacity

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts)
            | tenacity.stop_after_delay(self.deadline_seconds),
            wait=tenacity.wait_random_exponential(
                multiplier=self.initial_seconds, max=self.max_wait_seconds
            ),
            retry=tenacity.retry_if_exception(is_transient),
            sleep=self.sleep,
            reraise=True,
            before_sleep=_log_retry,
        )
        return retrying(fn, *args, **kwargs)


def _log_retry(state: Any) -> None:
    exc = state.outcome.exception() if state.outcome else None
    log.warning(
        "transient fault (%s), retrying in %.1fs (attempt %d)",
        type(exc).__name__,
        state.next_action.sleep if state.next_action else 0.0,
        state.attempt_number,
    )
