from __future__ import annotations

from pathlib import Path

import pytest

from assetstore import AssetStore, ConfigError, Settings


def test_defaults_without_any_variable(tmp_path: Path) -> None:
    settings = Settings.load({"XDG_CACHE_HOME": str(tmp_path)})
    assert settings.assets_dir == tmp_path / "assetstore"
    assert settings.offline and settings.prefix == "assets"
    assert settings.sources["assets_dir"] == "default"


def test_precedence_argument_over_env_over_default(tmp_path: Path) -> None:
    env = {"ASSETSTORE_STORAGE_PREFIX": "from-env", "ASSETSTORE_WORKERS": "3"}
    settings = Settings.load(env, overrides={"prefix": "from-arg", "assets_dir": str(tmp_path)})
    assert (settings.prefix, settings.sources["prefix"]) == ("from-arg", "argument")
    assert (settings.workers, settings.sources["workers"]) == (3, "env ASSETSTORE_WORKERS")
    flagged = Settings.load(env, overrides={"prefix": "p"}, override_source="flag")
    assert flagged.sources["prefix"] == "flag"


def test_settings_are_read_when_a_store_is_created(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ASSETSTORE_ASSETS_DIR", str(tmp_path / "one"))
    first = AssetStore.from_env()
    monkeypatch.setenv("ASSETSTORE_ASSETS_DIR", str(tmp_path / "two"))
    assert AssetStore.from_env().settings.assets_dir != first.settings.assets_dir


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"ASSETSTORE_STORAGE_PROVIDER": "ftp"}, "choose one of az, gcs, local, memory, s3"),
        ({"ASSETSTORE_STORAGE_PROVIDER": "s3"}, "needs a bucket"),
        ({"ASSETSTORE_WORKERS": "0"}, "ASSETSTORE_WORKERS='0' is invalid"),
        ({"ASSETSTORE_WORKERS": "many"}, "ASSETSTORE_WORKERS='many' is invalid"),
        ({"ASSETSTORE_USE_LOCKS": "maybe"}, "ASSETSTORE_USE_LOCKS"),
        ({"ASSETSTORE_STORAGE_PREFIX": "a/../b"}, "invalid storage prefix"),
    ],
)
def test_bad_settings_are_config_errors(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")) as info:
        Settings.load(env)
    assert info.value.exit_code == 6


def test_provider_options_come_from_the_clouds_own_variables() -> None:
    env = {
        "ASSETSTORE_STORAGE_PROVIDER": "s3",
        "ASSETSTORE_STORAGE_BUCKET": "b",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG",
        "S3_ENDPOINT": "http://127.0.0.1:9000",
        "AWS_KMS_KEY_ID": "kms-123",
    }
    options = Settings.load(env).storage_options
    assert options["key"] == "AKIAEXAMPLE" and options["secret"] == "wJalrXUtnFEMI/K7MDENG"
    assert options["client_kwargs"] == {"endpoint_url": "http://127.0.0.1:9000"}
    assert options["s3_additional_kwargs"] == {
        "ServerSideEncryption": "aws:kms",
        "SSEKMSKeyId": "kms-123",
    }


def test_describe_masks_secrets() -> None:
    env = {
        "ASSETSTORE_STORAGE_PROVIDER": "az",
        "ASSETSTORE_STORAGE_BUCKET": "c",
        "AZURE_STORAGE_CONNECTION_STRING": "AccountName=a;AccountKey=c2VjcmV0a2V5;EndpointSuffix=x",
        "ASSETSTORE_CATALOG_URL": "postgresql+psycopg://bob:hunter2@db/assets",
    }
    shown = repr(Settings.load(env).describe())
    assert "c2VjcmV0a2V5" not in shown and "hunter2" not in shown
    assert "AccountName=a;AccountKey=***" in shown and "bob:***@db" in shown


def test_overrides_are_parsed_as_their_variables_are(tmp_path: Path) -> None:
    store = AssetStore.from_env({}, assets_dir=str(tmp_path), use_locks="false", workers="8")
    assert store.settings.use_locks is False and store.settings.workers == 8
    assert AssetStore.from_env({}, assets_dir=tmp_path, use_locks=True).settings.use_locks


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ({"workers": 0}, "workers=0 is invalid: must be at least 1"),
        ({"workers": "many"}, "workers='many' is invalid"),
        ({"url_expires": -5}, "url_expires=-5 is invalid"),
        ({"part_size_mib": 1}, "part_size_mib=1 is invalid"),
        ({"use_locks": "maybe"}, "use_locks='maybe' is invalid"),
        ({"retry_deadline_seconds": "soon"}, "retry_deadline_seconds='soon' is invalid"),
    ],
)
def test_a_bad_override_is_a_config_error(
    tmp_path: Path, override: dict[str, object], fragment: str
) -> None:
    with pytest.raises(ConfigError, match=fragment):
        AssetStore.from_env({}, assets_dir=tmp_path, **override)
