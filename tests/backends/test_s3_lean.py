"""An S3 configuration given in full (an endpoint, path-style or an IP address, keys)
runs without botocore (``s3_static.py``, ``s3_lean.py``): which configurations qualify,
that a push and a pull really load neither botocore nor s3fs, that s3fs finishes what
obstore cannot (a listing cut half-way, rclone's ranged answers), and that a process
exiting while obstore requests run exits with its own code."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import servers

from assetstore import AssetStore
from assetstore.backends import s3, s3_lean
from assetstore.backends.s3_static import static_access

from .conftest import Server, new_bucket_name

pytestmark = pytest.mark.integration

KEYS = {"key": "k", "secret": "s"}
IP = {"client_kwargs": {"endpoint_url": "http://127.0.0.1:9000"}}
NAMED = {"client_kwargs": {"endpoint_url": "http://minio.local:9000"}}
PATH = {"config_kwargs": {"s3": {"addressing_style": "path"}}}
NO_CONFIG = {"AWS_CONFIG_FILE": "/nonexistent/aws-config"}


@pytest.mark.parametrize(
    ("options", "environ", "static"),
    [
        ({**KEYS, **IP}, NO_CONFIG, True),
        ({**KEYS, **NAMED, **PATH}, NO_CONFIG, True),
        ({**KEYS, **NAMED}, NO_CONFIG, False),  # virtual-hosted: botocore's rules
        ({**KEYS, "client_kwargs": {"endpoint_url": "http://[::1]:9000"}}, NO_CONFIG, True),
        ({**IP}, NO_CONFIG, False),  # the credential chain: botocore's
        ({**KEYS}, NO_CONFIG, False),  # AWS's own endpoints
        ({**KEYS, **IP, "profile": "dev"}, NO_CONFIG, False),
        ({**KEYS, **IP, "anon": True}, NO_CONFIG, False),  # an option not modelled
        ({**KEYS, **IP}, {"AWS_CONFIG_FILE": __file__}, False),  # it may name a region
        ({**KEYS, **IP}, {"AWS_CONFIG_FILE": "/dev/null"}, True),  # an empty one does not
        (
            {**KEYS, "client_kwargs": {**IP["client_kwargs"], "region_name": "eu-west-3"}},
            {"AWS_CONFIG_FILE": __file__},
            True,
        ),
        (
            {**KEYS, "client_kwargs": {"endpoint_url": "https://127.0.0.1:9000"}},
            {**NO_CONFIG, "AWS_CA_BUNDLE": "/ca.pem"},
            False,
        ),
        ({**KEYS, "client_kwargs": {"endpoint_url": "ftp://127.0.0.1"}}, NO_CONFIG, False),
        ({**KEYS, **PATH, "client_kwargs": {"endpoint_url": "http://"}}, NO_CONFIG, False),
    ],
)
def test_only_configurations_botocore_would_read_the_same_way_skip_it(
    options: dict[str, Any], environ: dict[str, str], static: bool
) -> None:
    found = static_access(options, environ)
    assert (found is not None) is static
    if found is not None and "region_name" not in options.get("client_kwargs", {}):
        assert found.region == "us-east-1"  # botocore's when nothing names one


@pytest.fixture
def moto_env(s3_server: Server, tmp_path: Path) -> dict[str, str]:
    bucket = new_bucket_name()
    s3_server.raw.mkdir(bucket)
    return {
        **s3_server.env,
        "ASSETSTORE_STORAGE_PROVIDER": "s3",
        "ASSETSTORE_STORAGE_BUCKET": bucket,
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
    }


_CLI_AND_MODULES = textwrap.dedent("""
    import sys
    from assetstore.cli import run
    try:
        run()
    except SystemExit as exit:
        code = exit.code
    print(code, *sorted(m for m in ("botocore", "s3fs", "aiohttp") if m in sys.modules),
          file=sys.stderr)
""")


def _cli(args: list[str], env: dict[str, str]) -> tuple[str, str]:
    """Run the CLI in a fresh process: its output, and its exit code with the modules
    of the S3 stack it loaded."""
    import os

    done = subprocess.run(
        [sys.executable, "-c", _CLI_AND_MODULES, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.stdout, done.stderr.strip().splitlines()[-1]


def test_push_pull_and_versions_load_neither_botocore_nor_s3fs(
    moto_env: dict[str, str], tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    for i in range(40):  # enough small files to make a pack
        (tree / f"d{i % 4}").mkdir(parents=True, exist_ok=True)
        (tree / f"d{i % 4}" / f"f{i}.txt").write_bytes(f"file {i}".encode() * 50)
    pusher = {**moto_env, "ASSETSTORE_ASSETS_DIR": str(tmp_path / "a")}
    puller = {**moto_env, "ASSETSTORE_ASSETS_DIR": str(tmp_path / "b")}
    assert _cli(["push", str(tree), "data/small"], pusher) == ("data/small:0.0\n", "0")
    out, loaded = _cli(["pull", "data/small"], puller)
    assert loaded == "0"
    assert (Path(out.strip()) / "d1" / "f5.txt").read_bytes() == b"file 5" * 50
    assert _cli(["pull", "data/small[d2/f6.txt]"], puller)[1] == "0"
    assert _cli(["versions", "data/small"], puller) == ("0.0\n", "0")
    # An error is s3fs's, as before: the botocore path is still there behind.
    assert _cli(["pull", "data/missing"], puller)[1].startswith("3")


def test_a_listing_obstore_cannot_finish_is_finished_by_s3fs(
    moto_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """obstore fails after the first page (not a transient fault): s3fs goes on after
    the last key obstore gave, so every object is listed once."""
    import obstore

    monkeypatch.setattr(s3_lean, "_PAGE", 10)
    monkeypatch.setattr(s3, "_PAGE", 10)
    store = AssetStore.from_env({**moto_env, "ASSETSTORE_ASSETS_DIR": str(tmp_path / "c")})
    backend = store.remote.backend
    bucket = moto_env["ASSETSTORE_STORAGE_BUCKET"]
    keys = sorted(f"listed/k{i:02}" for i in range(25))
    for key in keys:
        store.remote.fs.pipe_file(f"{bucket}/{key}", b"x")
    real_list, calls = obstore.list, []

    def cut_off(*args: Any, offset: str | None = None, **kwargs: Any) -> Any:
        calls.append(offset)
        if offset is not None:
            raise ValueError("a page obstore cannot read")
        return real_list(*args, **kwargs)

    monkeypatch.setattr(obstore, "list", cut_off)

    async def everything() -> list[str]:
        return [e.path async for page in backend.listing(f"{bucket}/listed") for e in page]

    assert store.remote.run(everything) == [f"{bucket}/{k}" for k in keys]
    assert calls == [None, "listed/k09"]


@pytest.fixture(scope="module")
def rclone_env() -> Iterator[dict[str, str]]:
    try:
        with servers.rclone_s3() as srv:
            (srv.root / "lean").mkdir()
            yield {
                "ASSETSTORE_STORAGE_PROVIDER": "s3",
                "ASSETSTORE_STORAGE_BUCKET": "lean",
                "AWS_ACCESS_KEY_ID": srv.key,
                "AWS_SECRET_ACCESS_KEY": srv.secret,
                "S3_ENDPOINT": srv.endpoint_url,
                "AWS_CONFIG_FILE": "/nonexistent",
            }
    except servers.ServerUnavailable as exc:
        servers.unavailable(f"rclone: {exc}")


def test_ranged_reads_obstore_refuses_are_made_by_the_direct_path(
    rclone_env: dict[str, str], tmp_path: Path
) -> None:
    """rclone answers a ranged GET with 200 and Content-Range, which obstore refuses:
    the packed files still arrive, read over aiohttp, and nothing else is given up."""
    files = {f"f{i}.txt": f"packed {i}".encode() * 100 for i in range(30)}
    tree = tmp_path / "tree"
    tree.mkdir()
    for name, data in files.items():
        (tree / name).write_bytes(data)
    AssetStore.from_env({**rclone_env, "ASSETSTORE_ASSETS_DIR": str(tmp_path / "a")}).push(
        tree, "packed"
    )
    store = AssetStore.from_env({**rclone_env, "ASSETSTORE_ASSETS_DIR": str(tmp_path / "b")})
    pulled = store.get("packed:0.0")
    assert {p.name: p.read_bytes() for p in pulled.iterdir()} == files
    lean = store.remote.backend.lean
    assert lean is not None and lean.ranged is False  # given up for ranges only
