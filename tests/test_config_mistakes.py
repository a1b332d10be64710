"""Plain mistakes in configuration, as a new user makes them, through the CLI: each is
a clear one-line error with its exit code, or a warning on stderr — never a wrong
answer with exit 0."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from assetstore import AssetStore
from assetstore.errors import AssetNotFoundError

Cli = Callable[..., tuple[int, str, str]]
Tree = Callable[..., Path]


def _use(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for key in [k for k in os.environ if k.startswith("ASSETSTORE_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)


# -- 1. a bucket written as a URL ---------------------------------------------------------
def test_a_bucket_url_of_the_providers_own_scheme_is_the_bucket(
    cli: Cli, local_env: dict[str, str], make_tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("push", str(make_tree({"a": b"1"})), "m")[0] == 0
    monkeypatch.setenv(
        "ASSETSTORE_STORAGE_BUCKET", Path(local_env["ASSETSTORE_STORAGE_BUCKET"]).as_uri()
    )
    assert cli("list") == (0, "m\n", "")
    assert cli("versions", "m")[:2] == (0, "0.0\n")


@pytest.mark.parametrize(
    ("provider", "bucket", "fragment"),
    [
        ("local", "s3://ml-assets", "is a s3:// URL, but the provider is 'local'"),
        ("s3", "gs://ml-assets", "is a gs:// URL, but the provider is 's3'"),
        ("s3", "ml-assets/sub", "ASSETSTORE_STORAGE_PREFIX to 'sub'"),
        ("s3", "s3://ml-assets/sub", "ASSETSTORE_STORAGE_PREFIX to 'sub'"),
    ],
)
def test_a_bucket_that_cannot_be_meant_is_refused_at_load_time(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, provider: str, bucket: str,
    fragment: str,
) -> None:  # fmt: skip
    _use(monkeypatch, ASSETSTORE_STORAGE_PROVIDER=provider, ASSETSTORE_STORAGE_BUCKET=bucket,
         ASSETSTORE_ASSETS_DIR=str(tmp_path / "a"))  # fmt: skip
    for command in (["list"], ["catalog", "sync"]):
        code, out, err = cli(*command)
        assert (code, out) == (6, ""), err
        assert fragment in err and len(err.splitlines()) == 1, err


def test_an_s3_url_names_the_bucket(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _use(monkeypatch, ASSETSTORE_STORAGE_PROVIDER="s3", ASSETSTORE_STORAGE_BUCKET="s3://ml-assets",
         ASSETSTORE_ASSETS_DIR=str(tmp_path))  # fmt: skip
    code, out, _ = cli("config", "show")
    assert code == 0
    assert [line.split()[1] for line in out.splitlines() if line.startswith("bucket ")] == [
        "ml-assets"
    ]


# -- 2. pre-downloaded mode by mistake ------------------------------------------------------
def test_a_mistyped_provider_is_named_and_pre_downloaded_mode_is_said(
    cli: Cli, local_env: dict[str, str], make_tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("push", str(make_tree({"a": b"1"})), "m")[0] == 0
    assert cli("pull", "m")[0] == 0
    assert cli("push", str(make_tree({"a": b"2"})), "m")[1] == "m:0.1\n"
    monkeypatch.delenv("ASSETSTORE_STORAGE_PROVIDER")
    monkeypatch.setenv("ASSETSTORE_STORAGE_PROVDER", "local")
    code, out, err = cli("pull", "m")
    assert code == 0 and out.strip().endswith("m/0.0")  # what the assets dir holds
    assert "ASSETSTORE_STORAGE_PROVDER is not an assetstore setting" in err, err
    assert "did you mean ASSETSTORE_STORAGE_PROVIDER?" in err
    assert "pre-downloaded mode" in err and "ASSETSTORE_STORAGE_BUCKET is set" in err


def test_an_unknown_variable_far_from_any_name_is_still_reported(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _use(monkeypatch, ASSETSTORE_ASSETS_DIR=str(tmp_path), ASSETSTORE_FROBNICATE="1")
    code, _, err = cli("list")
    assert code == 0
    assert (
        err == "assetstore: warning: ASSETSTORE_FROBNICATE is not an assetstore setting, ignored\n"
    )


def test_a_correct_environment_warns_of_nothing(cli: Cli, local_env: dict[str, str]) -> None:
    assert cli("list") == (0, "", "")


def test_a_config_file_without_stores_is_no_store(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "assetstore.yaml"
    config.write_text("storage:\n  backends:\n    x: {type: local, path: ./bucket}\n")
    _use(monkeypatch, ASSETSTORE_CONFIG=str(config), ASSETSTORE_ASSETS_DIR=str(tmp_path / "a"))
    code, out, _ = cli("config", "show")
    assert code == 0
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()}
    assert rows["store"] == "(unset)" and rows["provider"] == "(unset)"


# -- 3. verify with nothing to verify -----------------------------------------------------------
def test_verify_of_a_missing_or_empty_assets_dir_fails(
    cli: Cli, local_env: dict[str, str], tmp_path: Path
) -> None:
    code, out, err = cli("--assets-dir", str(tmp_path / "nope"), "verify")
    assert (code, out) == (6, "") and str(tmp_path / "nope") in err, err
    (tmp_path / "empty").mkdir()
    code, out, err = cli("--assets-dir", str(tmp_path / "empty"), "verify")
    assert (code, out) == (3, "") and "holds no version" in err, err


# -- 6. prune of what it cannot use -----------------------------------------------------------
def test_prune_refuses_a_version_and_reports_an_unknown_name(
    cli: Cli, local_env: dict[str, str], make_tree: Tree
) -> None:
    for data in (b"1", b"2"):
        assert cli("push", str(make_tree({"a": data})), "models/bert")[0] == 0
        assert cli("pull", "models/bert")[0] == 0
    code, _, err = cli("prune", "models/bert:0.1")
    assert code == 2 and "asset names, not versions" in err, err
    code, _, err = cli("prune", "models/nope")
    assert code == 3 and "no cached version of models/nope" in err, err
    assert cli("versions", "models/bert")[1] == "0.1\n0.0\n"  # nothing was pruned
    code, out, _ = cli("prune", "models/bert")
    assert (code, out) == (0, "removed models/bert:0.0 (1 B)\n")


# -- 8. a credentials file that is not there ------------------------------------------------------
def test_a_missing_credentials_file_is_a_configuration_error(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _use(monkeypatch, ASSETSTORE_STORAGE_PROVIDER="gcs", ASSETSTORE_STORAGE_BUCKET="b",
         ASSETSTORE_ASSETS_DIR=str(tmp_path))  # fmt: skip
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nope/sa.json")
    code, _, err = cli("list")
    assert code == 6
    assert err == (
        "assetstore: error: GOOGLE_APPLICATION_CREDENTIALS='/nope/sa.json' is invalid: "
        "credentials file not found\n"
    )


# -- 10. misleading errors ------------------------------------------------------------------
def test_a_pre_downloaded_miss_names_the_dir_and_the_mode(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _use(monkeypatch, ASSETSTORE_ASSETS_DIR=str(tmp_path))
    code, _, err = cli("pull", "models/bert")
    assert code == 3
    assert f"the assets dir {tmp_path} (pre-downloaded mode: no storage provider)" in err, err


def test_copy_without_a_config_file_says_what_is_missing(
    cli: Cli, local_env: dict[str, str]
) -> None:
    code, _, err = cli("copy", "m:0.0", "--from", "assets", "--to", "prod")
    assert code == 6
    assert "store 'assets' is named, but no config file declares stores" in err
    assert "--store" not in err


def test_an_sdk_older_than_required_is_named(local_env: dict[str, str], tmp_path: Path) -> None:
    """An s3fs that a later install pulled back to 0.4.2, as its metadata says."""
    site = tmp_path / "site"
    (site / "s3fs-0.4.2.dist-info").mkdir(parents=True)
    (site / "s3fs-0.4.2.dist-info" / "METADATA").write_text("Name: s3fs\nVersion: 0.4.2\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path]),
           "ASSETSTORE_STORAGE_PROVIDER": "s3", "ASSETSTORE_STORAGE_BUCKET": "b"}  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "assetstore", "list"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 6, done.stderr
    assert (
        "needs s3fs>=2024.6.0, but 0.4.2 is installed: pip install 'assetstore[s3]'" in done.stderr
    )


# -- 13. smaller ----------------------------------------------------------------------------------
def test_a_file_name_with_brackets_can_be_addressed(
    cli: Cli, local_env: dict[str, str], make_tree: Tree
) -> None:
    source = make_tree({"bracket[1].txt": b"one", "a]b/c.txt": b"two"})
    assert cli("push", str(source), "data")[1] == "data:0.0\n"
    code, out, _ = cli("pull", "data:0.0[bracket[1].txt]")
    assert code == 0 and Path(out.strip()).read_bytes() == b"one"
    code, out, _ = cli("pull", "data[a]b/c.txt]")
    assert code == 0 and Path(out.strip()).read_bytes() == b"two"


def test_not_found_errors_name_their_backend(local_env: dict[str, str], make_tree: Tree) -> None:
    store = AssetStore.from_env()
    store.push(make_tree({"a": b"1"}), "m")
    for call in (lambda: store.resolve("m:3"), lambda: store.versions("nope"),
                 lambda: store.info("m:0.9")):  # fmt: skip
        with pytest.raises(AssetNotFoundError) as info:
            call()
        assert info.value.backend == store.remote.url
        assert store.remote.url in str(info.value)


def test_a_deploy_dir_holds_the_versions_and_their_manifests_only(
    cli: Cli, local_env: dict[str, str], make_tree: Tree, tmp_path: Path
) -> None:
    source = make_tree({"big.bin": os.urandom(17 * 2**20), "small.txt": b"s"})
    assert cli("push", str(source), "m")[0] == 0
    assert cli("pull", "m", "--to", str(tmp_path / "deploy"))[0] == 0
    found = {
        str(p.relative_to(tmp_path / "deploy"))
        for p in (tmp_path / "deploy").rglob("*")
        if not p.is_dir()
    }
    assert found == {"m/0.0/big.bin", "m/0.0/small.txt", ".assetstore/manifests/m/0.0.json"}
