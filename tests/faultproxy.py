"""A fault-injecting HTTP proxy for reliability tests: it sits between a client and a
real S3 server on 127.0.0.1 and, at a seeded rate, answers 500 / 503 SlowDown / 429,
resets the connection mid-body, truncates a response, stalls past the client's read
timeout, or drips the body (the head at once, then a byte every ``drip_seconds``: no
read timeout of any SDK ever fires on that). Everything else is forwarded unchanged.

    with FaultProxy(upstream="http://127.0.0.1:5000", rate=0.1, seed=7) as proxy:
        ... point the client at proxy.url ...
        proxy.counts  # {"ok": 812, "500": 21, "reset": 19, ...}
"""

from __future__ import annotations

import http.client
import random
import socket
import struct
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

FAULTS = ("500", "503", "429", "reset", "truncate", "stall")  # "drip" is asked for by name
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"}
_ERROR_BODIES = {
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "503": (503, "SlowDown", "Please reduce your request rate."),
    "429": (429, "TooManyRequests", "Too many requests."),
}


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        *,
        rate: float,
        seed: int,
        faults: tuple[str, ...] = FAULTS,
        stall_seconds: float = 3.0,
        drip_seconds: float = 0.5,
    ) -> None:
        target = urlsplit(upstream)
        self.upstream = (target.hostname or "127.0.0.1", target.port or 80)
        self.rate = rate
        self.faults = faults
        self.stall_seconds = stall_seconds
        self.drip_seconds = drip_seconds
        self.counts: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def choose(self) -> str:
        with self._lock:
            fault = self._random.choice(self.faults) if self._random.random() < self.rate else "ok"
            self.counts[fault] += 1
            return fault

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(_Handler):
            owner = proxy

        return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: FaultProxy

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet

    def do_GET(self) -> None:
        self._proxy()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    def _proxy(self) -> None:
        body = self._read_body()
        fault = self.owner.choose()
        if fault in _ERROR_BODIES:
            self._error(*_ERROR_BODIES[fault])
            return
        if fault == "stall":
            time.sleep(self.owner.stall_seconds)
            self.close_connection = True
            return
        status, headers, payload = self._forward(body)
        if fault == "reset":
            self._send_head(status, headers, len(payload))
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self._reset()
            return
        if fault == "drip":
            self._drip(status, headers, payload)
            return
        if fault == "truncate" and payload:
            self._send_head(status, headers, len(payload))
            self.wfile.write(payload[: max(1, len(payload) // 3)])
            self.wfile.flush()
            self.close_connection = True
            return
        self._send_head(status, headers, len(payload))
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(*self.owner.upstream, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        if body or self.command in ("PUT", "POST"):
            headers["Content-Length"] = str(len(body))
        try:
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
            return response.status, kept, payload
        finally:
            connection.close()

    def _send_head(self, status: int, headers: list[tuple[str, str]], length: int) -> None:
        self.send_response_only(status)
        for key, value in headers:
            if key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _error(self, status: int, code: str, message: str) -> None:
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f"<Message>{message}</Message></Error>"
        ).encode()
        self._send_head(status, [("Content-Type", "application/xml")], len(body))
        self.wfile.write(body)

    def _drip(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        """The head at once, then the body a byte at a time, until the client leaves."""
        body = payload or b" " * 1024  # even an empty answer is made to drip
        self._send_head(status, headers, len(body))
        try:
            for byte in body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(self.owner.drip_seconds)
        except OSError:
            pass  # the client gave up: what it should do
        self.close_connection = True

    def _reset(self) -> None:
        """Close with RST instead of FIN: what a dropped connection looks like."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()
