"""The catalog: an SQL index of every pushed version, keyed by backend.

It is derived data. Push writes through; ``sync`` reconciles it with the manifests, so
losing the database loses nothing. SQLModel (SQLAlchemy) is imported only here, and
this module only when the catalog is used: a push into an existing default SQLite
catalog writes its rows through ``catalog_lite.py`` and never imports it.

The schema is versioned (``{prefix}meta.schema_version``) and migrated in place, never
dropped: ``MIGRATIONS[n]`` takes a catalog from version n-1 to n.
"""

from __future__ import annotations

import functools
import json
import threading
import types
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import BigInteger, Text, UniqueConstraint, exc, insert, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Field, Session, SQLModel, create_engine, select

from .catalog_lite import DEFAULT_TABLE_PREFIX, SCHEMA_VERSION
from .catalog_lite import TABLE_PREFIX as _TABLE_PREFIX
from .errors import BackendError, ConfigError, IntegrityError
from .manifest import Manifest
from .redact import database_url_secrets, redact_database_url, scrub
from .spec import Version

__all__ = ["DEFAULT_TABLE_PREFIX", "SCHEMA_VERSION", "Catalog", "CatalogEntry", "SyncReport"]


# -- schema ----------------------------------------------------------------------------
class _MetaFields(SQLModel):
    key: str = Field(primary_key=True)
    value: str


class _AssetFields(SQLModel):
    id: int | None = Field(default=None, primary_key=True)
    backend: str = Field(index=True)
    name: str = Field(index=True)


class _VersionFields(SQLModel):
    id: int | None = Field(default=None, primary_key=True)
    major: int
    minor: int
    kind: str
    total_size: int = Field(sa_type=BigInteger)
    file_count: int
    pushed_at: datetime
    pushed_by: str
    metadata_json: str = Field(default="{}", sa_type=Text)
    missing_since: datetime | None = None  # schema v2: its manifest is gone from the bucket


class _FileFields(SQLModel):
    id: int | None = Field(default=None, primary_key=True)
    path: str = Field(sa_type=Text)
    size: int = Field(sa_type=BigInteger)
    sha256: str


@dataclass(frozen=True)
class Schema:
    """The table classes for one table prefix."""

    prefix: str
    meta: Any
    asset: Any
    version: Any
    file: Any


@functools.cache
def schema(prefix: str = DEFAULT_TABLE_PREFIX) -> Schema:
    """Table classes named with ``prefix`` (built once per prefix and process)."""
    if not _TABLE_PREFIX.fullmatch(prefix):
        raise ConfigError(f"table_prefix {prefix!r} must match {_TABLE_PREFIX.pattern}")
    assets = f"{prefix}assets"
    versions = f"{prefix}versions"
    return Schema(
        prefix=prefix,
        meta=_table("Meta", _MetaFields, f"{prefix}meta", {}),
        asset=_table(
            "Asset", _AssetFields, assets, {}, args=lambda: (UniqueConstraint("backend", "name"),)
        ),
        version=_table(
            "Version",
            _VersionFields,
            versions,
            {"asset_id": (int, Field(foreign_key=f"{assets}.id", ondelete="CASCADE", index=True))},
            args=lambda: (UniqueConstraint("asset_id", "major", "minor"),),
        ),
        file=_table(
            "File",
            _FileFields,
            f"{prefix}files",
            {
                "version_id": (
                    int,
                    Field(foreign_key=f"{versions}.id", ondelete="CASCADE", index=True),
                )
            },
        ),
    )


def _table(
    kind: str,
    fields: type[SQLModel],
    table: str,
    extra: dict[str, tuple[Any, Any]],
    args: Callable[[], tuple[Any, ...]] | None = None,
) -> Any:
    def body(namespace: dict[str, Any]) -> None:
        namespace["__module__"] = __name__
        namespace["__tablename__"] = table
        namespace["__annotations__"] = {name: hint for name, (hint, _) in extra.items()}
        namespace.update({name: default for name, (_, default) in extra.items()})
        if args is not None:
            namespace["__table_args__"] = args()

    return types.new_class(f"{kind}_{table}", (fields,), {"table": True}, body)


# -- results -----------------------------------------------------------------------------
@dataclass(frozen=True)
class CatalogEntry:
    """One version as the catalog knows it."""

    name: str
    version: Version
    kind: str
    total_size: int
    file_count: int
    pushed_at: datetime
    pushed_by: str
    metadata: dict[str, str]
    missing_since: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": str(self.version),
            "kind": self.kind,
            "total_size": self.total_size,
            "file_count": self.file_count,
            "pushed_at": self.pushed_at.isoformat(),
            "pushed_by": self.pushed_by,
            "metadata": self.metadata,
            "missing_since": self.missing_since.isoformat() if self.missing_since else None,
        }


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    flagged_missing: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)
    unchanged: int = 0
    malformed: dict[str, str] = field(default_factory=dict)  # spec -> why it was skipped

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "flagged_missing": self.flagged_missing,
            "restored": self.restored,
            "forgotten": self.forgotten,
            "unchanged": self.unchanged,
            "malformed": [{"spec": s, "problem": why} for s, why in self.malformed.items()],
        }


# -- engines: one pool per database URL, shared by every store that uses it ---------------
_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def engine_for(url: str) -> Engine:
    with _ENGINES_LOCK:
        if url not in _ENGINES:
            _ENGINES[url] = _new_engine(url)
        return _ENGINES[url]


def _new_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        return create_engine(url, connect_args={"timeout": 30})
    connect_args = {"connect_timeout": 5} if url.startswith("postgresql") else {}
    return create_engine(url, connect_args=connect_args, pool_pre_ping=True)


def dispose_engines() -> None:
    """Close every pooled connection (tests, and forked workers)."""
    with _ENGINES_LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()


# -- migrations ----------------------------------------------------------------------------
def _v2_missing_since(connection: Connection, tables: Schema) -> None:
    table = tables.version.__tablename__
    connection.execute(text(f"ALTER TABLE {table} ADD COLUMN missing_since TIMESTAMP"))


MIGRATIONS: dict[int, Callable[[Connection, Schema], None]] = {2: _v2_missing_since}


class Catalog:
    def __init__(self, engine: Engine, *, table_prefix: str = DEFAULT_TABLE_PREFIX) -> None:
        self.engine = engine
        self.tables = schema(table_prefix)
        url = engine.url.render_as_string(hide_password=False)
        self.where = redact_database_url(url)
        self._secrets = database_url_secrets(url)
        with self._translated("opening"):
            self.upgraded_from = self._upgrade()

    # -- schema management -------------------------------------------------------------
    def _upgrade(self) -> int | None:
        """Create or migrate the schema; returns the version it found (None: new)."""
        with self.engine.begin() as connection:
            _serialise_ddl(connection)
            meta = self.tables.meta.__tablename__
            if not inspect(connection).has_table(meta):
                self._create(connection)
                return None
            found = int(connection.execute(
                text(f"SELECT value FROM {meta} WHERE key = 'schema_version'")
            ).scalar_one())  # fmt: skip
            if found > SCHEMA_VERSION:
                raise ConfigError(
                    f"the catalog {self.where} has schema v{found}, newer than this "
                    f"assetstore understands (v{SCHEMA_VERSION}): upgrade assetstore"
                )
            for step in range(found + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[step](connection, self.tables)
            if found != SCHEMA_VERSION:
                connection.execute(
                    text(f"UPDATE {meta} SET value = :v WHERE key = 'schema_version'"),
                    {"v": str(SCHEMA_VERSION)},
                )
            return found

    def _create(self, connection: Connection) -> None:
        tables = [getattr(self.tables, n).__table__ for n in ("meta", "asset", "version", "file")]
        SQLModel.metadata.create_all(connection, tables=tables)
        connection.execute(
            self.tables.meta.__table__.insert().values(
                key="schema_version", value=str(SCHEMA_VERSION)
            )
        )

    @property
    def schema_version(self) -> int:
        with self._translated("reading"), Session(self.engine) as session:
            row = session.get(self.tables.meta, "schema_version")
            return int(row.value) if row is not None else 0

    # -- writes ------------------------------------------------------------------------
    def record(self, backend: str, manifest: Manifest) -> bool:
        """Index one version; False when it was indexed already.

        Every insert is idempotent (``ON CONFLICT DO NOTHING``): another process indexing
        the same asset or version at once (a push, a ``catalog sync``) makes this one
        wait for it and then skip the row, never fail."""
        with self._translated("writing"), Session(self.engine) as session:
            added = self._add(session, backend, manifest)
            session.commit()
        return added

    def _add(self, session: Session, backend: str, manifest: Manifest) -> bool:
        asset_id = self._asset_id(session, backend, manifest.name)
        row = {
            "asset_id": asset_id,
            "major": manifest.version.major,
            "minor": manifest.version.minor,
            "kind": manifest.kind,
            "total_size": manifest.total_size,
            "file_count": len(manifest.files),
            "pushed_at": datetime.fromisoformat(manifest.pushed_at),
            "pushed_by": manifest.pushed_by,
            "metadata_json": json.dumps(manifest.metadata, sort_keys=True),
        }
        added = self._insert_new(session, self.tables.version, row, ("asset_id", "major", "minor"))
        if not added:
            return False
        versions = self.tables.version
        query = select(versions.id).where(
            versions.asset_id == asset_id,
            versions.major == manifest.version.major,
            versions.minor == manifest.version.minor,
        )
        version_id = session.exec(query).one()
        if manifest.files:  # one executemany: ORM objects cost ~0.3 ms each
            rows = [
                {"version_id": version_id, "path": e.path, "size": e.size, "sha256": e.sha256}
                for e in manifest.files
            ]
            session.execute(insert(self.tables.file), rows)
        return True

    def _asset_id(self, session: Session, backend: str, name: str) -> int:
        table = self.tables.asset
        self._insert_new(session, table, {"backend": backend, "name": name}, ("backend", "name"))
        query = select(table.id).where(table.backend == backend, table.name == name)
        return int(session.exec(query).one())

    @staticmethod
    def _insert_new(
        session: Session, table: Any, row: dict[str, Any], key: tuple[str, ...]
    ) -> bool:
        """Insert ``row`` unless one with the same ``key`` columns exists (committed, or
        inserted by a transaction under way: then after it ends); True when inserted."""
        statement = _insert_ignoring(session, table.__table__).on_conflict_do_nothing(
            index_elements=list(key)
        )
        statement = statement.values(**row)
        if session.get_bind().dialect.name == "postgresql":  # psycopg's rowcount is -1 here
            return session.execute(statement.returning(table.__table__.c.id)).first() is not None
        result: Any = session.execute(statement)  # SQLite before 3.35 has no RETURNING
        return bool(result.rowcount)

    def sync(
        self,
        backend: str,
        manifests: Iterable[Manifest | IntegrityError],
        *,
        forget: bool = False,
    ) -> SyncReport:
        """Reconcile with the bucket: add what is missing, flag rows whose manifest is
        gone (or delete them, with ``forget``), unflag rows whose manifest is back. A
        malformed manifest is skipped and reported (its version is there, unreadable:
        neither added nor flagged)."""
        report = SyncReport()
        seen: set[tuple[str, Version]] = set()
        with self._translated("syncing"), Session(self.engine) as session:
            for manifest in manifests:
                if isinstance(manifest, IntegrityError):
                    spec = f"{manifest.name}:{manifest.version}"
                    report.malformed[spec] = str(manifest)
                    seen.add((str(manifest.name), Version.parse(str(manifest.version))))
                    continue
                seen.add((manifest.name, manifest.version))
                if self._add(session, backend, manifest):
                    report.added.append(manifest.spec)
            for entry, row in self._rows(session, backend):
                if f"{entry.name}:{entry.version}" in report.added:
                    continue
                self._reconcile(
                    session, entry, row, (entry.name, entry.version) in seen, forget, report
                )
            session.commit()
        return report

    def _reconcile(
        self, session: Session, entry: CatalogEntry, row: Any, present: bool, forget: bool,
        report: SyncReport,
    ) -> None:  # fmt: skip
        spec = f"{entry.name}:{entry.version}"
        if present and row.missing_since is not None:
            row.missing_since = None
            report.restored.append(spec)
        elif present:
            report.unchanged += 1
        elif forget:
            self._delete_version(session, row)
            report.forgotten.append(spec)
        elif row.missing_since is None:
            row.missing_since = datetime.now(timezone.utc)
            report.flagged_missing.append(spec)
        else:
            report.unchanged += 1

    def _delete_version(self, session: Session, row: Any) -> None:
        files = self.tables.file
        for file_row in session.exec(select(files).where(files.version_id == row.id)):
            session.delete(file_row)
        session.delete(row)

    # -- reads -------------------------------------------------------------------------
    def entries(self, backend: str, name: str | None = None) -> list[CatalogEntry]:
        """Indexed versions of ``backend`` (one name, or all), by name then version."""
        with self._translated("reading"), Session(self.engine) as session:
            found = [entry for entry, _ in self._rows(session, backend, name)]
        return sorted(found, key=lambda e: (e.name, e.version))

    def _rows(
        self, session: Session, backend: str, name: str | None = None
    ) -> list[tuple[CatalogEntry, Any]]:
        assets, versions = self.tables.asset, self.tables.version
        query = select(assets, versions).where(
            assets.backend == backend, versions.asset_id == assets.id
        )
        if name is not None:
            query = query.where(assets.name == name)
        return [(_entry(asset, row), row) for asset, row in session.exec(query).all()]

    @contextmanager
    def _translated(self, doing: str) -> Iterator[None]:
        """Any failure of the database is one line, without SQL or parameters (exit 7)."""
        try:
            yield
        except exc.SQLAlchemyError as error:
            orig = getattr(error, "orig", None)
            reason = str(orig or error).strip().splitlines()[0][:300] or type(error).__name__
            if not isinstance(error, (exc.OperationalError, exc.InterfaceError)):
                reason = f"{type(orig or error).__name__}: {reason}"
            raise BackendError(
                f"{doing} the catalog {self.where} failed: {scrub(reason, self._secrets)}"
            ) from error


def _insert_ignoring(session: Session, table: Any) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_nothing`` (SQLite 3.24 and later,
    PostgreSQL 9.5 and later)."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    if name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)
    raise ConfigError(f"the catalog supports SQLite and PostgreSQL, not {name}")


def _serialise_ddl(connection: Connection) -> None:
    """Processes starting at once must not create or migrate the schema together."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(4242424242)"))


def _entry(asset: Any, row: Any) -> CatalogEntry:
    return CatalogEntry(
        name=asset.name,
        version=Version(row.major, row.minor),
        kind=row.kind,
        total_size=row.total_size,
        file_count=row.file_count,
        pushed_at=row.pushed_at,
        pushed_by=row.pushed_by,
        metadata=json.loads(row.metadata_json or "{}"),
        missing_since=row.missing_since,
    )
