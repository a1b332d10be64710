"""Indexing pushed versions in an SQLite catalog with the standard library's sqlite3:
one version after a push (``record``), or a whole ``catalog sync`` (``sync``).

Importing SQLModel and SQLAlchemy and checking the schema took about 0.4 s of every
push, its largest fixed cost (docs/benchmarks.md), and about half of a sync of 1,000
versions. With the default SQLite catalog, these run the schema's own statements
(``schema.py``) in one sqlite3 transaction instead, with the decisions of
``reconcile.py``; a missing one is created with the tables SQLAlchemy would create
(``schema.SQLITE_TABLES``). A catalog that is older or newer, or any sqlite3 error,
leaves the work to ``sql.py``, which migrates and reports.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Set
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from ..errors import IntegrityError
from ..model.alias import Move
from ..model.lifecycle import Mark
from ..model.manifest import Manifest
from ..model.spec import Version
from .reconcile import Changes, Key, add_read, reconcile, unindexed
from .results import SyncReport
from .schema import (
    SCHEMA_VERSION,
    TABLE_PREFIX,
    Statements,
    event_row,
    file_rows,
    move_row,
    stored_time,
    version_row,
)

T = TypeVar("T")
BUSY_TIMEOUT_SECONDS = 30  # as sql.py's engines wait for a locked database


def record(database: Path, prefix: str, backend: str, manifest: Manifest) -> bool | None:
    """Index ``manifest`` as ``Catalog.record`` does: True when added, False when it was
    indexed already, None when this path cannot be taken (nothing was written)."""
    return _in_transaction(database, prefix, lambda c, sql: _add(c, sql, backend, manifest))


def sync(
    database: Path, prefix: str, backend: str, present: Set[Key],
    read: Callable[[list[Key]], Iterable[Manifest | IntegrityError]], *, forget: bool,
    moves: Iterable[Move], events: Iterable[Mark],
) -> SyncReport | None:  # fmt: skip
    """``Catalog.sync``, or None when this path cannot be taken (nothing was written:
    the caller syncs through ``sql.py``, which reads again what ``read`` gave)."""

    def work(connection: sqlite3.Connection, sql: Statements) -> SyncReport:
        report = SyncReport()
        rows = _version_rows(connection, sql, backend)
        indexed = {key: missing for key, (_, missing) in rows.items()}
        add_read(report, read(unindexed(indexed, present)),
                 lambda manifest: _add(connection, sql, backend, manifest))  # fmt: skip
        _apply(connection, sql, {k: i for k, (i, _) in rows.items()},
               reconcile(indexed, present, forget, report))  # fmt: skip
        report.alias_moves_added = _index(connection, sql, backend, "alias_moves", moves,
                                          move_row, "moved_at")  # fmt: skip
        report.lifecycle_events_added = _index(connection, sql, backend, "lifecycle_events",
                                               events, event_row, "event_at")  # fmt: skip
        return report

    return _in_transaction(database, prefix, work)


def _in_transaction(
    database: Path, prefix: str, work: Callable[[sqlite3.Connection, Statements], T]
) -> T | None:
    """``work`` in one write transaction of the catalog at ``database``, created if it
    is not there yet; None when it is at another schema, or on any sqlite3 error
    (rolled back)."""
    if not TABLE_PREFIX.fullmatch(prefix) or database.is_symlink():
        return None
    database = database.absolute()  # as_uri() takes only an absolute path
    try:
        if not database.exists():
            database.parent.mkdir(parents=True, exist_ok=True)
        elif not database.is_file():
            return None
        connection = sqlite3.connect(
            f"{database.as_uri()}?mode=rwc", uri=True, timeout=BUSY_TIMEOUT_SECONDS,
            isolation_level=None,
        )  # fmt: skip
    except (OSError, sqlite3.Error):
        return None
    sql = Statements(prefix)
    try:
        connection.execute("BEGIN IMMEDIATE")  # the write lock first
        if not _created(connection, sql):
            return None
        row = connection.execute(sql.schema_version).fetchone()
        if row is None or str(row[0]) != str(SCHEMA_VERSION):
            return None
        done = work(connection, sql)
        connection.execute("COMMIT")
        return done
    except sqlite3.Error:
        return None
    finally:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        connection.close()


def _created(connection: sqlite3.Connection, sql: Statements) -> bool:
    """Whether the catalog's tables are there, creating them in an empty database (as
    ``sql.py`` would, in this transaction); False: other tables are, it is not ours."""
    tables = {name for (name,) in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}  # fmt: skip
    if sql.table("meta") in tables:
        return True
    if tables:
        return False
    for statement in sql.sqlite_tables:
        connection.execute(statement)
    connection.execute(sql.create_meta)
    return True


def _add(connection: sqlite3.Connection, sql: Statements, backend: str, manifest: Manifest) -> bool:
    version = {
        **version_row(manifest),
        "asset_id": _asset_id(connection, sql, backend, manifest.name),
    }
    version["pushed_at"] = stored_time(manifest.pushed_at)
    if not connection.execute(sql.insert("versions"), version).rowcount:
        return False  # indexed already
    (version_id,) = connection.execute(sql.version_id, version).fetchone()
    connection.executemany(sql.insert("files"), file_rows(version_id, manifest))
    return True


def known_versions(database: Path, prefix: str) -> dict[str, set[str]]:
    """Every asset name the SQLite catalog at ``database`` indexes, with its versions
    (``MAJOR.MINOR``), read-only; empty when there is no catalog to read (shell
    completion: never an error, never a write)."""
    if not TABLE_PREFIX.fullmatch(prefix) or not database.is_file():
        return {}
    sql = Statements(prefix)
    query = (f"SELECT a.name, v.major, v.minor FROM {sql.table('assets')} a "
             f"JOIN {sql.table('versions')} v ON v.asset_id = a.id")  # fmt: skip
    found: dict[str, set[str]] = {}
    try:
        connection = sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True, timeout=1)
        try:
            for name, major, minor in connection.execute(query):
                found.setdefault(str(name), set()).add(f"{major}.{minor}")
        finally:
            connection.close()
    except sqlite3.Error:
        return {}
    return found


def _version_rows(
    connection: sqlite3.Connection, sql: Statements, backend: str
) -> dict[Key, tuple[int, bool]]:
    """Every version row of ``backend``: (name, version) -> (row id, flagged missing)."""
    query = (f"SELECT v.id, a.name, v.major, v.minor, v.missing_since IS NOT NULL "
             f"FROM {sql.table('versions')} v JOIN {sql.table('assets')} a "
             "ON v.asset_id = a.id WHERE a.backend = ?")  # fmt: skip
    return {
        (str(name), Version(major, minor)): (row_id, bool(missing))
        for row_id, name, major, minor, missing in connection.execute(query, (backend,))
    }


def _apply(
    connection: sqlite3.Connection, sql: Statements, ids: dict[Key, int], changes: Changes
) -> None:
    versions, files = sql.table("versions"), sql.table("files")
    now = stored_time(datetime.now(timezone.utc))
    connection.executemany(f"UPDATE {versions} SET missing_since = NULL WHERE id = ?",
                           [(ids[key],) for key in changes.restore])  # fmt: skip
    connection.executemany(f"UPDATE {versions} SET missing_since = ? WHERE id = ?",
                           [(now, ids[key]) for key in changes.flag])  # fmt: skip
    gone = [(ids[key],) for key in changes.forget]
    connection.executemany(f"DELETE FROM {files} WHERE version_id = ?", gone)
    connection.executemany(f"DELETE FROM {versions} WHERE id = ?", gone)


def _index(
    connection: sqlite3.Connection, sql: Statements, backend: str, table: str,
    items: Iterable[Move | Mark], row: Callable[[int, Any], dict[str, Any]], at: str,
) -> int:  # fmt: skip
    """``Catalog.record_moves`` and ``record_events``: each item once; how many were new."""
    added = 0
    for item in items:
        values = row(_asset_id(connection, sql, backend, item.name), item)
        values[at] = stored_time(values[at])
        added += connection.execute(sql.insert(table), values).rowcount
    return added


def _asset_id(connection: sqlite3.Connection, sql: Statements, backend: str, name: str) -> int:
    asset = {"backend": backend, "name": name}
    connection.execute(sql.insert("assets"), asset)
    (asset_id,) = connection.execute(sql.asset_id, asset).fetchone()
    return int(asset_id)
