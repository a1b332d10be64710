"""The catalog: an SQL index of every pushed version, keyed by backend.

It is derived data. Push writes through; ``sync`` rebuilds it from the manifests, so
losing the database loses nothing. SQLModel (SQLAlchemy) is imported only here, and
this module only when the catalog is used.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, Text, UniqueConstraint, exc
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, create_engine, select

from .manifest import Manifest
from .spec import Version

SCHEMA_VERSION = 1
_RECORD_ATTEMPTS = 3


class CatalogMeta(SQLModel, table=True):
    __tablename__ = "assetstore_meta"
    key: str = Field(primary_key=True)
    value: str


class AssetRow(SQLModel, table=True):
    __tablename__ = "assetstore_assets"
    __table_args__ = (UniqueConstraint("backend", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    backend: str = Field(index=True)
    name: str = Field(index=True)


class VersionRow(SQLModel, table=True):
    __tablename__ = "assetstore_versions"
    __table_args__ = (UniqueConstraint("asset_id", "major", "minor"),)
    id: int | None = Field(default=None, primary_key=True)
    asset_id: int = Field(
        sa_column=Column(Integer, ForeignKey("assetstore_assets.id", ondelete="CASCADE"))
    )
    major: int
    minor: int
    kind: str
    total_size: int = Field(sa_type=BigInteger)
    file_count: int
    pushed_at: datetime
    pushed_by: str
    metadata_json: str = Field(default="{}", sa_column=Column(Text))


class FileRow(SQLModel, table=True):
    __tablename__ = "assetstore_files"
    id: int | None = Field(default=None, primary_key=True)
    version_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("assetstore_versions.id", ondelete="CASCADE"), index=True
        )
    )
    path: str = Field(sa_column=Column(Text))
    size: int = Field(sa_type=BigInteger)
    sha256: str


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
        }


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"added": self.added, "removed": self.removed, "unchanged": self.unchanged}


def engine_for(url: str) -> Engine:
    connect_args = {"timeout": 30} if url.startswith("sqlite") else {}
    return create_engine(url, connect_args=connect_args, pool_pre_ping=True)


class Catalog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        SQLModel.metadata.create_all(engine)
        with Session(engine) as session:
            if session.get(CatalogMeta, "schema_version") is None:
                session.add(CatalogMeta(key="schema_version", value=str(SCHEMA_VERSION)))
                session.commit()

    def record(self, backend: str, manifest: Manifest) -> bool:
        """Index one version; False when it was indexed already.

        Another process may insert the same asset row between our select and insert;
        the unique constraint then refuses ours, and a second attempt finds theirs.
        """
        for attempt in range(_RECORD_ATTEMPTS):
            try:
                with Session(self.engine) as session:
                    added = self._add(session, backend, manifest)
                    session.commit()
                return added
            except exc.IntegrityError:
                if attempt == _RECORD_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _add(self, session: Session, backend: str, manifest: Manifest) -> bool:
        asset = self._asset(session, backend, manifest.name)
        assert asset.id is not None
        if self._version_row(session, asset.id, manifest.version) is not None:
            return False
        row = VersionRow(
            asset_id=asset.id,
            major=manifest.version.major,
            minor=manifest.version.minor,
            kind=manifest.kind,
            total_size=manifest.total_size,
            file_count=len(manifest.files),
            pushed_at=datetime.fromisoformat(manifest.pushed_at),
            pushed_by=manifest.pushed_by,
            metadata_json=json.dumps(manifest.metadata, sort_keys=True),
        )
        session.add(row)
        session.flush()
        assert row.id is not None
        session.add_all(
            FileRow(version_id=row.id, path=e.path, size=e.size, sha256=e.sha256)
            for e in manifest.files
        )
        return True

    def _asset(self, session: Session, backend: str, name: str) -> AssetRow:
        query = select(AssetRow).where(AssetRow.backend == backend, AssetRow.name == name)
        asset = session.exec(query).first()
        if asset is None:
            asset = AssetRow(backend=backend, name=name)
            session.add(asset)
            session.flush()
        return asset

    @staticmethod
    def _version_row(session: Session, asset_id: int, version: Version) -> VersionRow | None:
        query = select(VersionRow).where(
            VersionRow.asset_id == asset_id,
            VersionRow.major == version.major,
            VersionRow.minor == version.minor,
        )
        return session.exec(query).first()

    def sync(self, backend: str, manifests: Iterable[Manifest]) -> SyncReport:
        """Make the catalog's rows for ``backend`` match the manifests exactly."""
        report = SyncReport()
        seen: set[tuple[str, Version]] = set()
        with Session(self.engine) as session:
            for manifest in manifests:
                seen.add((manifest.name, manifest.version))
                if self._add(session, backend, manifest):
                    report.added.append(manifest.spec)
                else:
                    report.unchanged += 1
            for entry, row in self._rows(session, backend):
                if (entry.name, entry.version) not in seen:
                    report.removed.append(f"{entry.name}:{entry.version}")
                    self._delete_version(session, row)
            session.commit()
        return report

    @staticmethod
    def _delete_version(session: Session, row: VersionRow) -> None:
        for file_row in session.exec(select(FileRow).where(FileRow.version_id == row.id)):
            session.delete(file_row)
        session.delete(row)

    def entries(self, backend: str, name: str | None = None) -> list[CatalogEntry]:
        """Indexed versions of ``backend`` (one name, or all), by name then version."""
        with Session(self.engine) as session:
            found = [entry for entry, _ in self._rows(session, backend, name)]
        return sorted(found, key=lambda e: (e.name, e.version))

    @staticmethod
    def _rows(
        session: Session, backend: str, name: str | None = None
    ) -> list[tuple[CatalogEntry, VersionRow]]:
        query = select(AssetRow, VersionRow).where(
            AssetRow.backend == backend, VersionRow.asset_id == AssetRow.id
        )
        if name is not None:
            query = query.where(AssetRow.name == name)
        return [(_entry(asset, row), row) for asset, row in session.exec(query).all()]


def _entry(asset: AssetRow, row: VersionRow) -> CatalogEntry:
    return CatalogEntry(
        name=asset.name,
        version=Version(row.major, row.minor),
        kind=row.kind,
        total_size=row.total_size,
        file_count=row.file_count,
        pushed_at=row.pushed_at,
        pushed_by=row.pushed_by,
        metadata=json.loads(row.metadata_json or "{}"),
    )
