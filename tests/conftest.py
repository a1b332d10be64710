"""Shared fixtures: a clean environment, trees to push, and stores on the `local`
provider (a folder as the remote) or fsspec's `memory` filesystem."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# gcsfs reads this once, at import: set it before anything can import gcsfs, or every
# bucket call first probes gRPC/TLS and stalls (see shared/TEST-SERVERS.md).
os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"

from assetstore import AssetStore
from assetstore.cli import main

_OWN_PREFIXES = ("ASSETSTORE_", "AWS_", "S3_ENDPOINT", "AZURE_", "GOOGLE_", "STORAGE_EMULATOR")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting leaks in from the machine running the tests."""
    for key in list(os.environ):
        if key.startswith(_OWN_PREFIXES):
            monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


@pytest.fixture
def local_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """Environment for the `local` provider: a bucket folder and an assets dir."""
    env = {
        "ASSETSTORE_STORAGE_PROVIDER": "local",
        "ASSETSTORE_STORAGE_BUCKET": str(tmp_path / "bucket"),
        "ASSETSTORE_ASSETS_DIR": str(tmp_path / "cache"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def store(local_env: dict[str, str]) -> AssetStore:
    return AssetStore.from_env()


@pytest.fixture
def make_tree(tmp_path: Path) -> Callable[..., Path]:
    """Write ``{relative path: bytes}`` under a fresh folder and return it."""
    counter = iter(range(10_000))

    def make(files: dict[str, bytes], *, empty_dirs: tuple[str, ...] = ()) -> Path:
        root = tmp_path / f"tree{next(counter)}"
        root.mkdir()
        for rel, data in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        for rel in empty_dirs:
            (root / rel).mkdir(parents=True)
        return root

    return make


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run the CLI in-process: returns (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


class ByteCounter:
    """A progress callback that counts the bytes a transfer reports."""

    def __init__(self) -> None:
        self.bytes = 0

    def set_size(self, size: int | None) -> None:
        pass

    def relative_update(self, inc: int = 1) -> None:
        self.bytes += inc


def run_cli_process(
    args: list[str], env: dict[str, str], *, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a separate process (for races and crashes)."""
    full_env = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-m", "assetstore", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def tree_snapshot() -> Callable[[Path], dict[str, tuple[int, float]]]:
    def snapshot(root: Path) -> dict[str, tuple[int, float]]:
        return {
            str(p.relative_to(root)): (p.stat().st_size if p.is_file() else -1, p.stat().st_mtime)
            for p in sorted(root.rglob("*"))
        }

    return snapshot


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """A real PostgreSQL server on 127.0.0.1 for the whole session (fails under CI=true
    when it cannot start, skips elsewhere)."""
    import servers

    try:
        with servers.postgres() as server:
            yield server
    except servers.ServerUnavailable as exc:
        servers.unavailable(f"postgres: {exc}")


@pytest.fixture
def postgres_url(postgres_server: Any) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped afterwards."""
    import uuid

    import sqlalchemy

    from assetstore.catalog.sql import dispose_engines

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(postgres_server.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    yield postgres_server.url.rsplit("/", 1)[0] + f"/{name}"
    dispose_engines()
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in item.keywords:
            item.add_marker(pytest.mark.timeout(600))


class ConnectionCounter:
    """A TCP port that counts whoever connects to it (and answers nothing)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.accepted += 1
            connection.close()


@pytest.fixture
def counter() -> Iterator[ConnectionCounter]:
    found = ConnectionCounter()
    yield found
    found.server.close()
