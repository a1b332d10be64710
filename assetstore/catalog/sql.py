"""The catalog: an SQL index of every pushed version, keyed by backend.

It is derived data. Push writes through; ``sync`` reconciles it with the manifests, so
losing the database loses nothing. SQLModel (SQLAlchemy) is imported only here, and
this module only when the catalog is used: a push into an existing default SQLite
catalog writes its rows through ``fast.py`` and never imports it.

The schema (``schema.py``, shared with ``fast.py``) is versioned
(``{prefix}meta.schema_version``) and migrated in place, never dropped.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Set
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import DateTime, bindparam, exc, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, SQLModel, create_engine, select

from ..errors import BackendError, ConfigError, IntegrityError
from ..model.alias import Move
from ..model.lifecycle import Mark
from ..model.manifest import Manifest
from ..model.spec import Version
from ..redact import database_url_secrets, redact_database_url, scrub
from .reconcile import Key, add_read, reconcile, unindexed
from .results import CatalogEntry, SyncReport
from .schema import (
    DEFAULT_TABLE_PREFIX,
    SCHEMA_VERSION,
    Statements,
    event_row,
    file_rows,
    move_row,
    version_row,
)
from .tables import schema

__all__ = ["DEFAULT_TABLE_PREFIX", "SCHEMA_VERSION", "Catalog", "CatalogEntry", "SyncReport"]


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


class Catalog:
    def __init__(self, engine: Engine, *, table_prefix: str = DEFAULT_TABLE_PREFIX) -> None:
        self.engine = engine
        self.tables = schema(table_prefix)
        self.sql = Statements(table_prefix)
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
                for statement in self.sql.migration(step):
                    connection.execute(text(statement))
            tables = [table.__table__ for table in self.tables.all()]
            SQLModel.metadata.create_all(connection, tables=tables)  # those a step added
            if found != SCHEMA_VERSION:
                connection.execute(
                    text(f"UPDATE {meta} SET value = :v WHERE key = 'schema_version'"),
                    {"v": str(SCHEMA_VERSION)},
                )
            return found

    def _create(self, connection: Connection) -> None:
        SQLModel.metadata.create_all(connection, tables=[t.__table__ for t in self.tables.all()])
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
        """The schema's own statements (``schema.py``), as ``fast.py`` runs them."""
        asset = {"backend": backend, "name": manifest.name}
        session.execute(text(self.sql.insert("assets")), asset)
        asset_id = session.execute(text(self.sql.asset_id), asset).scalar_one()
        version = {**version_row(manifest), "asset_id": asset_id}
        version["pushed_at"] = datetime.fromisoformat(manifest.pushed_at)
        result: Any = session.execute(self._insert_version, version)
        if not result.rowcount:
            return False  # indexed already
        version_id = session.execute(text(self.sql.version_id), version).scalar_one()
        if manifest.files:  # one executemany: ORM objects cost ~0.3 ms each
            session.execute(text(self.sql.insert("files")), file_rows(version_id, manifest))
        return True

    def record_moves(self, backend: str, moves: Iterable[Move]) -> int:
        """Index alias moves (each once: a move already indexed is skipped); how many
        were new."""
        return self._index(backend, moves, self._insert_move, move_row)

    def record_events(self, backend: str, events: Iterable[Mark]) -> int:
        """Index yanks, unyanks and deletions (each once); how many were new."""
        return self._index(backend, events, self._insert_event, event_row)

    def _index(self, backend: str, items: Iterable[Any], insert: Any, row: Any) -> int:
        added = 0
        with self._translated("writing"), Session(self.engine) as session:
            for item in items:
                asset = {"backend": backend, "name": item.name}
                session.execute(text(self.sql.insert("assets")), asset)
                asset_id = session.execute(text(self.sql.asset_id), asset).scalar_one()
                result: Any = session.execute(insert, row(asset_id, item))
                added += result.rowcount or 0
            session.commit()
        return added

    def events(self, backend: str, name: str | None = None) -> list[Mark]:
        """The indexed yanks, unyanks and deletions (of ``name``, or all), oldest first."""
        assets, table = self.tables.asset, self.tables.event
        query = select(assets.name, table).where(assets.backend == backend,
                                                 table.asset_id == assets.id)  # fmt: skip
        if name is not None:
            query = query.where(assets.name == name)
        with self._translated("reading"), Session(self.engine) as session:
            rows = session.exec(query).all()
        return sorted((_event(n, row) for n, row in rows), key=lambda m: (m.at, m.name))

    def moves(self, backend: str, name: str) -> list[Move]:
        """The indexed moves of ``name``'s aliases, by alias then move."""
        assets, table = self.tables.asset, self.tables.alias_move
        query = select(table).where(
            assets.backend == backend, assets.name == name, table.asset_id == assets.id
        )
        with self._translated("reading"), Session(self.engine) as session:
            rows = session.exec(query).all()
        found = [_move(name, row) for row in rows]
        return sorted(found, key=lambda m: (m.alias, m.number))

    @functools.cached_property
    def _insert_move(self) -> Any:
        return text(self.sql.insert("alias_moves")).bindparams(
            bindparam("moved_at", type_=DateTime())
        )

    @functools.cached_property
    def _insert_event(self) -> Any:
        return text(self.sql.insert("lifecycle_events")).bindparams(
            bindparam("event_at", type_=DateTime())
        )

    @functools.cached_property
    def _insert_version(self) -> Any:
        # pushed_at as SQLAlchemy stores a DateTime in each database (text in SQLite)
        return text(self.sql.insert("versions")).bindparams(
            bindparam("pushed_at", type_=DateTime())
        )

    def sync(
        self,
        backend: str,
        present: Set[Key],
        read: Callable[[list[Key]], Iterable[Manifest | IntegrityError]],
        *,
        forget: bool = False,
        moves: Iterable[Move] = (),
        events: Iterable[Mark] = (),
    ) -> SyncReport:
        """Reconcile with the bucket's committed versions ``present``: index those the
        catalog lacks (``read`` reads their manifests), flag rows whose manifest is gone
        (or delete them, with ``forget``), unflag rows whose manifest is back. A
        malformed manifest is skipped and reported (its version is there, unreadable:
        neither added nor flagged)."""
        report = SyncReport()
        with self._translated("syncing"), Session(self.engine) as session:
            rows = {(e.name, e.version): row for e, row in self._rows(session, backend)}
            indexed = {key: row.missing_since is not None for key, row in rows.items()}
            manifests = read(unindexed(indexed, present))
            add_read(report, manifests, lambda manifest: self._add(session, backend, manifest))
            changes = reconcile(indexed, present, forget, report)
            now = datetime.now(timezone.utc)
            for key in changes.restore:
                rows[key].missing_since = None
            for key in changes.flag:
                rows[key].missing_since = now
            for key in changes.forget:
                self._delete_version(session, rows[key])
            session.commit()
        report.alias_moves_added = self.record_moves(backend, moves)
        report.lifecycle_events_added = self.record_events(backend, events)
        return report

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


def _serialise_ddl(connection: Connection) -> None:
    """Processes starting at once must not create or migrate the schema together."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(4242424242)"))


def _move(name: str, row: Any) -> Move:
    at = row.moved_at if row.moved_at.tzinfo else row.moved_at.replace(tzinfo=timezone.utc)
    return Move(
        number=row.move, name=name, alias=row.alias, action=row.action,
        version=None if row.version is None else Version.parse(row.version),
        previous=None if row.previous is None else Version.parse(row.previous),
        at=at, by=row.moved_by, reason=row.reason,
    )  # fmt: skip


def _event(name: str, row: Any) -> Mark:
    at = row.event_at if row.event_at.tzinfo else row.event_at.replace(tzinfo=timezone.utc)
    return Mark(kind=row.event, name=name, version=Version.parse(row.version), at=at,
                by=row.event_by, reason=row.reason)  # fmt: skip


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
