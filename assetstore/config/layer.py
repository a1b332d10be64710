"""What the config file gives the settings of one store: its backend's provider,
bucket and options, its prefix, and the catalog's URL — each with where it came from."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..backends.registry import BUCKET_KEYS, PROVIDERS
from ..errors import ConfigError
from .file import OPTIONS, Backend, ConfigFile, find_config, load_config
from .options import FILE_KEYS

log = logging.getLogger("assetstore")


@dataclass(frozen=True)
class FileLayer:
    """What the config file contributes to the settings of one store."""

    values: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    explicit: bool = False  # chosen by --store / store=: ranks with flags, above the env
    path: Path | None = None
    store: str | None = None


def file_layer(
    environ: Mapping[str, str], *, config: str | None = None, store: str | None = None
) -> FileLayer:
    """The settings a config file gives the chosen store (``assets`` by default)."""
    path = find_config(environ, config)
    if path is None:
        if store is not None:
            raise ConfigError(
                f"store {store!r} is named, but no config file declares stores: set "
                "ASSETSTORE_CONFIG to one, or create ./assetstore.yaml (docs/config-file.md)"
            )
        return FileLayer()
    parsed = load_config(path, environ)
    chosen = store or ("assets" if "assets" in parsed.stores else None)
    layer = FileLayer(path=path, explicit=store is not None, store=chosen)
    if chosen is not None:
        _add_object_store(layer, parsed, chosen)
    if "catalog" in parsed.stores:
        _add_catalog(layer, parsed)
    return layer


def _add_object_store(layer: FileLayer, parsed: ConfigFile, name: str) -> None:
    chosen, backend = parsed.store(name)
    if backend.is_sql:
        raise ConfigError(f"{parsed.path}: store {name!r} is a SQL store, not an asset store")
    where = f"config {parsed.path}: storage.backends.{backend.name}"
    options = {k: v for k, v in backend.options.items() if v is not None}
    bucket = next((options.pop(k) for k in BUCKET_KEYS[backend.type] if k in options), None)
    if PROVIDERS[backend.type].folder and bucket:  # a folder, relative to the file's
        bucket = str((parsed.path.parent / str(bucket)).resolve())
    _set(layer, "provider", backend.type, f"{where}.type")
    _set(layer, "bucket", bucket, f"{where}")
    _set(layer, "prefix", chosen.prefix, f"config {parsed.path}: storage.stores.{name}.prefix")
    for key, value in options.items():
        _apply_option(layer, backend, key, value, f"{where}.{key}")


def _apply_option(layer: FileLayer, backend: Backend, key: str, value: Any, where: str) -> None:
    """A backend key: a setting (under its name now, if it is one's old key), or one
    of the provider's own options, parsed as its environment variable is."""
    if key in FILE_KEYS:
        setting = FILE_KEYS[key]
        if key != setting.key:
            log.warning("%s: %r is the old name of %r; write %r", where, key, setting.key,
                        setting.key)  # fmt: skip
            fixed = "fixed_upload_size" in OPTIONS[backend.type]
            if key == "fixed_part_size_mib" and fixed:  # it also meant: parts all one size
                _apply_option(layer, backend, "fixed_upload_size", True, where)
        _set(layer, setting.name, value, where)
        return
    option = next(o for o in PROVIDERS[backend.type].options if o.key == key)
    try:
        parsed = option.parse(str(value).lower() if isinstance(value, bool) else str(value))
    except ValueError as exc:
        raise ConfigError(f"{where}={value!r} is invalid: {exc}") from None
    if parsed is not None:
        set_nested(layer.options, option.path, parsed)
        layer.sources[f"storage.{option.path[0]}"] = where


def _add_catalog(layer: FileLayer, parsed: ConfigFile) -> None:
    chosen, backend = parsed.store("catalog")
    where = f"config {parsed.path}: storage.backends.{backend.name}"
    _set(layer, "catalog_url", sql_url(backend, parsed.path.parent), where)
    prefix_where = f"config {parsed.path}: storage.stores.catalog.table_prefix"
    _set(layer, "table_prefix", chosen.table_prefix, prefix_where)


def sql_url(backend: Backend, base: Path) -> str:
    """The SQLAlchemy URL of a declared SQL backend.

    >>> sql_url(Backend("db", "sql_postgres", {"host": "h", "user": "u", "password": "p@ss",
    ...     "db": "a"}), Path("."))
    'postgresql+psycopg://u:p%40ss@h:5432/a'
    """
    from urllib.parse import quote

    options = backend.options
    if backend.type == "sql_sqlite":
        path = options.get("path") or "catalog.db"
        return f"sqlite:///{(base / str(path)).resolve()}"
    user = quote(str(options.get("user") or "postgres"), safe="")
    password = options.get("password")
    auth = f"{user}:{quote(str(password), safe='')}" if password else user
    host = options.get("host") or "localhost"
    port, db = options.get("port") or 5432, options.get("db") or "assetstore"
    url = f"postgresql+psycopg://{auth}@{host}:{port}/{db}"
    return url + (f"?sslmode={options['sslmode']}" if options.get("sslmode") else "")


def _set(layer: FileLayer, name: str, value: Any, where: str) -> None:
    if value is not None and value != "":
        layer.values[name] = value
        layer.sources[name] = where


def set_nested(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
