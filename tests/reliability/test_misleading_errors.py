"""Errors that pointed the wrong way, against real servers: an endpoint that is no S3
server, and retries that broke the one-line contract."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli_process

from assetstore import AssetStore

from .support import QUICK_TIMEOUTS, S3, HeadSafeFaultProxy

Tree = Callable[..., Path]
pytestmark = pytest.mark.integration


@pytest.fixture
def web_server(tmp_path: Path) -> Iterator[str]:
    """``python -m http.server``: a web server, not an S3 one."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_endpoint_that_is_no_s3_server_is_named_without_useless_advice(
    moto_s3: S3, web_server: str, make_tree: Tree, tmp_path: Path
) -> None:
    env = {**moto_s3.env("ml-assets", endpoint=web_server), **QUICK_TIMEOUTS,
           "ASSETSTORE_ASSETS_DIR": str(tmp_path / "a")}  # fmt: skip
    for args in (["list"], ["push", str(make_tree({"a": b"1"})), "m"]):
        done = run_cli_process(args, env)
        assert done.returncode == 7, done.stderr
        assert [done.stderr] == done.stderr.splitlines(keepends=True)
        assert web_server in done.stderr and "check S3_ENDPOINT" in done.stderr, done.stderr
        assert "AUTO_CREATE" not in done.stderr


def test_a_real_s3_server_still_says_the_bucket_is_missing(moto_s3: S3, tmp_path: Path) -> None:
    env = {**moto_s3.env("never-made"), "ASSETSTORE_ASSETS_DIR": str(tmp_path)}
    done = run_cli_process(["list"], env)
    assert done.returncode == 7
    assert "the bucket 'never-made' does not exist" in done.stderr
    assert "ASSETSTORE_AUTO_CREATE_BUCKET=true" in done.stderr


class FailingListings(HeadSafeFaultProxy):
    """Answers the first ``count`` listings with 503 SlowDown, forwards everything else."""

    def __init__(self, upstream: str, count: int) -> None:
        super().__init__(upstream, rate=0.0, seed=0)
        self.left = count

    def _handler_class(self) -> type[Any]:
        base = super()._handler_class()
        proxy = self

        class Handler(base):  # type: ignore[misc,valid-type]
            def _proxy(self) -> None:
                if "list-type=2" in self.path and proxy.left > 0:
                    proxy.left -= 1
                    self._read_body()
                    self._error(503, "SlowDown", "Please reduce your request rate.")
                    return
                super()._proxy()

        return Handler


def test_retries_are_one_line_at_the_end_or_none_on_failure(
    moto_s3: S3, make_tree: Tree, tmp_path: Path
) -> None:
    bucket = moto_s3.bucket("flaky")
    AssetStore.from_env({**moto_s3.env(bucket), "ASSETSTORE_ASSETS_DIR": str(tmp_path / "p")}).push(
        make_tree({"a.txt": b"a", "b.txt": b"b"}), "m"
    )
    with FailingListings(moto_s3.endpoint_url, count=2) as proxy:
        env = {
            **moto_s3.env(bucket, endpoint=proxy.url),
            "ASSETSTORE_ASSETS_DIR": str(tmp_path / "c"),
        }
        done = run_cli_process(["pull", "m"], env)
    assert proxy.left == 0
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        "assetstore: warning: done, after retrying 2 transient faults (--debug shows each)"
    ]
    closed = {**moto_s3.env(bucket, endpoint="http://127.0.0.1:9"), **QUICK_TIMEOUTS,
              "ASSETSTORE_ASSETS_DIR": str(tmp_path / "d")}  # fmt: skip
    done = run_cli_process(["pull", "m:0.0"], closed)
    assert done.returncode == 7
    assert len(done.stderr.splitlines()) == 1, done.stderr
