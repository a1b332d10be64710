"""S3 servers on 127.0.0.1 for the benchmarks: ``rclone serve s3`` (headline figures) and
moto's server mode (second reference).

Both start through the test suite's recipes in ``tests/servers.py`` (free port, own
process group, bounded wait until it answers, killed by its own pid on exit). Only what
the benchmarks add lives here: the bucket, the credentials and an s3fs client for
untimed setup and clean-up.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tests import servers as test_servers
from tests.servers import HOST, ServerUnavailable

if TYPE_CHECKING:
    import s3fs

__all__ = ["BUCKET", "HOST", "S3", "ServerUnavailable", "moto_s3", "rclone_s3", "s3fs_client"]

BUCKET = "bench"
RCLONE_KEY, RCLONE_SECRET = "benchkey", "benchsecret"


@dataclass(frozen=True)
class S3:
    name: str  # "rclone" or "moto"
    endpoint: str
    key: str
    secret: str
    bucket: str = BUCKET
    pid: int | None = None  # the server's process, for its CPU time (None: not found)


@contextlib.contextmanager
def rclone_s3(rclone: str, workdir: Path) -> Iterator[S3]:
    """``rclone serve s3`` over a folder, as the tests start it; buckets are its
    top-level folders."""
    if not Path(rclone).is_file():
        raise ServerUnavailable(f"rclone not found at {rclone}")
    root = workdir / "rclone-data"
    (root / BUCKET).mkdir(parents=True, exist_ok=True)
    with test_servers.rclone_s3(root, key=RCLONE_KEY, secret=RCLONE_SECRET, binary=rclone) as srv:
        port = int(srv.endpoint_url.rsplit(":", 1)[1])
        yield S3("rclone", srv.endpoint_url, RCLONE_KEY, RCLONE_SECRET, pid=listener(port))


@contextlib.contextmanager
def moto_s3() -> Iterator[S3]:
    """moto's S3 server as the tests start it, with the benchmarks' bucket created."""
    with test_servers.moto_s3() as srv:
        port = int(srv.endpoint_url.rsplit(":", 1)[1])
        server = S3("moto", srv.endpoint_url, srv.key, srv.secret, pid=listener(port))
        s3fs_client(server).mkdir(BUCKET)
        yield server


def listener(port: int) -> int | None:
    """The pid of the process listening on TCP ``port`` of 127.0.0.1 (Linux's /proc),
    or None."""
    wanted = f"0100007F:{port:04X}"
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return None
    inodes = {f"socket:[{f[9]}]" for f in map(str.split, lines) if f[1] == wanted and f[3] == "0A"}
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) in inodes for fd in fd_dir.iterdir()):
                return int(fd_dir.parent.name)
    return None


def s3fs_client(server: S3) -> s3fs.S3FileSystem:
    """An s3fs filesystem on ``server`` (for setup and clean-up, never timed)."""
    import s3fs

    return s3fs.S3FileSystem(
        key=server.key, secret=server.secret, skip_instance_cache=True,
        use_listings_cache=False, client_kwargs={"endpoint_url": server.endpoint},
        config_kwargs={"signature_version": "s3v4"},
    )  # fmt: skip
