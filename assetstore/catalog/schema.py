"""The catalog's schema, defined once: table names, the columns each insert writes,
``SCHEMA_VERSION``, the migrations, and the INSERT statements. Both writers execute
these statements — SQLAlchemy's ``text()`` (``sql.py``, behind the SQLModel tables the
catalog API promises) and the standard library's ``sqlite3`` (``fast.py``, which keeps
SQLAlchemy out of a push's start-up) — in the ``:name`` parameter style both accept.

A schema change is made here: a new column goes into ``COLUMNS`` (and the SQLModel
table in ``tables.py``, which a test holds to ``COLUMNS``) and ``SQLITE_TABLES``, a new
version into ``SCHEMA_VERSION`` with a migration in ``MIGRATIONS``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..model.alias import Move
from ..model.lifecycle import Mark
from ..model.manifest import Manifest

SCHEMA_VERSION = 4
DEFAULT_TABLE_PREFIX = "assetstore_"
TABLE_PREFIX = re.compile(r"[a-z_][a-z0-9_]{0,30}")
# The columns an insert writes, by table (the id is the database's).
COLUMNS: dict[str, tuple[str, ...]] = {
    "assets": ("backend", "name"),
    "versions": (
        "asset_id", "major", "minor", "kind", "total_size", "file_count", "pushed_at",
        "pushed_by", "metadata_json",
    ),
    "files": ("version_id", "path", "size", "sha256"),
    "alias_moves": (
        "asset_id", "alias", "move", "action", "version", "previous", "moved_at", "moved_by",
        "reason",
    ),
    "lifecycle_events": ("asset_id", "version", "event", "event_at", "event_by", "reason"),
}  # fmt: skip
# What makes a row unique: an insert of a row that exists does nothing (ON CONFLICT DO
# NOTHING, SQLite 3.24 and PostgreSQL 9.5 on), so two writers at once never fail.
UNIQUE: dict[str, tuple[str, ...]] = {
    "assets": ("backend", "name"),
    "versions": ("asset_id", "major", "minor"),
    "alias_moves": ("asset_id", "alias", "move"),
    "lifecycle_events": ("asset_id", "version", "event", "event_at"),
}
# MIGRATIONS[n] takes a catalog from version n - 1 to n: statements, {p} the prefix.
# A new table needs no statement: every open creates the tables it lacks (checkfirst).
MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: ("ALTER TABLE {p}versions ADD COLUMN missing_since TIMESTAMP",),
    3: (),  # the alias journals' index, {p}alias_moves
    4: (),  # yanks, unyanks and deletions, {p}lifecycle_events
}

# The tables as SQLAlchemy creates them in SQLite from ``tables.py``, for ``fast.py`` to
# create a new default catalog without importing it: a test holds the two to the same
# columns, types, keys and indexes. {p} is the prefix.
SQLITE_TABLES: tuple[str, ...] = (
    """CREATE TABLE {p}meta ("key" VARCHAR NOT NULL, value VARCHAR NOT NULL,
    PRIMARY KEY ("key"))""",
    """CREATE TABLE {p}assets (id INTEGER NOT NULL, backend VARCHAR NOT NULL,
    name VARCHAR NOT NULL, PRIMARY KEY (id), UNIQUE (backend, name))""",
    "CREATE INDEX ix_{p}assets_name ON {p}assets (name)",
    "CREATE INDEX ix_{p}assets_backend ON {p}assets (backend)",
    """CREATE TABLE {p}versions (id INTEGER NOT NULL, major INTEGER NOT NULL,
    minor INTEGER NOT NULL, kind VARCHAR NOT NULL, total_size BIGINT NOT NULL,
    file_count INTEGER NOT NULL, pushed_at DATETIME NOT NULL, pushed_by VARCHAR NOT NULL,
    metadata_json TEXT NOT NULL, missing_since DATETIME, asset_id INTEGER NOT NULL,
    PRIMARY KEY (id), UNIQUE (asset_id, major, minor),
    FOREIGN KEY(asset_id) REFERENCES {p}assets (id) ON DELETE CASCADE)""",
    "CREATE INDEX ix_{p}versions_asset_id ON {p}versions (asset_id)",
    """CREATE TABLE {p}alias_moves (id INTEGER NOT NULL, alias VARCHAR NOT NULL,
    move INTEGER NOT NULL, action VARCHAR NOT NULL, version VARCHAR, previous VARCHAR,
    moved_at DATETIME NOT NULL, moved_by VARCHAR NOT NULL, reason TEXT,
    asset_id INTEGER NOT NULL, PRIMARY KEY (id), UNIQUE (asset_id, alias, move),
    FOREIGN KEY(asset_id) REFERENCES {p}assets (id) ON DELETE CASCADE)""",
    "CREATE INDEX ix_{p}alias_moves_asset_id ON {p}alias_moves (asset_id)",
    "CREATE INDEX ix_{p}alias_moves_alias ON {p}alias_moves (alias)",
    """CREATE TABLE {p}lifecycle_events (id INTEGER NOT NULL, version VARCHAR NOT NULL,
    event VARCHAR NOT NULL, event_at DATETIME NOT NULL, event_by VARCHAR NOT NULL,
    reason TEXT, asset_id INTEGER NOT NULL, PRIMARY KEY (id),
    UNIQUE (asset_id, version, event, event_at),
    FOREIGN KEY(asset_id) REFERENCES {p}assets (id) ON DELETE CASCADE)""",
    "CREATE INDEX ix_{p}lifecycle_events_asset_id ON {p}lifecycle_events (asset_id)",
    """CREATE TABLE {p}files (id INTEGER NOT NULL, path TEXT NOT NULL,
    size BIGINT NOT NULL, sha256 VARCHAR NOT NULL, version_id INTEGER NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY(version_id) REFERENCES {p}versions (id) ON DELETE CASCADE)""",
    "CREATE INDEX ix_{p}files_version_id ON {p}files (version_id)",
)


@dataclass(frozen=True)
class Statements:
    """The statements of one table prefix."""

    prefix: str

    def table(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def insert(self, table: str) -> str:
        columns = COLUMNS[table]
        unique = UNIQUE.get(table)
        conflict = f" ON CONFLICT ({', '.join(unique)}) DO NOTHING" if unique else ""
        return (
            f"INSERT INTO {self.table(table)} ({', '.join(columns)}) "
            f"VALUES ({', '.join(':' + c for c in columns)}){conflict}"
        )

    @property
    def asset_id(self) -> str:
        return f"SELECT id FROM {self.table('assets')} WHERE backend = :backend AND name = :name"

    @property
    def version_id(self) -> str:
        return (
            f"SELECT id FROM {self.table('versions')} "
            "WHERE asset_id = :asset_id AND major = :major AND minor = :minor"
        )

    @property
    def schema_version(self) -> str:
        return f"SELECT value FROM {self.table('meta')} WHERE key = 'schema_version'"

    def migration(self, step: int) -> tuple[str, ...]:
        return tuple(text.format(p=self.prefix) for text in MIGRATIONS[step])

    @property
    def sqlite_tables(self) -> tuple[str, ...]:
        return tuple(text.format(p=self.prefix) for text in SQLITE_TABLES)

    @property
    def create_meta(self) -> str:
        return (f"INSERT INTO {self.table('meta')} (\"key\", value) "
                f"VALUES ('schema_version', '{SCHEMA_VERSION}')")  # fmt: skip


def version_row(manifest: Manifest) -> dict[str, Any]:
    """The columns of a version row but its asset id (``pushed_at`` as the manifest's
    ISO text: each writer stores it as its driver wants)."""
    return {
        "major": manifest.version.major,
        "minor": manifest.version.minor,
        "kind": manifest.kind,
        "total_size": manifest.total_size,
        "file_count": len(manifest.files),
        "pushed_at": manifest.pushed_at,
        "pushed_by": manifest.pushed_by,
        "metadata_json": json.dumps(manifest.metadata, sort_keys=True),
    }


def move_row(asset_id: int, move: Move) -> dict[str, Any]:
    return {
        "asset_id": asset_id, "alias": move.alias, "move": move.number, "action": move.action,
        "version": None if move.version is None else str(move.version),
        "previous": None if move.previous is None else str(move.previous),
        "moved_at": move.at, "moved_by": move.by, "reason": move.reason,
    }  # fmt: skip


def event_row(asset_id: int, mark: Mark) -> dict[str, Any]:
    return {"asset_id": asset_id, "version": str(mark.version), "event": mark.kind,
            "event_at": mark.at, "event_by": mark.by, "reason": mark.reason}  # fmt: skip


def file_rows(version_id: int, manifest: Manifest) -> list[dict[str, Any]]:
    return [
        {"version_id": version_id, "path": e.path, "size": e.size, "sha256": e.sha256}
        for e in manifest.files
    ]


def check_prefix(prefix: str) -> str:
    if not TABLE_PREFIX.fullmatch(prefix):
        raise ValueError(f"table_prefix {prefix!r} must match {TABLE_PREFIX.pattern}")
    return prefix


def stored_time(timestamp: str | datetime) -> str:
    """A time (or a manifest's ISO timestamp) as SQLAlchemy keeps a DateTime in SQLite:
    its fields as they are, without the zone."""
    when = datetime.fromisoformat(timestamp) if isinstance(timestamp, str) else timestamp
    return when.strftime("%Y-%m-%d %H:%M:%S.%f")
