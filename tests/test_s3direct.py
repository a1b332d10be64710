"""The lean S3 path: its SigV4 signatures are botocore's, header for header, and it
reads ranges right from stores that answer them in their own ways (the signature
checks on a real server are in tests/backends/test_s3_direct.py)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import pytest

botocore = pytest.importorskip("botocore")
s3fs = pytest.importorskip("s3fs")

from botocore.auth import S3SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import ReadOnlyCredentials  # noqa: E402

from assetstore.s3direct import S3Direct  # noqa: E402

NOW = datetime(2026, 11, 22, 10, 10, 10)
REQUESTS = [
    ("GET", b"", {"range": "bytes=3-9"}),
    ("PUT", b"some bytes", {"content-length": "10", "x-amz-server-side-encryption": "aws:kms",
                            "x-amz-server-side-encryption-aws-kms-key-id": "arn:aws:kms:k"}),
]  # fmt: skip


@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzE+/token=="])
@pytest.mark.parametrize(("method", "body", "headers"), REQUESTS)
@pytest.mark.parametrize(
    "base", ["http://127.0.0.1:9000/bucket/", "https://bucket.s3.eu-west-3.amazonaws.com/"]
)
def test_signature_is_botocores(
    monkeypatch: pytest.MonkeyPatch,
    token: str | None,
    method: str,
    body: bytes,
    headers: dict[str, str],
    base: str,
) -> None:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: NOW)
    fs = s3fs.S3FileSystem(skip_instance_cache=True, config_kwargs={"signature_version": "s3v4"})
    direct = S3Direct.for_fs(fs)
    assert direct is not None
    credentials = ReadOnlyCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", token)
    url = base + quote("dir/é ü/a+b=c 100%~.txt", safe="/~")
    payload = hashlib.sha256(body).hexdigest()
    ours = direct._sign(method, url, "eu-west-3", credentials, payload, headers,
                        now=NOW.strftime("%Y%m%dT%H%M%SZ"))  # fmt: skip
    request = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    S3SigV4Auth(credentials, "s3", "eu-west-3").add_auth(request)
    assert ours["authorization"] == request.headers["Authorization"]
    assert ours.get("x-amz-security-token") == token


BODY = bytes(range(256)) * 40


class _RangeQuirks(BaseHTTPRequestHandler):
    """GET answers as three kinds of store do: 206 (the standard), 200 with a
    Content-Range (rclone), or the whole object (a store that ignores Range)."""

    def do_GET(self) -> None:
        first, last = (int(x) for x in self.headers["Range"].removeprefix("bytes=").split("-"))
        part = BODY[first : last + 1]
        mode = self.path.rsplit("/", 1)[-1]
        status, body = (200, BODY) if mode == "ignored" else (206 if mode == "206" else 200, part)
        self.send_response(status)
        if mode != "ignored":
            self.send_header("Content-Range", f"bytes {first}-{first + len(part) - 1}/{len(BODY)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def quirky_store() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RangeQuirks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize("mode", ["206", "200-with-range", "ignored"])
def test_ranges_are_read_right_however_the_store_answers(quirky_store: str, mode: str) -> None:
    from assetstore import aio

    fs = s3fs.S3FileSystem(key="k", secret="s", skip_instance_cache=True,
                           client_kwargs={"endpoint_url": quirky_store},
                           config_kwargs={"signature_version": "s3v4"})  # fmt: skip
    direct = S3Direct.for_fs(fs)
    assert direct is not None
    got = aio.run(fs, lambda: direct.get(f"bucket/{mode}", 1000, 3000))
    assert got == BODY[1000:3000]
