"""Named backends in a config file: substitution, validation, precedence, redaction."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from assetstore import AssetStore, ConfigError, Settings

Cli = Callable[..., tuple[int, str, str]]

TEAM = """
storage:
  backends:
    prod:
      type: s3
      bucket: ${env.ASSET_BUCKET}
      region: ${env.AWS_REGION:=eu-west-3}
      endpoint_url: ${env.S3_ENDPOINT_URL:=}
      secret_access_key: ${env.TEAM_SECRET:=}
      kms_key_id: ${env.KMS:=}
    dev:
      type: local
      path: ./dev-bucket
    catalog_db:
      type: sql_postgres
      host: ${env.PGHOST:=localhost}
      db: assetstore
      user: ${env.PGUSER:=assets}
      password: ${env.PGPASSWORD}
  stores:
    assets: {backend: prod, prefix: team}
    staging: {backend: dev, prefix: staging}
    catalog: {backend: catalog_db, table_prefix: as_}
"""

OK = {"ASSET_BUCKET": "b", "PGPASSWORD": "p"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "assetstore.yaml"
    path.write_text(text)
    return path


def load(path: Path, **env: str) -> Settings:
    return Settings.load({"ASSETSTORE_CONFIG": str(path), **env})


def test_the_assets_store_of_the_file_is_the_default(tmp_path: Path) -> None:
    settings = load(write(tmp_path, TEAM), ASSET_BUCKET="team-assets", PGPASSWORD="pw")
    assert (settings.provider, settings.bucket, settings.prefix) == ("s3", "team-assets", "team")
    assert settings.storage_options["client_kwargs"] == {"region_name": "eu-west-3"}
    assert "endpoint_url" not in settings.storage_options["client_kwargs"]  # empty default: unset
    assert settings.catalog_url == "postgresql+psycopg://assets:pw@localhost:5432/assetstore"
    assert settings.table_prefix == "as_"
    assert settings.sources["bucket"].endswith("storage.backends.prod")


def test_a_named_store_is_chosen_explicitly(tmp_path: Path) -> None:
    settings = Settings.load(
        {"ASSETSTORE_CONFIG": str(write(tmp_path, TEAM)), "ASSET_BUCKET": "b", "PGPASSWORD": "p",
         "ASSETSTORE_STORAGE_PREFIX": "from-env"},
        overrides={"store": "staging"},
    )  # fmt: skip
    assert settings.provider == "local"
    assert settings.bucket == str(tmp_path / "dev-bucket")  # relative to the file
    assert settings.prefix == "staging"  # a store chosen by name beats the environment


def test_the_environment_beats_the_file_and_flags_beat_both(tmp_path: Path) -> None:
    path = write(tmp_path, TEAM)
    env = {"ASSET_BUCKET": "b", "PGPASSWORD": "p", "ASSETSTORE_STORAGE_PREFIX": "env-prefix"}
    settings = load(path, **env)
    assert (settings.prefix, settings.sources["prefix"]) == (
        "env-prefix",
        "env ASSETSTORE_STORAGE_PREFIX",
    )
    flagged = Settings.load(
        {"ASSETSTORE_CONFIG": str(path), **env},
        overrides={"prefix": "flag"},
        override_source="flag",
    )
    assert (flagged.prefix, flagged.sources["prefix"]) == ("flag", "flag")


@pytest.mark.parametrize(
    ("text", "env", "fragments"),
    [
        (TEAM, {"PGPASSWORD": "p"}, ["storage.backends.prod.bucket", "ASSET_BUCKET is not set"]),
        (TEAM.replace("backend: prod", "backend: nowhere"), OK,
         ["storage.stores.assets.backend", "'nowhere'", "choices: dev, prod"]),
        (TEAM.replace("backend: dev,", "backend: catalog_db,"), OK,
         ["storage.stores.staging.backend", "'catalog_db'", "object-store", "choices: dev, prod"]),
        (TEAM.replace("backend: catalog_db", "backend: prod"), OK,
         ["storage.stores.catalog.backend", "'prod'", "SQL", "choices: catalog_db"]),
        (TEAM.replace("type: local", "type: ftp"), OK,
         ["storage.backends.dev.type", "'ftp'", "choices: s3"]),
        (TEAM.replace("path: ./dev-bucket", "paht: ./dev-bucket"), OK,
         ["storage.backends.dev", "unknown key 'paht'", "valid keys: "]),
        (TEAM.replace("${env.ASSET_BUCKET}", "${ASSET_BUCKET}"), {"PGPASSWORD": "p"},
         ["only ${env.NAME}"]),
        ("storage: [1, 2]", {}, ["storage: expected a mapping"]),
        ("storage: {backends: {}}\nextra: 1", {}, ["unknown top-level key 'extra'"]),
        ("storage: {backends: {a: {type: local}", {}, ["cannot read config file"]),
    ],
)  # fmt: skip
def test_bad_files_fail_at_load_naming_the_key(
    tmp_path: Path, text: str, env: dict[str, str], fragments: list[str]
) -> None:
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, text), **env)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_an_unknown_store_name_lists_the_choices(tmp_path: Path) -> None:
    env = {"ASSETSTORE_CONFIG": str(write(tmp_path, TEAM)), "ASSET_BUCKET": "b", "PGPASSWORD": "p"}
    with pytest.raises(ConfigError, match="no store named 'archive'; choices: assets, catalog"):
        Settings.load(env, overrides={"store": "archive"})


def test_a_missing_variable_exits_6_naming_it(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSETSTORE_CONFIG", str(write(tmp_path, TEAM)))
    code, out, err = cli("list")
    assert (code, out) == (6, "")
    assert "ASSET_BUCKET is not set" in err and len(err.splitlines()) == 1


def test_config_show_names_the_file_key_and_masks_secrets(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, TEAM)
    monkeypatch.setenv("ASSET_BUCKET", "team-assets")
    monkeypatch.setenv("PGPASSWORD", "pg-S3cret-value")
    monkeypatch.setenv("TEAM_SECRET", "aws-S3cret-value")
    code, out, err = cli("--config", str(path), "config", "show", "--json")
    shown = json.loads(out)
    assert code == 0, err
    assert shown["bucket"]["source"] == f"config {path}: storage.backends.prod"
    assert shown["storage.secret"]["value"] == "***"
    assert "pg-S3cret-value" not in out and "aws-S3cret-value" not in out
    assert "postgresql+psycopg://assets:***@localhost" in shown["catalog_url"]["value"]


def test_a_local_only_file_runs_the_whole_job(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path, """
storage:
  backends:
    dev: {type: local, path: ./bucket}
    archive_disk: {type: local, path: ./archive}
    lite: {type: sql_sqlite, path: ./catalog.db}
  stores:
    assets: {backend: dev}
    archive: {backend: archive_disk, prefix: old}
    catalog: {backend: lite}
""")  # fmt: skip
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ASSETSTORE_ASSETS_DIR", str(tmp_path / "cache"))
    (tmp_path / "w.bin").write_bytes(b"weights")
    assert config.name == "assetstore.yaml"  # found in the working directory, no variable
    assert cli("push", "w.bin", "models/w", "--meta", "k=v")[:2] == (0, "models/w:0.0\n")
    assert cli("copy", "models/w", "--from", "assets", "--to", "archive")[:2] == (
        0,
        "models/w:0.0\n",
    )
    assert (tmp_path / "archive/old/models/w/0.0/w.bin").read_bytes() == b"weights"
    code, out, _ = cli("--store", "archive", "info", "models/w", "--json")
    assert code == 0 and json.loads(out)["metadata"] == {"k": "v"}
    assert (tmp_path / "catalog.db").exists()
    history = json.loads(cli("--store", "archive", "catalog", "history", "--json")[1])
    assert [h["version"] for h in history] == ["0.0"]
    code, _, err = cli("copy", "models/w", "--from", "assets", "--to", "archive")
    assert code == 4 and "already exists" in err


def test_copy_across_backends_streams_and_verifies(
    store: AssetStore, make_tree: Callable[..., Path], tmp_path: Path
) -> None:
    store.push(make_tree({"a": b"1" * 100_000, "b/c": b"2"}), "m", metadata={"git": "abc"})
    memory = AssetStore.from_env(provider="memory", bucket=f"copy-{tmp_path.name}")
    copied = store.copy_to(memory, "m")
    assert copied.spec == "m:0.0" and copied.metadata == {"git": "abc"}
    assert memory.info("m:0.0").pushed_at == store.info("m:0.0").pushed_at
    assert (memory.get("m:0.0") / "a").read_bytes() == b"1" * 100_000


def test_copy_refuses_tampered_source_bytes(
    store: AssetStore, make_tree: Callable[..., Path], tmp_path: Path, local_env: dict[str, str]
) -> None:
    from assetstore import IntegrityError, Version

    store.push(make_tree({"a": b"good"}), "m")
    (Path(local_env["ASSETSTORE_STORAGE_BUCKET"]) / "assets/m/0.0/a").write_bytes(b"evil")
    memory = AssetStore.from_env(provider="memory", bucket=f"tamper-{tmp_path.name}")
    with pytest.raises(IntegrityError):
        store.copy_to(memory, "m:0.0")
    assert memory.remote.versions("m") == [] and memory.remote.taken("m") == []
    assert Version(0, 0) not in memory.remote.versions("m")


def test_common_backend_options_reach_the_settings(tmp_path: Path) -> None:
    path = write(tmp_path, """
storage:
  backends:
    r2:
      type: s3
      bucket: models
      endpoint_url: https://acct.r2.cloudflarestorage.com
      region: auto
      fixed_part_size_mib: 16
      auto_create_bucket: true
      presigned_expiry_secs: 600
      public_url_base: https://cdn.example.com/assets
      retry_attempts: 3
      retry_deadline_secs: 20
      connect_timeout_secs: 2
  stores:
    assets: {backend: r2}
""")  # fmt: skip
    settings = load(path)
    assert settings.part_size_mib == 16 and settings.storage_options["fixed_upload_size"] is True
    assert settings.auto_create_bucket is True and settings.url_expires == 600
    assert settings.public_url_base == "https://cdn.example.com/assets"
    assert (settings.retry_attempts, settings.retry_deadline_seconds) == (3, 20)
    assert settings.connect_timeout_seconds == 2
    assert settings.sources["url_expires"].endswith("storage.backends.r2.presigned_expiry_secs")


SECRET = "hunter2-S3cret-value"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (f"storage:\n  backends:\n    a: {{type: s3, secret_access_key: {SECRET}: x}}\n",
         "line 3, column "),  # PyYAML's own message quotes the line: not this one
        (f"storage:\n  backends:\n    a: {{type: [{SECRET}]}}\n",
         "storage.backends.a.type: a list is not a backend type"),
        (f"storage:\n  backends:\n    a: {{type: s3, password: [{SECRET}]}}\n",
         "storage.backends.a: unknown key 'password'"),
        (f"storage:\n  backends:\n    a: {{type: s3, secret_access_key: [{SECRET}]}}\n",
         "storage.backends.a.secret_access_key: expected a single value, got a list"),
        (f"storage:\n  backends:\n    a: {{type: s3, secret_access_key: !!int {SECRET}}}\n",
         "cannot read this value as int"),
        (f"storage:\n  backends:\n    a: &a {{type: s3, secret_access_key: {SECRET}, x: *a}}\n",
         "storage.backends.a.x: an alias refers to a mapping or list that contains it"),
        (f"storage:\n  backends:\n    a: {{type: s3, 1: {SECRET}}}\n",
         "storage.backends.a: key 1 is not a string"),
        ("storage: " + "{a: " * 500 + "1" + "}" * 500, "nested more than 32 levels deep"),
        ("storage: \udcff", "not UTF-8"),
    ],
)  # fmt: skip
def test_a_malformed_file_exits_6_on_one_line_without_its_values(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, fragment: str
) -> None:
    path = tmp_path / "assetstore.yaml"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    monkeypatch.setenv("ASSETSTORE_CONFIG", str(path))
    code, out, err = cli("list")
    assert (code, out) == (6, "")
    assert len(err.splitlines()) == 1 and str(path) in err and fragment in err, err
    assert SECRET not in err


def test_anchors_and_merge_keys_still_work(tmp_path: Path) -> None:
    settings = load(write(tmp_path, """
storage:
  backends:
    prod: &base {type: s3, bucket: prod-bucket, region: eu-west-1}
    dev: {<<: *base, bucket: dev-bucket}
  stores:
    assets: {backend: dev, prefix: 2024}
"""))  # fmt: skip
    assert (settings.bucket, settings.prefix) == ("dev-bucket", "2024")
    assert settings.storage_options["client_kwargs"] == {"region_name": "eu-west-1"}
