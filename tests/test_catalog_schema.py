"""The sqlite3 write path of the default catalog writes exactly the rows the ORM writes,
and steps aside whenever it cannot."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from assetstore import AssetStore, Manifest, Version
from assetstore.catalog import fast
from assetstore.catalog.reconcile import present_in
from assetstore.catalog.sql import Catalog, engine_for
from assetstore.repository.journal import every_move
from assetstore.repository.marks import every_mark

Tree = Callable[..., Path]
BACKEND = "s3://bucket/prefix"


def _manifests(store: AssetStore, make_tree: Tree) -> list[Manifest]:
    store.push(make_tree({"a": b"12", "b/c": b"345"}), "m", metadata={"k": "v", "é": "ü"})
    store.push(make_tree({"a": b"1", "d/e": b""}), "m")
    store.push(make_tree({"x": b"1"}), "other")
    return [store.info(spec) for spec in ("m:0.0", "m:0.1", "other:0.0")]


def _new_catalog(path: Path, prefix: str = "assetstore_") -> Catalog:
    return Catalog(engine_for(f"sqlite:///{path}"), table_prefix=prefix)


TABLES = ("meta", "assets", "versions", "files", "alias_moves", "lifecycle_events")


def _rows(path: Path, prefix: str = "assetstore_") -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as connection:
        return {
            table: connection.execute(f"SELECT * FROM {prefix}{table} ORDER BY 1").fetchall()
            for table in TABLES
        }


def _flags(path: Path) -> list[tuple[object, ...]]:
    """(major, minor, when it was flagged missing) of every version row."""
    with sqlite3.connect(path) as connection:
        return connection.execute(
            "SELECT major, minor, missing_since FROM assetstore_versions ORDER BY 1, 2"
        ).fetchall()


def _synced_both_ways(store: AssetStore, tmp_path: Path, *, forget: bool = False) -> None:
    """Sync the catalogs orm.db (through SQLAlchemy) and lite.db (through sqlite3) with
    the bucket of ``store``, the same inputs to each; the two reports must match."""
    remote = store.remote
    present = present_in(remote.committed())
    moves, events = list(every_move(remote)), list(every_mark(remote))
    by_orm = _new_catalog(tmp_path / "orm.db").sync(
        BACKEND, present, remote.read_manifests, forget=forget, moves=moves, events=events
    )
    by_lite = fast.sync(
        tmp_path / "lite.db", "assetstore_", BACKEND, present, remote.read_manifests,
        forget=forget, moves=moves, events=events,
    )  # fmt: skip
    assert by_lite == by_orm


@pytest.mark.parametrize("prefix", ["assetstore_", "team_"])
def test_the_rows_written_are_the_orms(
    store: AssetStore, make_tree: Tree, tmp_path: Path, prefix: str
) -> None:
    manifests = _manifests(store, make_tree)
    by_orm, lite = _new_catalog(tmp_path / "orm.db", prefix), tmp_path / "lite.db"
    _new_catalog(lite, prefix)  # created (and only created) by the ORM
    for manifest in manifests:
        assert by_orm.record(BACKEND, manifest) is True
        assert fast.record(lite, prefix, BACKEND, manifest) is True
    assert _rows(lite, prefix) == _rows(tmp_path / "orm.db", prefix)
    assert _new_catalog(lite, prefix).entries(BACKEND) == by_orm.entries(BACKEND)


def test_a_version_indexed_already_is_not_indexed_twice(
    store: AssetStore, make_tree: Tree, tmp_path: Path
) -> None:
    [manifest, *_] = _manifests(store, make_tree)
    _new_catalog(tmp_path / "c.db")
    assert fast.record(tmp_path / "c.db", "assetstore_", BACKEND, manifest) is True
    assert fast.record(tmp_path / "c.db", "assetstore_", BACKEND, manifest) is False
    assert len(_rows(tmp_path / "c.db")["versions"]) == 1


def test_it_steps_aside_when_the_catalog_is_not_at_its_schema(
    store: AssetStore, make_tree: Tree, tmp_path: Path
) -> None:
    [manifest, *_] = _manifests(store, make_tree)
    database = tmp_path / "c.db"
    _new_catalog(database)
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE assetstore_meta SET value = '1'")
    before = _rows(database)
    assert fast.record(database, "assetstore_", BACKEND, manifest) is None
    assert fast.record(database, "other_", BACKEND, manifest) is None  # no such tables
    assert fast.record(database, "Bad-Prefix", BACKEND, manifest) is None
    assert _rows(database) == before


def _structure(path: Path) -> dict[str, object]:
    """Every table's columns (name, type, not null, default, key), indexes (their
    columns, uniqueness, origin) and foreign keys, as SQLite reports them."""
    with sqlite3.connect(path) as connection:
        query = connection.execute

        def indexes(table: str) -> list[tuple[object, ...]]:
            found = query(f"PRAGMA index_list({table})").fetchall()
            return sorted((name, unique, origin, query(f"PRAGMA index_xinfo({name})").fetchall())
                          for _, name, unique, origin, _ in found)  # fmt: skip

        tables = [name for (name,) in query("SELECT name FROM sqlite_master WHERE type='table'")]
        return {
            table: (
                query(f"PRAGMA table_info({table})").fetchall(),
                indexes(table),
                query(f"PRAGMA foreign_key_list({table})").fetchall(),
            )
            for table in tables
        }


@pytest.mark.parametrize("prefix", ["assetstore_", "team_"])
def test_a_new_catalog_has_the_tables_sqlalchemy_creates(
    store: AssetStore, make_tree: Tree, tmp_path: Path, prefix: str
) -> None:
    """A catalog the sqlite3 path creates is the one the ORM would have: the same
    tables, and the ORM opens it at the current schema without migrating anything."""
    [manifest, *_] = _manifests(store, make_tree)
    lite = tmp_path / "new" / "lite.db"
    assert fast.record(lite, prefix, BACKEND, manifest) is True
    _new_catalog(tmp_path / "orm.db", prefix)
    assert _structure(lite) == _structure(tmp_path / "orm.db")
    opened = _new_catalog(lite, prefix)
    assert opened.upgraded_from == opened.schema_version
    assert [e.version for e in opened.entries(BACKEND)] == [manifest.version]


def test_a_relative_catalog_path_is_created_too(
    store: AssetStore, make_tree: Tree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    [manifest, *_] = _manifests(store, make_tree)
    monkeypatch.chdir(tmp_path)
    assert fast.record(Path("rel") / "c.db", "assetstore_", BACKEND, manifest) is True
    assert (tmp_path / "rel" / "c.db").is_file()


def test_a_database_with_other_tables_is_left_alone(
    store: AssetStore, make_tree: Tree, tmp_path: Path
) -> None:
    [manifest, *_] = _manifests(store, make_tree)
    database = tmp_path / "c.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE theirs (x INTEGER)")
    assert fast.record(database, "assetstore_", BACKEND, manifest) is None
    assert list(_structure(database)) == ["theirs"]


def test_processes_creating_the_catalog_at_once_each_index_their_version(
    local_env: dict[str, str], make_tree: Tree, tmp_path: Path
) -> None:
    """Six first pushes into one new assets dir at once: one creates the catalog, the
    others wait for its lock, and every version is indexed."""
    sources = [make_tree({"a": str(i).encode()}) for i in range(6)]
    script = ("import sys; from assetstore import AssetStore; "
              "AssetStore.from_env().push(sys.argv[1], sys.argv[2])")  # fmt: skip
    running = [subprocess.Popen([sys.executable, "-c", script, str(source), f"m{i}"],
                                stderr=subprocess.PIPE, text=True)
               for i, source in enumerate(sources)]  # fmt: skip
    for process in running:
        _, errors = process.communicate(timeout=120)
        assert process.returncode == 0 and "catalog" not in errors, errors
    names = {entry.name for entry in AssetStore.from_env().history()}
    assert names == {f"m{i}" for i in range(6)}


def test_a_push_in_a_new_process_indexes_without_sqlalchemy(
    make_tree: Tree, local_env: dict[str, str]
) -> None:
    """The first push of a new assets dir too: the catalog is created through sqlite3."""
    script = (
        "import sys; from assetstore import AssetStore; "
        "AssetStore.from_env().push(sys.argv[1], 'm'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'sqlmodel')))"
    )
    for content in (b"1", b"2"):
        source = make_tree({"a": content})
        done = subprocess.run([sys.executable, "-c", script, str(source)],
                              capture_output=True, text=True)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "[]"
    assert [e.version for e in AssetStore.from_env().history("m")] == [Version(0, 0), Version(0, 1)]


def test_a_sync_writes_the_rows_the_orms_sync_writes(
    store: AssetStore, make_tree: Tree, tmp_path: Path
) -> None:
    """Added versions and files, alias moves, yanks and deletions, a flag set, cleared,
    and a row forgotten: byte for byte what SQLAlchemy writes (the flag's time aside)."""
    _manifests(store, make_tree)
    store.aliases.set("m@prod", "0.1", reason="first")
    store.aliases.set("m@prod", "0.0")
    store.lifecycle.yank("m:0.0", reason="broken")
    store.push(make_tree({"y": b"2"}), "other", force_new=True)
    store.lifecycle.delete("other:0.1")
    for database in ("orm.db", "lite.db"):
        _new_catalog(tmp_path / database)
    manifest = store.remote.manifest_path("m", Version(0, 1))
    saved = store.remote.fs.cat_file(manifest)
    _synced_both_ways(store, tmp_path)
    assert _rows(tmp_path / "lite.db") == _rows(tmp_path / "orm.db")
    assert len(_rows(tmp_path / "lite.db")["alias_moves"]) == 2
    assert len(_rows(tmp_path / "lite.db")["lifecycle_events"]) == 2

    store.remote.fs.rm_file(manifest)
    _synced_both_ways(store, tmp_path)  # m:0.1 flagged missing
    flagged = [[row[:2] for row in _flags(tmp_path / d) if row[2]] for d in ("orm.db", "lite.db")]
    assert flagged == [[(0, 1)], [(0, 1)]]
    store.remote.fs.pipe_file(manifest, saved)
    _synced_both_ways(store, tmp_path)  # restored
    assert _rows(tmp_path / "lite.db") == _rows(tmp_path / "orm.db")
    store.remote.fs.rm_file(manifest)
    _synced_both_ways(store, tmp_path, forget=True)
    assert _rows(tmp_path / "lite.db") == _rows(tmp_path / "orm.db")
    assert (0, 1, None) not in _flags(tmp_path / "lite.db")


def test_a_sync_reads_no_manifest_of_a_version_indexed_already(
    store: AssetStore, make_tree: Tree, local_env: dict[str, str]
) -> None:
    """Versions are immutable: an indexed one is only listed, and a sync in a new
    process runs without SQLAlchemy."""
    _manifests(store, make_tree)
    script = (
        "import sys; from assetstore import AssetStore; "
        "report = AssetStore.from_env().sync_catalog(); "
        "print(report.unchanged, report.added, report.malformed, "
        "sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'sqlmodel')))"
    )
    store.remote.fs.pipe_file(store.remote.manifest_path("m", Version(0, 0)), b"not JSON")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3 [] {} []"


def test_the_sqlmodel_tables_have_the_columns_of_the_one_schema() -> None:
    """The columns each insert writes (schema.COLUMNS, which the sqlite3 writer runs too)
    are those of the SQLModel tables: a schema change is made in one place."""
    from assetstore.catalog.schema import COLUMNS
    from assetstore.catalog.tables import schema

    tables = schema("assetstore_")
    for table, model in (("assets", tables.asset), ("versions", tables.version),
                         ("files", tables.file)):  # fmt: skip
        columns = {c.name for c in model.__table__.columns} - {"id", "missing_since"}
        assert columns == set(COLUMNS[table]), table
