"""The shared catalog on a real PostgreSQL server, and schema migrations."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy
from conftest import run_cli_process

from assetstore import AssetStore, BackendError
from assetstore.catalog.sql import SCHEMA_VERSION, Catalog, engine_for

Tree = Callable[..., Path]
Cli = Callable[..., tuple[int, str, str]]
pytestmark = pytest.mark.integration

V1_SCHEMA = """
CREATE TABLE {p}meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
CREATE TABLE {p}assets (id INTEGER PRIMARY KEY, backend VARCHAR NOT NULL, name VARCHAR NOT NULL,
  UNIQUE (backend, name));
CREATE TABLE {p}versions (id INTEGER PRIMARY KEY,
  asset_id INTEGER REFERENCES {p}assets(id) ON DELETE CASCADE, major INTEGER NOT NULL,
  minor INTEGER NOT NULL, kind VARCHAR NOT NULL, total_size BIGINT NOT NULL,
  file_count INTEGER NOT NULL, pushed_at TIMESTAMP NOT NULL, pushed_by VARCHAR NOT NULL,
  metadata_json TEXT, UNIQUE (asset_id, major, minor));
CREATE TABLE {p}files (id INTEGER PRIMARY KEY,
  version_id INTEGER REFERENCES {p}versions(id) ON DELETE CASCADE, path TEXT, size BIGINT NOT NULL,
  sha256 VARCHAR NOT NULL);
INSERT INTO {p}meta VALUES ('schema_version', '1');
INSERT INTO {p}assets VALUES (1, 'local:///b/assets', 'models/old');
INSERT INTO {p}versions
  VALUES (1, 1, 0, 3, 'file', 12, 1, '2025-01-01 00:00:00', 'ci@host', '{{}}');
INSERT INTO {p}files VALUES (1, 1, 'w.bin', 12, 'sha256:{sha}');
"""


@pytest.fixture
def team(
    local_env: dict[str, str], postgres_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> dict[str, str]:
    monkeypatch.setenv("ASSETSTORE_CATALOG_URL", postgres_url)
    return {**local_env, "ASSETSTORE_CATALOG_URL": postgres_url}


def test_a_push_on_one_machine_is_seen_on_another_at_once(
    team: dict[str, str], make_tree: Tree, tmp_path: Path
) -> None:
    machine_a = AssetStore.from_env(assets_dir=str(tmp_path / "a"))
    machine_b = AssetStore.from_env(assets_dir=str(tmp_path / "b"))
    machine_a.push(make_tree({"f": b"1"}), "models/bert", metadata={"run": "42"})
    [entry] = machine_b.history("models/bert")
    assert (str(entry.version), entry.metadata) == ("0.0", {"run": "42"})
    assert [str(v) for v in machine_b.versions("models/bert")] == ["0.0"]
    assert machine_b.info("models/bert").metadata == {"run": "42"}
    assert machine_b.names() == ["models/bert"]


def test_unpinned_pushes_racing_on_postgres_get_distinct_versions(
    team: dict[str, str], make_tree: Tree, store: AssetStore
) -> None:
    sources = [make_tree({"who": str(n).encode()}) for n in range(6)]
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda s: run_cli_process(["push", str(s), "m"], team), sources))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    specs = sorted(r.stdout.strip() for r in results)
    assert specs == [f"m:0.{n}" for n in range(6)]
    assert [f"m:{e.version}" for e in store.history("m")] == specs
    assert {(store.get(s) / "who").read_bytes() for s in specs} == {
        str(n).encode() for n in range(6)
    }
    assert all("warning" not in r.stderr for r in results)


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_an_old_catalog_is_upgraded_in_place_keeping_its_rows(
    database: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'old.db'}"
        if database == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        for statement in V1_SCHEMA.format(p="assetstore_", sha="a" * 64).split(";"):
            if statement.strip():
                connection.execute(sqlalchemy.text(statement))
    engine.dispose()
    monkeypatch.setenv("ASSETSTORE_CATALOG_URL", url)
    monkeypatch.setenv("ASSETSTORE_STORAGE_PROVIDER", "local")
    monkeypatch.setenv("ASSETSTORE_STORAGE_BUCKET", str(tmp_path / "b"))
    code, out, err = cli("catalog", "upgrade", "--json")
    assert code == 0, err
    assert json.loads(out) == {"from": 1, "to": SCHEMA_VERSION}
    catalog = Catalog(engine_for(url))
    [old] = catalog.entries("local:///b/assets")
    assert (old.name, str(old.version), old.pushed_by, old.missing_since) == (
        "models/old",
        "0.3",
        "ci@host",
        None,
    )
    assert catalog.upgraded_from == SCHEMA_VERSION
    assert catalog.moves("local:///b/assets", "models/old") == []  # v3's table is there
    assert json.loads(cli("catalog", "upgrade", "--json")[1]) == {
        "from": SCHEMA_VERSION,
        "to": SCHEMA_VERSION,
    }


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    catalog = Catalog(engine_for(url))
    with catalog.engine.begin() as connection:
        connection.execute(sqlalchemy.text("UPDATE assetstore_meta SET value = '99'"))
    from assetstore import ConfigError

    with pytest.raises(ConfigError, match="schema v99, newer than this assetstore"):
        Catalog(engine_for(url))


def test_table_prefix_keeps_catalogs_apart(
    postgres_url: str, store: AssetStore, make_tree: Tree
) -> None:
    store.push(make_tree({"a": b"1"}), "m")
    manifest = store.info("m:0.0")
    one = Catalog(engine_for(postgres_url), table_prefix="team_a_")
    two = Catalog(engine_for(postgres_url), table_prefix="team_b_")
    one.record("x", manifest)
    assert len(one.entries("x")) == 1 and two.entries("x") == []
    tables = sqlalchemy.inspect(engine_for(postgres_url)).get_table_names()
    assert {"team_a_versions", "team_b_versions"} <= set(tables)


def test_an_unreachable_catalog_fails_catalog_commands_with_7_but_not_pulls(
    local_env: dict[str, str], make_tree: Tree, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from servers import free_port

    assert cli("push", str(make_tree({"a": b"1"})), "m")[0] == 0
    assert cli("push", str(make_tree({"a": b"2"})), "m")[0] == 0
    assert cli("pull", "m:0.0")[0] == 0
    monkeypatch.setenv(
        "ASSETSTORE_CATALOG_URL", f"postgresql+psycopg://u:pw-Secret9@127.0.0.1:{free_port()}/x"
    )
    started = time.monotonic()
    code, out, err = cli("catalog", "history")
    assert (code, out) == (7, "") and time.monotonic() - started < 15
    assert "pw-Secret9" not in err and "catalog" in err
    assert cli("pull", "m:0.0")[0] == 0  # cached, pinned
    assert cli("pull", "m:0.1")[0] == 0  # remote, pinned: the bucket is the source of truth
    code, out, err = cli("push", str(make_tree({"a": b"3"})), "m")
    assert (code, out) == (0, "m:0.2\n") and "catalog sync" in err and "pw-Secret9" not in err


def test_engines_are_shared_per_database(postgres_url: str) -> None:
    assert engine_for(postgres_url) is engine_for(postgres_url)
    with pytest.raises(BackendError):
        Catalog(engine_for(postgres_url.rsplit("/", 1)[0] + "/no_such_database"))


def test_syncs_racing_each_other_and_a_push_never_fail(
    local_env: dict[str, str], postgres_url: str, make_tree: Tree
) -> None:
    """Two ``catalog sync`` at once, and a sync meeting an insert another transaction
    holds open: every insert is idempotent, so each waits for the other and finishes;
    nothing is rolled back, nothing is indexed twice."""
    import threading

    store = AssetStore.from_env()  # the default SQLite catalog: PostgreSQL knows nothing
    for i in range(6):
        store.push(make_tree({"f": bytes([i])}), f"m{i}")
    team = {**local_env, "ASSETSTORE_CATALOG_URL": postgres_url}
    Catalog(engine_for(postgres_url))  # the schema, so the held insert below has a table
    held = sqlalchemy.create_engine(postgres_url).connect()
    transaction = held.begin()
    held.execute(
        sqlalchemy.text("INSERT INTO assetstore_assets (backend, name) VALUES (:b, 'm0')"),
        {"b": store.remote.url},
    )
    results: list[tuple[int, str]] = []

    def sync() -> None:
        done = run_cli_process(["catalog", "sync", "--json"], team)
        results.append((done.returncode, done.stderr))

    threads = [threading.Thread(target=sync) for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(2)  # both syncs now wait on the row the open transaction inserted
    transaction.commit()
    held.close()
    for thread in threads:
        thread.join(timeout=120)
    assert [code for code, _ in results] == [0, 0], results
    team_store = AssetStore.from_env(team)
    entries = team_store.history()
    assert sorted(f"{e.name}:{e.version}" for e in entries) == [f"m{i}:0.0" for i in range(6)]
    again = run_cli_process(["catalog", "sync", "--json"], team)
    assert again.returncode == 0 and json.loads(again.stdout)["unchanged"] == 6


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_the_alias_journals_are_indexed_and_rebuilt_by_sync(
    database: str, request: pytest.FixtureRequest, local_env: dict[str, str], cli: Cli,
    make_tree: Tree, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:  # fmt: skip
    url = (
        f"sqlite:///{tmp_path / 'team.db'}"
        if database == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    monkeypatch.setenv("ASSETSTORE_CATALOG_URL", url)
    for data in (b"zero", b"one"):
        assert cli("push", str(make_tree({"a": data})), "m")[0] == 0
    assert cli("alias", "set", "m@prod", "0.0", "--reason", "first")[0] == 0
    assert cli("alias", "set", "m@prod", "0.1")[0] == 0
    store = AssetStore.from_env()
    indexed = store.catalog.moves(store.remote.url, "m")
    assert [(m.number, str(m.version), m.reason) for m in indexed] == [
        (1, "0.0", "first"),
        (2, "0.1", None),
    ]
    assert indexed == store.aliases.history("m@prod")[::-1]  # the bucket's journal, as it is
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:  # the index lost, the journal in the bucket not
        connection.execute(sqlalchemy.text("DELETE FROM assetstore_alias_moves"))
    engine.dispose()
    code, out, _ = cli("catalog", "sync", "--json")
    assert code == 0 and json.loads(out)["alias_moves_added"] == 2
    assert store.catalog.moves(store.remote.url, "m") == indexed
    assert json.loads(cli("catalog", "sync", "--json")[1])["alias_moves_added"] == 0
