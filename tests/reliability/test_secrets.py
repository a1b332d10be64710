"""Secrets never show: every command runs with credentials in the environment (AWS
keys, a session token, a catalog password in its URL, an Azure account key) and in the
config file (another S3 secret, another catalog password), on success and on failure,
with ``--debug``; no secret may appear in stdout, stderr, the ``assetstore`` logger's
records or any exception message (the whole chain of causes).

One deliberate exception: a presigned S3 URL made with temporary credentials must carry
the session token (``X-Amz-Security-Token``) or it does not work; the URL is then a
secret itself, for its lifetime. The secret key never appears in it.
"""

from __future__ import annotations

import json
import logging
import re
import traceback
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from conftest import run_cli_process

from assetstore import AssetStore
from assetstore.errors import AssetStoreError

from .support import S3, servers

Cli = Callable[..., tuple[int, str, str]]
pytestmark = pytest.mark.integration


def _secret(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex}"


SECRETS = {
    "AWS_SECRET_ACCESS_KEY": _secret("envS3cret"),
    "AWS_SESSION_TOKEN": _secret("envT0ken"),
    "catalog password (env URL)": _secret("envPgPass"),
    "AZURE account key (env)": _secret("envAzKey"),
    "secret_access_key (file)": _secret("fileS3cret"),
    "catalog password (file)": _secret("filePgPass"),
}
_TOKEN_PARAM = re.compile(r"X-Amz-Security-Token=[^&\s\"]+")


def assert_clean(text: str, where: str, *, url_token_ok: bool = False) -> None:
    if url_token_ok:  # only inside the parameter that must carry it, nowhere else
        text = _TOKEN_PARAM.sub("X-Amz-Security-Token=<token>", text)
    for name, secret in SECRETS.items():
        for form in {secret, quote(secret, safe="")}:
            assert form not in text, f"{name} shows in {where}:\n{text[:2000]}"


class _Records(logging.Handler):
    """Every record of the ``assetstore`` logger, at every level, formatted."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def world(
    moto_s3: S3, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """The process environment (for in-process CLI runs) and the same as a dict (for
    CLI processes): a default store on S3 with env credentials and an env catalog URL,
    and a config file whose `mirror` store and catalog carry their own secrets."""
    main, mirror = moto_s3.bucket("secrets-main"), moto_s3.bucket("secrets-mirror")
    pg = urlsplit(postgres_url)  # trust auth: any password is accepted, none is needed
    config = tmp_path / "assetstore.yaml"
    config.write_text(
        f"""
storage:
  backends:
    main: {{type: s3, bucket: {main}, endpoint_url: "{moto_s3.endpoint_url}",
            access_key_id: fileKeyId, secret_access_key: "{SECRETS["secret_access_key (file)"]}"}}
    mirror: {{type: s3, bucket: {mirror}, endpoint_url: "{moto_s3.endpoint_url}",
              access_key_id: fileKeyId, secret_access_key: "{SECRETS["secret_access_key (file)"]}",
              retry_attempts: 2}}
    db: {{type: sql_postgres, host: "{pg.hostname}", port: {pg.port}, db: "{pg.path[1:]}",
          user: postgres, password: "{SECRETS["catalog password (file)"]}"}}
  stores:
    assets: {{backend: main, prefix: assets}}
    mirror: {{backend: mirror, prefix: assets}}
    catalog: {{backend: db, table_prefix: sec_}}
"""
    )
    env_url = postgres_url.replace(
        "postgres@", f"postgres:{SECRETS['catalog password (env URL)']}@", 1
    )
    env = {
        **moto_s3.env(main),
        "AWS_ACCESS_KEY_ID": "AKIAENVKEYID",
        "AWS_SECRET_ACCESS_KEY": SECRETS["AWS_SECRET_ACCESS_KEY"],
        "AWS_SESSION_TOKEN": SECRETS["AWS_SESSION_TOKEN"],
        "ASSETSTORE_CATALOG_URL": env_url,
        "AZURE_STORAGE_CONNECTION_STRING": "DefaultEndpointsProtocol=https;AccountName=acct;"
        f"AccountKey={SECRETS['AZURE account key (env)']};EndpointSuffix=core.windows.net",
        "ASSETSTORE_CONFIG": str(config),
        "ASSETSTORE_ASSETS_DIR": str(tmp_path / "assets"),
        "ASSETSTORE_RETRY_ATTEMPTS": "2",
        "ASSETSTORE_CONNECT_TIMEOUT_SECONDS": "1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    logger = logging.getLogger("assetstore")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    records = _Records()
    logger.addHandler(records)
    yield env
    # In-process CLI runs replace the logger's handlers with one on the (captured, then
    # closed) stderr of the moment: put things back as they were.
    logger.handlers[:], logger.level, logger.propagate = saved
    assert_clean("\n".join(records.lines), "the assetstore logger's records")


def _source(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    (folder / "d").mkdir(parents=True, exist_ok=True)
    (folder / "a.txt").write_text("asset")
    (folder / "d" / "b.txt").write_text("more")
    return folder


def test_no_command_shows_a_secret(world: dict[str, str], cli: Cli, tmp_path: Path) -> None:
    source = str(_source(tmp_path))
    spec = "sec/m:0.0[a.txt]"
    commands: list[tuple[str, ...]] = [
        ("push", source, "sec/m", "--meta", "commit=abc"),
        ("push", source, "sec/m", "--dry-run", "--json"),
        ("push", source, "sec/m", "--json"),
        ("pull", "sec/m"),
        ("pull", "sec/m:0", "--json"),
        ("pull", "sec/m", "--force"),
        ("pull", "sec/m", "--to", str(tmp_path / "deploy")),
        ("list",), ("list", "--json"), ("versions", "sec/m"), ("versions", "sec/m", "--json"),
        ("info", "sec/m"), ("info", "sec/m", "--json"),
        ("url", spec, "--expires", "0"),
        ("verify",), ("verify", "--json"),
        ("prune", "--dry-run"), ("prune", "--keep", "1", "--json"),
        ("copy", "sec/m:0.0", "--from", "assets", "--to", "mirror", "--json"),
        ("repair",), ("repair", "--json"),
        ("alias", "set", "sec/m@prod", "0"), ("alias", "set", "sec/m@prod", "0.0", "--json"),
        ("alias", "list", "sec/m"), ("alias", "history", "sec/m@prod", "--json"),
        ("alias", "rollback", "sec/m@prod"), ("pull", "sec/m@prod", "sec/m:0"),
        ("lock", "sec/m@prod", "sec/m", "-o", str(tmp_path / "assets.lock")),
        ("lock", "--check", "sec/m@prod", "sec/m", "-o", str(tmp_path / "assets.lock")),
        ("sync", str(tmp_path / "assets.lock"), "--to", str(tmp_path / "image")),
        ("sync", "--check", str(tmp_path / "assets.lock"), "--to", str(tmp_path / "image")),
        ("alias", "rm", "sec/m@prod"),
        ("config", "show"), ("config", "show", "--json"),
        ("config", "check"), ("config", "check", "--json"),
        ("catalog", "sync"), ("catalog", "sync", "--json"), ("catalog", "upgrade"),
        ("catalog", "history"), ("catalog", "history", "sec/m", "--json"),
        # the store of the config file, whose own secret (and catalog password) apply
        ("--store", "mirror", "versions", "sec/m"),
        ("--store", "mirror", "push", source, "sec/m"),
        ("--store", "mirror", "config", "show", "--json"),
        ("--store", "mirror", "config", "check"),
    ]  # fmt: skip
    for args in commands:  # --debug: the log records and tracebacks are shown too
        code, out, err = cli("--debug", *args)
        assert code == 0, (args, code, err)
        assert_clean(out + err, f"`assetstore --debug {' '.join(args)}`")
    code, out, err = cli("--store", "mirror", "pull", "sec/m")  # and without it
    assert code == 0
    assert_clean(out + err, "`assetstore --store mirror pull sec/m`")
    code, out, err = cli("--debug", "url", spec)  # presigned with temporary credentials
    assert code == 0 and "X-Amz-Signature=" in out
    assert_clean(out + err, "a presigned URL", url_token_ok=True)


def test_no_failure_shows_a_secret(
    world: dict[str, str], cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    source = str(_source(tmp_path))
    closed = f"http://127.0.0.1:{servers.free_port()}"
    pg_closed = (
        world["ASSETSTORE_CATALOG_URL"].split("@")[0] + f"@127.0.0.1:{servers.free_port()}/x"
    )
    failures: list[tuple[dict[str, str], tuple[str, ...]]] = [
        ({"S3_ENDPOINT": closed}, ("push", source, "sec/f")),
        ({"S3_ENDPOINT": closed}, ("pull", "sec/f")),
        ({"S3_ENDPOINT": closed}, ("config", "check")),
        ({"ASSETSTORE_STORAGE_BUCKET": "no-such-bucket"}, ("list",)),
        ({"ASSETSTORE_CATALOG_URL": pg_closed}, ("catalog", "history")),
        ({"ASSETSTORE_CATALOG_URL": world["ASSETSTORE_CATALOG_URL"] + "%%["}, ("catalog", "sync")),
        (
            {"ASSETSTORE_CATALOG_URL": world["ASSETSTORE_CATALOG_URL"].replace("@", "@[", 1)},
            ("catalog", "history"),
        ),
        ({"ASSETSTORE_S3_SSE": "bogus"}, ("list",)),
        ({}, ("--store", "nope", "list")),
        ({}, ("pull", "sec/never-pushed")),
        ({"S3_ENDPOINT": closed}, ("alias", "set", "sec/f@prod", "0.0")),
        ({"S3_ENDPOINT": closed}, ("lock", "sec/f")),
        ({"ASSETSTORE_RETRY_ATTEMPTS": "zero"}, ("list",)),
    ]
    for extra, args in failures:
        for key, value in extra.items():
            monkeypatch.setenv(key, value)
        code, out, err = cli("--debug", *args)
        assert code not in (0, 1), (args, code, err)
        assert_clean(out + err, f"`assetstore --debug {' '.join(args)}` with {list(extra)}")
        for key in extra:
            monkeypatch.setenv(key, world[key]) if key in world else monkeypatch.delenv(key)
    # A config file that cannot be used names keys and variables, never values.
    config = Path(world["ASSETSTORE_CONFIG"])
    config.write_text(config.read_text().replace("retry_attempts: 2", "retry_atempts: 2"))
    code, _, err = cli("--debug", "--store", "mirror", "list")
    assert code == 6 and "retry_atempts" in err
    assert_clean(err, "a config-file error")


def test_library_exceptions_and_logs_show_no_secret(
    world: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same through the Python API: every exception of every failure, with its
    whole chain of causes (what a service's error tracker would record)."""
    store = AssetStore.from_env()
    mirror = AssetStore.from_env(world, store="mirror")
    # The secrets are really in use (or this test would prove nothing).
    assert store.settings.storage_options["secret"] == SECRETS["AWS_SECRET_ACCESS_KEY"]
    assert store.settings.storage_options["token"] == SECRETS["AWS_SESSION_TOKEN"]
    assert SECRETS["catalog password (env URL)"] in str(store.settings.catalog_url)
    assert mirror.settings.storage_options["secret"] == SECRETS["secret_access_key (file)"]
    assert SECRETS["catalog password (file)"] in str(mirror.settings.catalog_url)
    store.push(_source(tmp_path), "lib/m")
    store.get("lib/m")
    for row in store.settings.describe():
        assert_clean(" ".join(row), "settings.describe()")
    closed = f"http://127.0.0.1:{servers.free_port()}"
    pg_closed = (
        world["ASSETSTORE_CATALOG_URL"].split("@")[0] + f"@127.0.0.1:{servers.free_port()}/x"
    )
    attempts: list[tuple[dict[str, str], Callable[[AssetStore], object]]] = [
        ({"S3_ENDPOINT": closed}, lambda s: s.versions("lib/m")),
        ({"S3_ENDPOINT": closed}, lambda s: s.push(_source(tmp_path), "lib/x")),
        ({"ASSETSTORE_STORAGE_BUCKET": "no-such-bucket"}, lambda s: s.names()),
        ({"ASSETSTORE_CATALOG_URL": pg_closed}, lambda s: s.history()),
        (
            {"ASSETSTORE_CATALOG_URL": world["ASSETSTORE_CATALOG_URL"].replace("@", "@[", 1)},
            lambda s: s.history(),
        ),
        ({}, lambda s: s.get("lib/absent")),
    ]
    for extra, action in attempts:
        with pytest.raises(AssetStoreError) as info:
            action(AssetStore.from_env({**world, **extra}))
        chain = "".join(traceback.format_exception(info.value))
        assert_clean(chain, f"the exception chain of {list(extra)}")
    mirror.push(_source(tmp_path), "lib/y:1.0")
    with pytest.raises(AssetStoreError) as info:
        mirror.push(_source(tmp_path), "lib/y:1.0")
    assert_clean("".join(traceback.format_exception(info.value)), "a mirror push")
    assert json.dumps(store.info("lib/m").to_dict())  # manifests hold no credential
    assert_clean(json.dumps(store.info("lib/m").to_dict()), "a manifest")


def test_secrets_stay_out_of_a_real_process(world: dict[str, str], tmp_path: Path) -> None:
    """Across a process boundary too (stderr as a terminal-less pipe, --debug)."""
    closed = f"http://127.0.0.1:{servers.free_port()}"
    for env, args in [
        (world, ["--debug", "push", str(_source(tmp_path)), "proc/m"]),
        (world, ["--debug", "config", "show"]),
        ({**world, "S3_ENDPOINT": closed}, ["--debug", "pull", "proc/m"]),
    ]:
        done = run_cli_process(args, env)
        assert_clean(done.stdout + done.stderr, f"`assetstore {' '.join(args)}` (a process)")
