"""Indexing a pushed version in an SQLite catalog with the standard library's sqlite3.

Importing SQLModel and SQLAlchemy and checking the schema took about 0.4 s of every
push, its largest fixed cost (docs/benchmarks.md). Once an SQLite catalog exists at the
current schema, a push writes the rows the ORM would (``Catalog.record`` in catalog.py)
in one sqlite3 transaction instead. A catalog that is missing, older or newer, or any
sqlite3 error, leaves the work to catalog.py, which creates, migrates and reports.
"""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import datetime
from pathlib import Path

from .manifest import Manifest

# The schema's version, kept here so that pushes need not import catalog.py; a new one
# comes with a migration there (MIGRATIONS), and tests/test_catalog_lite.py checks that
# this module still writes the rows the ORM writes.
SCHEMA_VERSION = 2
DEFAULT_TABLE_PREFIX = "assetstore_"
TABLE_PREFIX = re.compile(r"[a-z_][a-z0-9_]{0,30}")
BUSY_TIMEOUT_SECONDS = 30  # as catalog.py's engines wait for a locked database


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
        return _record(connection, prefix, backend, manifest)
    except sqlite3.Error:
        return None
    finally:
        connection.close()


def _record(
    connection: sqlite3.Connection, prefix: str, backend: str, manifest: Manifest
) -> bool | None:
    connection.execute("BEGIN IMMEDIATE")  # the write lock first: no race to insert
    try:
        if _schema_version(connection, prefix) != str(SCHEMA_VERSION):
            return None
        added = _add(connection, prefix, backend, manifest)
        connection.execute("COMMIT")
        return added
    finally:
        if connection.in_transaction:
            connection.execute("ROLLBACK")


def _schema_version(connection: sqlite3.Connection, prefix: str) -> str | None:
    row = connection.execute(
        f"SELECT value FROM {prefix}meta WHERE key = 'schema_version'"
    ).fetchone()
    return None if row is None else str(row[0])


def _add(connection: sqlite3.Connection, prefix: str, backend: str, manifest: Manifest) -> bool:
    assets, versions, files = f"{prefix}assets", f"{prefix}versions", f"{prefix}files"
    connection.execute(
        f"INSERT OR IGNORE INTO {assets} (backend, name) VALUES (?, ?)", (backend, manifest.name)
    )
    (asset_id,) = connection.execute(
        f"SELECT id FROM {assets} WHERE backend = ? AND name = ?", (backend, manifest.name)
    ).fetchone()
    version = manifest.version
    if connection.execute(
        f"SELECT 1 FROM {versions} WHERE asset_id = ? AND major = ? AND minor = ?",
        (asset_id, version.major, version.minor),
    ).fetchone():
        return False
    cursor = connection.execute(
        f"INSERT INTO {versions} (asset_id, major, minor, kind, total_size, file_count, "
        "pushed_at, pushed_by, metadata_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (asset_id, version.major, version.minor, manifest.kind, manifest.total_size,
         len(manifest.files), _as_stored(manifest.pushed_at), manifest.pushed_by,
         json.dumps(manifest.metadata, sort_keys=True)),
    )  # fmt: skip
    connection.executemany(
        f"INSERT INTO {files} (version_id, path, size, sha256) VALUES (?, ?, ?, ?)",
        ((cursor.lastrowid, e.path, e.size, e.sha256) for e in manifest.files),
    )
    return True


def _as_stored(timestamp: str) -> str:
    """A manifest's ISO timestamp as SQLAlchemy keeps a DateTime in SQLite (no zone)."""
    return datetime.fromisoformat(timestamp).strftime("%Y-%m-%d %H:%M:%S.%f")
