"""The catalog's tables as SQLModel classes (the model layer the catalog promises), one
set per table prefix, with the names, unique keys and columns of ``schema.py`` — a test
holds the columns to ``schema.COLUMNS``."""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from ..errors import ConfigError
from .schema import DEFAULT_TABLE_PREFIX, UNIQUE, check_prefix


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


class _AliasMoveFields(SQLModel):  # schema v3: the index of the aliases' journals
    id: int | None = Field(default=None, primary_key=True)
    alias: str = Field(index=True)
    move: int
    action: str
    version: str | None = None
    previous: str | None = None
    moved_at: datetime
    moved_by: str
    reason: str | None = Field(default=None, sa_type=Text)


class _EventFields(SQLModel):  # schema v4: yanks, unyanks and deletions
    id: int | None = Field(default=None, primary_key=True)
    version: str
    event: str
    event_at: datetime
    event_by: str
    reason: str | None = Field(default=None, sa_type=Text)


@dataclass(frozen=True)
class Schema:
    """The table classes for one table prefix."""

    prefix: str
    meta: Any
    asset: Any
    version: Any
    file: Any
    alias_move: Any
    event: Any

    def all(self) -> list[Any]:
        return [self.meta, self.asset, self.version, self.file, self.alias_move, self.event]


@functools.cache
def schema(prefix: str = DEFAULT_TABLE_PREFIX) -> Schema:
    """Table classes named with ``prefix`` (built once per prefix and process)."""
    try:
        check_prefix(prefix)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    assets = f"{prefix}assets"
    versions = f"{prefix}versions"
    return Schema(
        prefix=prefix,
        meta=_table("Meta", _MetaFields, f"{prefix}meta", {}),
        asset=_table(
            "Asset", _AssetFields, assets, {}, args=lambda: (UniqueConstraint(*UNIQUE["assets"]),)
        ),
        version=_table(
            "Version",
            _VersionFields,
            versions,
            {"asset_id": (int, Field(foreign_key=f"{assets}.id", ondelete="CASCADE", index=True))},
            args=lambda: (UniqueConstraint(*UNIQUE["versions"]),),
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
        alias_move=_table(
            "AliasMove",
            _AliasMoveFields,
            f"{prefix}alias_moves",
            {"asset_id": (int, Field(foreign_key=f"{assets}.id", ondelete="CASCADE", index=True))},
            args=lambda: (UniqueConstraint(*UNIQUE["alias_moves"]),),
        ),
        event=_table(
            "LifecycleEvent",
            _EventFields,
            f"{prefix}lifecycle_events",
            {"asset_id": (int, Field(foreign_key=f"{assets}.id", ondelete="CASCADE", index=True))},
            args=lambda: (UniqueConstraint(*UNIQUE["lifecycle_events"]),),
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
