"""A byte-counting TCP proxy in front of an S3 server: what a client really sends and
receives. Requests (client → server) are parsed just enough to count each method's
requests and body bytes (Content-Length or chunked); responses are piped through.
It runs in a thread of the benchmark process and is used only for untimed passes."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from tests.servers import HOST, free_port


@dataclass
class Traffic:
    sent: int = 0  # client -> server, everything (headers included)
    received: int = 0  # server -> client, everything
    requests: Counter[str] = field(default_factory=Counter)  # "PUT", "GET", "COPY", ...
    body: Counter[str] = field(default_factory=Counter)  # request body bytes per kind

    def reset(self) -> None:
        self.sent = self.received = 0
        self.requests.clear()
        self.body.clear()

    def snapshot(self) -> dict[str, object]:
        return {
            "sent_bytes": self.sent,
            "received_bytes": self.received,
            "requests": dict(self.requests),
            "request_body_bytes": dict(self.body),
        }


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, count: Callable[[int], None]
) -> None:
    try:
        while data := await reader.read(256 * 1024):
            count(len(data))
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


def _kind(head: bytes) -> tuple[str, int | None, bool]:
    lines = head.decode("latin-1").split("\r\n")
    method = lines[0].split(" ", 1)[0]
    length, chunked, copy = None, False, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
        elif name == "x-amz-copy-source":
            copy = True
    return ("COPY" if copy else method), length, chunked


class _Session:
    def __init__(self, traffic: Traffic) -> None:
        self.t = traffic

    async def requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                kind, length, chunked = _kind(head)
                self.t.requests[kind] += 1
                await self._send(writer, head)
                if chunked:
                    await self._chunked(reader, writer, kind)
                elif length:
                    await self._body(reader, writer, kind, length)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _send(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        self.t.sent += len(data)
        writer.write(data)
        await writer.drain()

    async def _body(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, kind: str, length: int
    ) -> None:
        left = length
        while left:
            data = await reader.read(min(left, 256 * 1024))
            if not data:
                raise ConnectionError
            left -= len(data)
            self.t.body[kind] += len(data)
            await self._send(writer, data)

    async def _chunked(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, kind: str
    ) -> None:
        while True:
            line = await reader.readuntil(b"\r\n")
            size = int(line.split(b";")[0], 16)
            await self._send(writer, line)
            await self._body(reader, writer, kind, size + 2)
            if size == 0:
                return


@contextlib.contextmanager
def counting_proxy(upstream: str) -> Iterator[tuple[str, Traffic]]:
    """Yield (endpoint of the proxy, its live Traffic counters) for ``upstream``."""
    host, port = upstream.removeprefix("http://").split(":")
    traffic = Traffic()
    loop = asyncio.new_event_loop()
    listen = free_port()

    async def handle(c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        s_reader, s_writer = await asyncio.open_connection(host, int(port))

        def received(n: int) -> None:
            traffic.received += n

        await asyncio.gather(
            _Session(traffic).requests(c_reader, s_writer), _pipe(s_reader, c_writer, received)
        )

    server = loop.run_until_complete(asyncio.start_server(handle, HOST, listen, limit=1024 * 1024))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{listen}", traffic
    finally:
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
