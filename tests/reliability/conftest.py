"""Fault-injection and crash tests. Trial counts are reduced by default so CI stays
within its budget; the full counts run with

    ASSETSTORE_TEST_FULL_RELIABILITY=1 .venv/bin/python -m pytest tests/reliability -v
"""

from __future__ import annotations

import os

import pytest

FULL = os.environ.get("ASSETSTORE_TEST_FULL_RELIABILITY") == "1"


def trials(full: int, ci: int) -> int:
    return full if FULL else ci


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "reliability" in str(item.fspath):
            item.add_marker(pytest.mark.timeout(1800 if FULL else 300))


# -- appended for the fault-injection, concurrency and secrets tests ------------------
@pytest.fixture(scope="session")
def moto_s3():  # type: ignore[no-untyped-def]  # -> Iterator[support.S3]
    """One moto S3 server for the reliability session; each test takes its own bucket
    (see ``support.S3``). Skips, or fails under ``CI=true``, when moto cannot start."""
    pytest.importorskip("s3fs")
    from .support import S3, servers

    try:
        with servers.moto_s3() as server:
            yield S3(server)
    except servers.ServerUnavailable as exc:
        servers.unavailable(f"moto: {exc}")
