"""The direct S3 path reads ranges right from stores that answer them in their own ways,
and never reads more of an answer than it asked for (its signatures, obstore's presigned
URLs and botocore's, are checked on real servers in tests/backends/test_s3_direct.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

botocore = pytest.importorskip("botocore")
s3fs = pytest.importorskip("s3fs")

from assetstore.backends.s3_http import S3Direct  # noqa: E402
from assetstore.backends.s3_static import host_of as _host  # noqa: E402

BODY = bytes(range(256)) * 40


class _RangeQuirks(BaseHTTPRequestHandler):
    """GET answers as three kinds of store do: 206 (the standard), 200 with a
    Content-Range (rclone), or the whole object (a store that ignores Range)."""

    def do_GET(self) -> None:
        first, last = (int(x) for x in self.headers["Range"].removeprefix("bytes=").split("-"))
        part = BODY[first : last + 1]
        mode = self.path.partition("?")[0].rsplit("/", 1)[-1]  # the query: its signature
        status, body = (200, BODY) if mode == "ignored" else (206 if mode == "206" else 200, part)
        self.send_response(status)
        if mode != "ignored":
            self.send_header("Content-Range", f"bytes {first}-{first + len(part) - 1}/{len(BODY)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        PUTS.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.send_header("ETag", '"0"')  # S3 answers every PUT with one; obstore needs it
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


PUTS: list[tuple[str, dict[str, str], bytes]] = []


@pytest.fixture
def quirky_store() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RangeQuirks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _direct(endpoint: str) -> S3Direct:
    fs = s3fs.S3FileSystem(key="k", secret="s", skip_instance_cache=True,
                           client_kwargs={"endpoint_url": endpoint},
                           config_kwargs={"signature_version": "s3v4"})  # fmt: skip
    direct = S3Direct.for_fs(fs)
    assert direct is not None
    return direct


@pytest.mark.parametrize("mode", ["206", "200-with-range"])
def test_ranges_are_read_right_however_the_store_answers(quirky_store: str, mode: str) -> None:
    from assetstore.io import pool

    direct = _direct(quirky_store)
    got = pool.run(direct.fs.loop, lambda: direct.get(f"bucket/{mode}", 1000, 3000))
    assert got == BODY[1000:3000]


def test_a_store_that_ignores_range_is_never_read_past_what_was_asked(
    quirky_store: str,
) -> None:
    """From the start, only the bytes asked for are read (the rest of the answer never
    is); from further on, the read fails rather than reading the whole object to slice it
    (each part of a large file would otherwise fetch the whole object)."""
    from assetstore.io import pool

    direct = _direct(quirky_store)
    assert pool.run(direct.fs.loop, lambda: direct.get("bucket/ignored", 0, 3000)) == BODY[:3000]
    with pytest.raises(OSError, match="ignored the Range header"):
        pool.run(direct.fs.loop, lambda: direct.get("bucket/ignored", 1000, 3000))


@pytest.mark.parametrize(
    ("base", "host"),
    [
        ("https://ml-assets.s3.eu-west-1.amazonaws.com/", "ml-assets.s3.eu-west-1.amazonaws.com"),
        ("http://127.0.0.1:9000/bench/", "127.0.0.1:9000"),
        ("https://minio.internal:443/b/", "minio.internal"),
        ("http://[::1]:9000/b/", "[::1]:9000"),
        ("http://[::1]:80/b/", "[::1]"),
    ],
)
def test_the_host_header_signed_is_the_one_a_client_sends(base: str, host: str) -> None:
    # What HTTP clients send for these URLs (RFC 9110 7.2: the port only when not the
    # scheme's default); the signature covers this header, so it must be exact.
    assert _host(base) == host


def test_an_upload_signs_the_sha256_of_the_body_it_sends(quirky_store: str) -> None:
    """The store checks the body against the signed digest (AWS: XAmzContentSHA256
    Mismatch): what is signed must be the digest of exactly the bytes sent, to the URL
    botocore addresses (the bucket's URL, then the key)."""
    import hashlib

    from assetstore.io import pool

    direct = _direct(quirky_store)
    PUTS.clear()
    assert pool.run(direct.fs.loop, lambda: direct.put("bucket/d/obj", BODY)) is True
    [(path, headers, body)] = PUTS
    assert (path, body) == ("/bucket/d/obj", BODY)
    assert headers["x-amz-content-sha256"] == hashlib.sha256(body).hexdigest()
    assert "x-amz-content-sha256" in headers["authorization"].split("SignedHeaders=")[1]
