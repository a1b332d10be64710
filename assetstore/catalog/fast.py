"""Indexing a pushed version in an SQLite catalog with the standard library's sqlite3.

Importing SQLModel and SQLAlchemy and checking the schema took about 0.4 s of every
push, its largest fixed cost (docs/benchmarks.md). Once an SQLite catalog exists at the
current schema, a push runs the schema's own statements (``schema.py``) in one sqlite3
transaction instead. A catalog that is missing, older or newer, or any sqlite3 error,
leaves the work to ``sql.py``, which creates, migrates and reports.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..model.manifest import Manifest
from .schema import (
    SCHEMA_VERSION,
    TABLE_PREFIX,
    Statements,
    file_rows,
    stored_time,
    version_row,
)

BUSY_TIMEOUT_SECONDS = 30  # as sql.py's engines wait for a locked database


def record(database: Path, prefix: str, backend: str, manifest: Manifest) -> bool | None:
    """Index ``manifest`` as ``Catalog.record`` does: True when added, False when it was
    indexed already, None when this path cannot be taken (nothing was written)."""
    if not TABLE_PREFIX.fullmatch(prefix) or database.is_symlink() or not database.is_file():
        return None
    try:
        connection = sqlite3.connect(
            f"{database.as_uri()}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_SECONDS,
            isolation_level=None,
        )  # fmt: skip
    except sqlite3.Error:
        return None
    try:
        return _record(connection, Statements(prefix), backend, manifest)
    except sqlite3.Error:
        return None
    finally:
        connection.close()


def _record(
    connection: sqlite3.Connection, sql: Statements, backend: str, manifest: Manifest
) -> bool | None:
    connection.execute("BEGIN IMMEDIATE")  # the write lock first
    try:
        row = connection.execute(sql.schema_version).fetchone()
        if row is None or str(row[0]) != str(SCHEMA_VERSION):
            return None
        added = _add(connection, sql, backend, manifest)
        connection.execute("COMMIT")
        return added
    finally:
        if connection.in_transaction:
            connection.execute("ROLLBACK")


def _add(connection: sqlite3.Connection, sql: Statements, backend: str, manifest: Manifest) -> bool:
    asset = {"backend": backend, "name": manifest.name}
    connection.execute(sql.insert("assets"), asset)
    (asset_id,) = connection.execute(sql.asset_id, asset).fetchone()
    version = {**version_row(manifest), "asset_id": asset_id}
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
