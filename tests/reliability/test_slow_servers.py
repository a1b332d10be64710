"""A server that answers with its head at once and then drips its body, a byte every
half second: no SDK's read timeout ever fires on that. Every command still ends, with
exit code 7 and one line, within a bound set by the timeouts and the retry deadline —
listing, resolving an unpinned spec, pulling, pushing."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import run_cli_process

from assetstore import AssetStore

from .support import QUICK_TIMEOUTS, S3, HeadSafeFaultProxy

Tree = Callable[..., Path]
pytestmark = pytest.mark.integration
LIMIT_SECONDS = 30


@pytest.mark.parametrize(
    "args",
    [["list"], ["versions", "m"], ["pull", "m"], ["pull", "m:0.0"], ["info", "m"], ["push"]],
    ids=["list", "versions", "pull-unpinned", "pull-pinned", "info", "push"],
)
def test_a_dripping_server_never_hangs_a_command(
    moto_s3: S3, make_tree: Tree, tmp_path: Path, args: list[str]
) -> None:
    bucket = moto_s3.bucket("drip")
    source = make_tree({"a.txt": os.urandom(100), "big.bin": os.urandom(6 * 2**20)})
    AssetStore.from_env({**moto_s3.env(bucket), "ASSETSTORE_ASSETS_DIR": str(tmp_path / "p")}).push(
        source, "m"
    )
    with HeadSafeFaultProxy(moto_s3.endpoint_url, rate=1.0, seed=1, faults=("drip",)) as proxy:
        env = {**moto_s3.env(bucket, endpoint=proxy.url), **QUICK_TIMEOUTS,
               "ASSETSTORE_ASSETS_DIR": str(tmp_path / "cache")}  # fmt: skip
        command = [*args, str(source), "m"] if args == ["push"] else args
        started = time.monotonic()
        done = run_cli_process(["-q", *command], env, timeout=LIMIT_SECONDS * 3)
        took = time.monotonic() - started
    assert done.returncode == 7, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert took < LIMIT_SECONDS, f"{command} took {took:.0f} s"
