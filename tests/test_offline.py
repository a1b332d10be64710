"""Pre-downloaded mode: no provider, a (read-only) assets dir, no network, no writes."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import assetstore
from assetstore import AssetNotFoundError, AssetStore, Version

Tree = Callable[..., Path]


@pytest.fixture
def deployed(store: AssetStore, make_tree: Tree) -> Iterator[Path]:
    """An assets dir built with pull --to, then made read-only, as in an image."""
    store.push(make_tree({"v": b"0.0"}), "models/bert")
    store.push(make_tree({"v": b"0.1", "vocab/en.txt": b"en"}), "models/bert")
    store.push(make_tree({"v": b"1.0"}), "models/bert", bump="major")
    (source := Path(tempfile.mkdtemp()) / "w.bin").write_bytes(b"w")
    store.push(source, "models/clf")
    deploy = Path(tempfile.mkdtemp(prefix="assetstore-deploy-"))
    target = store.with_assets_dir(deploy)
    for spec in ["models/bert:0.0", "models/bert:0.1", "models/clf"]:
        target.get(spec)
    _chmod_tree(deploy, writable=False)
    yield deploy
    _chmod_tree(deploy, writable=True)


def _chmod_tree(root: Path, *, writable: bool) -> None:
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        if writable:
            path.chmod(mode | stat.S_IWUSR)
        else:
            path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) | stat.S_IROTH
                       | (stat.S_IXOTH if path.is_dir() else 0))  # fmt: skip


@pytest.fixture
def offline(deployed: Path, monkeypatch: pytest.MonkeyPatch) -> AssetStore:
    monkeypatch.delenv("ASSETSTORE_STORAGE_PROVIDER")
    monkeypatch.delenv("ASSETSTORE_STORAGE_BUCKET")
    monkeypatch.setenv("ASSETSTORE_ASSETS_DIR", str(deployed))
    return AssetStore.from_env()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pre-downloaded mode opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_serves_latest_and_partial_versions_from_what_is_there(
    offline: AssetStore, deployed: Path, no_network: None, tree_snapshot: Callable[[Path], dict]
) -> None:
    before = tree_snapshot(deployed)
    assert (offline.get("models/bert") / "v").read_bytes() == b"0.1"  # 1.0 was not deployed
    assert (offline.get("models/bert:0") / "v").read_bytes() == b"0.1"
    assert (offline.get("models/bert:0.0") / "v").read_bytes() == b"0.0"
    assert offline.get("models/bert[vocab/en.txt]").read_bytes() == b"en"
    assert offline.get("models/clf").name == "w.bin"
    assert offline.versions("models/bert") == [Version(0, 1), Version(0, 0)]
    assert offline.names() == ["models/bert", "models/clf"]
    assert offline.info("models/bert").spec == "models/bert:0.1"
    assert all(r.ok for r in offline.verify())
    assert tree_snapshot(deployed) == before


def test_missing_versions_are_not_found_without_network(
    offline: AssetStore, no_network: None
) -> None:
    with pytest.raises(AssetNotFoundError, match="pre-downloaded mode"):
        offline.get("models/bert:1.0")
    with pytest.raises(AssetNotFoundError, match="no version of models/bert matches"):
        offline.get("models/bert:1")
    with pytest.raises(AssetNotFoundError):
        offline.get("other")


def test_an_unprivileged_user_reads_a_read_only_assets_dir(
    deployed: Path, tree_snapshot: Callable[[Path], dict], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """As root, the read-only assets dir is enforced by running as `nobody`. Serving a
    pre-downloaded dir needs no third-party package, so a copy of the package on a
    world-readable path with the system interpreter is all that user needs."""
    before = tree_snapshot(deployed)
    package = Path(tempfile.mkdtemp(prefix="assetstore-pkg-"))
    shutil.copytree(Path(assetstore.__file__).parent, package / "assetstore")
    _chmod_tree(package, writable=False)
    code = "import assetstore; print((assetstore.get('models/bert:0') / 'v').read_text())"
    env = {
        "ASSETSTORE_ASSETS_DIR": str(deployed),
        "PYTHONPATH": str(package),
        "HOME": "/nonexistent",
    }
    root = os.geteuid() == 0
    python = "/usr/bin/python3" if root and Path("/usr/bin/python3").exists() else sys.executable
    nobody = {"user": 65534, "group": 65534, "extra_groups": []} if root else {}
    done = subprocess.run([python, "-B", "-c", code], env=env, capture_output=True,
                          text=True, timeout=60, check=False, **nobody)  # fmt: skip
    _chmod_tree(package, writable=True)
    shutil.rmtree(package)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0.1"
    assert tree_snapshot(deployed) == before
