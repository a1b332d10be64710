"""Lockfiles: lock pins exact versions by the sha256 of their manifests, lock --check
catches an alias that moved, sync installs exactly what is pinned or fails closed, and
sync --check and ASSETSTORE_LOCKFILE need no network at all."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ConnectionCounter

from assetstore.release.lockfile import load

Cli = Callable[..., tuple[int, str, str]]
Tree = Callable[..., Path]


@pytest.fixture
def released(cli: Cli, local_env: dict[str, str], make_tree: Tree, tmp_path: Path) -> Path:
    """models/bert 0.0, 0.1 and 1.0, prod at 0.1; vocab 0.0; the folder to lock in."""
    for data, target in (
        (b"zero", "models/bert"),
        (b"one", "models/bert"),
        (b"two", "models/bert:1.0"),
    ):
        assert cli("push", str(make_tree({"w.bin": data, "vocab.txt": b"v"})), target)[0] == 0
    assert cli("push", str(make_tree({"en.txt": b"hello"})), "vocab")[0] == 0
    assert cli("alias", "set", "models/bert@prod", "0.1")[0] == 0
    work = tmp_path / "work"
    work.mkdir()
    return work


SPECS = ["models/bert@prod", "models/bert:0[vocab.txt]", "vocab"]


def test_a_lock_pins_each_spec_and_relocking_gives_the_same_bytes(
    cli: Cli, released: Path, tmp_path: Path
) -> None:
    lockfile = released / "assets.lock"
    assert cli("lock", *SPECS, "-o", str(lockfile)) == (0, f"{lockfile}\n", "")
    entries = {e.spec: e for e in load(lockfile)}
    assert {s: str(e.version) for s, e in entries.items()} == {
        "models/bert@prod": "0.1", "models/bert:0[vocab.txt]": "0.1", "vocab": "0.0"
    }  # fmt: skip
    prod = entries["models/bert@prod"]
    assert (prod.alias, prod.sub_path, prod.size) == ("prod", None, 4)
    assert prod.alias_at and prod.manifest_sha256.startswith("sha256:")
    assert entries["models/bert:0[vocab.txt]"].sub_path == "vocab.txt"
    first = lockfile.read_bytes()
    requirements = tmp_path / "assets.txt"
    requirements.write_text("# the service's assets\n\nvocab\nmodels/bert@prod  # served\n"
                            "models/bert:0[vocab.txt]\n")  # fmt: skip
    assert cli("lock", "-r", str(requirements), "-o", str(lockfile))[0] == 0
    assert lockfile.read_bytes() == first  # another order, the same lock
    assert cli("lock", "--check", *SPECS, "-o", str(lockfile)) == (0, "", "")


def test_lock_check_is_stale_when_an_alias_moved(cli: Cli, released: Path) -> None:
    lockfile = released / "assets.lock"
    assert cli("lock", *SPECS, "-o", str(lockfile))[0] == 0
    before = lockfile.read_bytes()
    assert cli("alias", "set", "models/bert@prod", "1.0")[0] == 0
    code, out, err = cli("lock", "--check", *SPECS, "-o", str(lockfile))
    assert code == 10
    assert out == "~ models/bert@prod: 0.1 -> 1.0\n"
    assert "is stale" in err and len(err.splitlines()) == 1
    assert lockfile.read_bytes() == before  # --check writes nothing


def test_sync_installs_what_is_locked_and_fails_closed_on_a_replaced_manifest(
    cli: Cli, released: Path, local_env: dict[str, str], tmp_path: Path
) -> None:
    lockfile = released / "assets.lock"
    assert cli("lock", *SPECS, "-o", str(lockfile))[0] == 0
    assert cli("alias", "set", "models/bert@prod", "1.0")[0] == 0  # the lock still says 0.1
    image = tmp_path / "image"
    code, out, _ = cli("sync", str(lockfile), "--to", str(image))
    assert code == 0
    assert out.splitlines() == [
        str(image / "models/bert/0.1/vocab.txt"), str(image / "models/bert/0.1"),
        str(image / "vocab/0.0"),
    ]  # fmt: skip
    assert cli("sync", "--check", str(lockfile), "--to", str(image)) == (0, "", "")
    bucket = Path(local_env["ASSETSTORE_STORAGE_BUCKET"]) / "assets"
    manifest = bucket / ".manifests/vocab/0.0.json"
    manifest.write_bytes(manifest.read_bytes().replace(b'"pushed_by":"', b'"pushed_by":"x'))
    fresh = tmp_path / "fresh"
    code, out, err = cli("sync", str(lockfile), "--to", str(fresh))
    assert code == 5
    assert "vocab: vocab:0.0: its manifest in the bucket is not the one locked" in err
    assert not (fresh / "vocab").exists()  # nothing of it installed
    assert (fresh / "models/bert/0.1/w.bin").read_bytes() == b"one"  # the others were


def test_sync_check_says_what_is_missing_or_corrupt(
    cli: Cli, released: Path, tmp_path: Path
) -> None:
    lockfile = released / "assets.lock"
    assert cli("lock", *SPECS, "-o", str(lockfile))[0] == 0
    image = tmp_path / "image"
    code, out, _ = cli("sync", "--check", str(lockfile), "--to", str(image))
    assert code == 3 and "vocab: vocab:0.0 in the assets dir" in out and "is missing" in out
    assert cli("sync", str(lockfile), "--to", str(image))[0] == 0
    (image / "vocab/0.0/en.txt").write_bytes(b"HELLO")
    code, out, _ = cli("sync", "--check", str(lockfile), "--to", str(image))
    assert code == 5 and "vocab: " in out and "en.txt" in out


# A service: it reads every locked spec and runs sync --check, once as it starts, then
# again after dropping to nobody when it runs as root (an interpreter under /root could
# not be started as nobody; its modules are loaded by then).
SERVICE = """
import json, os, sys
from assetstore import AssetStore
from assetstore.cli import main
def serve():
    paths = [str(AssetStore.from_env().get(s)) for s in sys.argv[2:]]
    return paths, main(["-q", "sync", "--check", sys.argv[1]])
first = serve()
if os.geteuid() == 0:
    os.setgid(65534)
    os.setuid(65534)
second = serve()
print(json.dumps({"uid": os.geteuid(), "first": first, "second": second}))
"""


def test_a_locked_service_needs_no_network_and_no_write_access(
    cli: Cli, released: Path, tmp_path: Path, counter: ConnectionCounter,
    tree_snapshot: Callable[[Path], dict[str, tuple[int, float]]],
    request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    service = Path(tempfile.mkdtemp(prefix="assetstore-service-"))  # nobody may enter /tmp
    request.addfinalizer(lambda: _remove(service))
    lockfile, image = service / "assets.lock", service / "image"
    assert cli("lock", *SPECS, "-o", str(lockfile))[0] == 0
    assert cli("sync", str(lockfile), "--to", str(image))[0] == 0
    for path in [service, *service.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    before = tree_snapshot(service)
    # The backend is an S3 endpoint that counts connections: none may be made.
    env = {"PATH": os.environ["PATH"], "ASSETSTORE_STORAGE_PROVIDER": "s3",
           "ASSETSTORE_STORAGE_BUCKET": "ml-assets", "S3_ENDPOINT": counter.url,
           "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "HOME": str(tmp_path),
           "ASSETSTORE_ASSETS_DIR": str(image), "ASSETSTORE_LOCKFILE": str(lockfile),
           "PYTHONPATH": os.pathsep.join(sys.path)}  # fmt: skip
    specs = ["models/bert@prod", "models/bert", "models/bert:0", "vocab"]
    command = [sys.executable, "-c", SERVICE, str(lockfile), *specs]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60,
                          check=False, cwd=image)  # fmt: skip
    assert done.returncode == 0, done.stderr
    served = json.loads(done.stdout)
    expected = [str(image / "models/bert/0.1")] * 3 + [str(image / "vocab/0.0")]
    assert served["first"] == served["second"] == [expected, 0]
    assert served["uid"] != 0  # as nobody, when the tests run as root
    assert tree_snapshot(service) == before  # nothing written
    code, _, err = subprocess_cli(env, "pull", "models/bert@staging")
    assert code == 3 and "is not in the lockfile" in err
    assert counter.accepted == 0


def _remove(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    shutil.rmtree(folder)


def subprocess_cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    done = subprocess.run([sys.executable, "-m", "assetstore", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [(("name = \"vocab\"", "name = \"../../etc\""), "name or sub_path is not the spec's"),
     (("version = \"0.0\"", "version = \"0.0.1\""), "invalid version"),
     (("manifest_sha256 = \"sha256:", "manifest_sha256 = \"md5:"), "is no sha256"),
     (("version = 1", "version = 2"), "expected 1"),
     (("[[asset]]", "[[asset"), "cannot be read")],
)  # fmt: skip
def test_a_lockfile_that_lies_is_a_configuration_error(
    cli: Cli, released: Path, edit: tuple[str, str], fragment: str
) -> None:
    lockfile = released / "assets.lock"
    assert cli("lock", "vocab", "-o", str(lockfile))[0] == 0
    lockfile.write_text(lockfile.read_text().replace(*edit, 1))
    for args in (["sync", str(lockfile)], ["sync", "--check", str(lockfile)]):
        code, out, err = cli(*args)
        assert (code, out) == (6, ""), err
        assert fragment in err, err


def test_a_rewritten_lockfile_is_read_again(cli: Cli, released: Path) -> None:
    """Parsed lockfiles are kept per process while the file stays the same: a new lock
    written in its place is what the next resolution reads."""
    lockfile = released / "assets.lock"
    assert cli("lock", "models/bert@prod", "-o", str(lockfile))[0] == 0
    time.sleep(2.1)  # settled: from now on its parse is kept
    assert [str(e.version) for e in load(lockfile)] == ["0.1"]
    assert cli("alias", "set", "models/bert@prod", "1.0")[0] == 0
    assert cli("lock", "models/bert@prod", "-o", str(lockfile))[0] == 0
    assert [str(e.version) for e in load(lockfile)] == ["1.0"]
