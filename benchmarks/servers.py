"""S3 servers on 127.0.0.1 for the benchmarks: ``rclone serve s3`` (headline figures)
and moto's server mode (second reference). Each starts on a free port in its own
process group and is killed (by its own pid) on exit."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
KEY, SECRET = "benchkey", "benchsecret"
BUCKET = "bench"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class S3:
    name: str  # "rclone" or "moto"
    endpoint: str
    bucket: str = BUCKET
    key: str = KEY
    secret: str = SECRET


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with _OPENER.open(url, timeout=1.0):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


@contextlib.contextmanager
def _process(cmd: list[str], url: str, log: Path) -> Iterator[None]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not _answers(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{cmd[0]} did not start; see {log}")
            time.sleep(0.05)
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def rclone_s3(rclone: str, workdir: Path) -> Iterator[S3]:
    """``rclone serve s3`` over a folder; buckets are its top-level folders."""
    root = workdir / "rclone-data"
    (root / BUCKET).mkdir(parents=True, exist_ok=True)
    port = free_port()
    cmd = [
        rclone, "serve", "s3", "--addr", f"{HOST}:{port}", "--auth-key", f"{KEY},{SECRET}",
        "--config", "/dev/null", "--log-level", "ERROR", str(root),
    ]  # fmt: skip
    with _process(cmd, f"http://{HOST}:{port}/", workdir / "rclone.log"):
        yield S3("rclone", f"http://{HOST}:{port}")


@contextlib.contextmanager
def moto_s3(moto_server: str, workdir: Path) -> Iterator[S3]:
    port = free_port()
    cmd = [moto_server, "-H", HOST, "-p", str(port)]
    with _process(cmd, f"http://{HOST}:{port}/moto-api/", workdir / "moto.log"):
        server = S3("moto", f"http://{HOST}:{port}")
        s3fs_client(server).mkdir(BUCKET)
        yield server


def s3fs_client(server: S3):  # type: ignore[no-untyped-def]
    """An s3fs filesystem on ``server`` (for setup and clean-up, never timed)."""
    import s3fs

    return s3fs.S3FileSystem(
        key=server.key, secret=server.secret, skip_instance_cache=True,
        use_listings_cache=False, client_kwargs={"endpoint_url": server.endpoint},
        config_kwargs={"signature_version": "s3v4"},
    )  # fmt: skip
