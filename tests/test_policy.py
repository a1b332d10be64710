"""The one retry policy: what it retries (classified on the SDKs' real exception types),
its exponential backoff with jitter, and its bounds in attempts and in time. The sleep
is injected, so no test waits for a backoff."""

from __future__ import annotations

import asyncio
import errno
import time
from collections.abc import Callable
from typing import Any

import pytest

from assetstore.backends.faults import is_transient, is_unreachable
from assetstore.errors import BackendError
from assetstore.io.policy import RetryPolicy


class Flaky:
    """Raises the given exceptions in turn, then returns "done"."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "done"


def recording_policy(**kwargs: Any) -> tuple[RetryPolicy, list[float]]:
    sleeps: list[float] = []
    return RetryPolicy(is_transient, sleep=sleeps.append, **kwargs), sleeps


def client_error(code: str, status: int) -> Exception:
    from botocore.exceptions import ClientError

    response = {
        "Error": {"Code": code, "Message": code},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "GetObject")  # type: ignore[arg-type]


def test_transient_faults_are_retried_with_jittered_exponential_backoff() -> None:
    policy, sleeps = recording_policy(attempts=5, initial_seconds=0.2)
    flaky = Flaky(ConnectionResetError(), TimeoutError(), ConnectionRefusedError())
    assert policy.call(flaky) == "done"
    assert flaky.calls == 4 and len(sleeps) == 3
    for n, slept in enumerate(sleeps):  # full jitter: anywhere in [0, 0.2 * 2**n]
        assert 0 <= slept <= 0.2 * 2**n


def test_backoff_is_jittered() -> None:
    waits = set()
    for _ in range(20):
        policy, sleeps = recording_policy(attempts=2)
        policy.call(Flaky(ConnectionResetError()))
        waits.update(sleeps)
    assert len(waits) > 10


def test_attempts_are_bounded_and_the_last_error_is_raised() -> None:
    policy, sleeps = recording_policy(attempts=3)
    flaky = Flaky(*[ConnectionResetError(f"reset {n}") for n in range(10)])
    with pytest.raises(ConnectionResetError, match="reset 2"):
        policy.call(flaky)
    assert flaky.calls == 3 and len(sleeps) == 2


def test_total_time_is_bounded() -> None:
    def slow_failure() -> None:
        time.sleep(0.05)
        raise ConnectionResetError("slow")

    policy, _ = recording_policy(attempts=100, deadline_seconds=0.12)
    started = time.monotonic()
    with pytest.raises(ConnectionResetError):
        policy.call(slow_failure)
    assert time.monotonic() - started < 1


def test_waits_are_capped() -> None:
    policy, sleeps = recording_policy(attempts=12, initial_seconds=1, max_wait_seconds=2)
    with pytest.raises(ConnectionResetError):
        policy.call(Flaky(*[ConnectionResetError() for _ in range(20)]))
    assert len(sleeps) == 11 and max(sleeps) <= 2


@pytest.mark.parametrize("failures", [0, 1, 2, 3])
def test_coroutines_get_the_same_attempts_and_waits(failures: int) -> None:
    """call_async: the first attempt runs bare, and a failure of it counts as tenacity's
    first attempt (no attempt is added, none lost)."""
    policy, sleeps = recording_policy(attempts=3, initial_seconds=0.2)
    flaky = Flaky(*[ConnectionResetError(f"reset {n}") for n in range(failures)])

    async def call() -> str:
        return flaky()

    if failures < 3:
        assert asyncio.run(policy.call_async(call)) == "done"
    else:
        with pytest.raises(ConnectionResetError, match="reset 2"):
            asyncio.run(policy.call_async(call))
    assert flaky.calls == min(failures + 1, 3) and len(sleeps) == min(failures, 2)
    assert all(0 <= slept <= 0.2 * 2**n for n, slept in enumerate(sleeps))


def test_a_coroutine_s_permanent_error_is_raised_at_once() -> None:
    policy, sleeps = recording_policy()
    flaky = Flaky(PermissionError("Access Denied"))

    async def call() -> str:
        return flaky()

    with pytest.raises(PermissionError):
        asyncio.run(policy.call_async(call))
    assert flaky.calls == 1 and sleeps == []


@pytest.mark.parametrize(
    "failure",
    [
        PermissionError("Access Denied"),
        FileNotFoundError("bucket/key"),
        FileExistsError("bucket/key"),
        BackendError("already translated"),
        ValueError("a bug"),
    ],
)
def test_permanent_errors_are_raised_at_once(failure: BaseException) -> None:
    policy, sleeps = recording_policy()
    flaky = Flaky(failure)
    with pytest.raises(type(failure)):
        policy.call(flaky)
    assert flaky.calls == 1 and sleeps == []


def _s3fs_translated(code: str, status: int) -> Exception:
    from s3fs.errors import translate_boto_error

    return translate_boto_error(client_error(code, status))  # type: ignore[no-any-return]


def _gcsfs(status: int) -> Exception:
    from gcsfs.retry import HttpError

    return HttpError({"code": status, "message": "x"})


def _azure(status: int, code: str) -> Exception:
    from azure.core.exceptions import HttpResponseError

    exc = HttpResponseError(message="x")
    exc.status_code = status
    exc.error_code = code
    return exc


def _azure_unreachable() -> Exception:
    from azure.core.exceptions import ServiceRequestError

    return ServiceRequestError("Cannot connect to host 127.0.0.1:1")


def _botocore_unreachable() -> Exception:
    from botocore.exceptions import EndpointConnectionError

    return EndpointConnectionError(endpoint_url="http://127.0.0.1:1/bucket")


def _aiohttp_disconnected() -> Exception:
    from aiohttp import ServerDisconnectedError

    return ServerDisconnectedError()


TRANSIENT: dict[str, Callable[[], Exception]] = {
    "s3 SlowDown": lambda: client_error("SlowDown", 503),
    "s3 InternalError": lambda: client_error("InternalError", 500),
    "s3fs-translated SlowDown": lambda: _s3fs_translated("SlowDown", 503),
    "gcs 429": lambda: _gcsfs(429),
    "gcs 503": lambda: _gcsfs(503),
    "azure 503 ServerBusy": lambda: _azure(503, "ServerBusy"),
    "azure 500": lambda: _azure(500, "InternalError"),
    "botocore unreachable": _botocore_unreachable,
    "azure unreachable": _azure_unreachable,
    "aiohttp disconnected": _aiohttp_disconnected,
    "errno ECONNRESET": lambda: OSError(errno.ECONNRESET, "reset"),
}
PERMANENT: dict[str, Callable[[], Exception]] = {
    "s3 AccessDenied": lambda: client_error("AccessDenied", 403),
    "s3 NoSuchKey": lambda: client_error("NoSuchKey", 404),
    "s3fs-translated AccessDenied": lambda: _s3fs_translated("AccessDenied", 403),
    "gcs 403": lambda: _gcsfs(403),
    "gcs 404": lambda: _gcsfs(404),
    "azure 403": lambda: _azure(403, "AuthorizationFailure"),
    "azure 404": lambda: _azure(404, "BlobNotFound"),
}


@pytest.mark.parametrize("make", TRANSIENT.values(), ids=TRANSIENT.keys())
def test_sdk_faults_worth_retrying(make: Callable[[], Exception]) -> None:
    assert is_transient(make())


@pytest.mark.parametrize("make", PERMANENT.values(), ids=PERMANENT.keys())
def test_sdk_errors_never_retried(make: Callable[[], Exception]) -> None:
    assert not is_transient(make())


def test_unreachable_is_told_apart_from_overloaded() -> None:
    assert is_unreachable(_botocore_unreachable())
    assert is_unreachable(_azure_unreachable())
    assert is_unreachable(ConnectionRefusedError())
    assert not is_unreachable(client_error("SlowDown", 503))
