"""The config file: named backends declared once, stores that refer to them by name.

```yaml
storage:
  backends:
    prod: {type: s3, bucket: "${env.ASSET_BUCKET}", region: "${env.AWS_REGION:=us-east-1}"}
    catalog_db: {type: sql_postgres, host: db, db: assetstore, user: me, password: "${env.PGPASS}"}
  stores:
    assets: {backend: prod, prefix: assets}
    catalog: {backend: catalog_db, table_prefix: assetstore_}
```

``${env.NAME}`` is required, ``${env.NAME:=default}`` falls back (an empty default
means unset). Every reference is checked when the file is loaded, not on first use.

A malformed file of any kind (not UTF-8, not YAML, the wrong shape, aliases that refer
to themselves or expand without bound, nesting beyond reason) is a ConfigError naming
the file and, where there is one, the key path; never a value, which may be a secret.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..backends.registry import BUCKET_KEYS, PROVIDERS
from ..errors import ConfigError
from .options import FILE_KEYS
from .yaml_safe import check_document, read_yaml, shown

if TYPE_CHECKING:
    pass

log = logging.getLogger("assetstore")
SQL_TYPES = ("sql_postgres", "sql_sqlite")


def _object_keys(provider: str) -> tuple[str, ...]:
    """The keys an object-store backend of ``provider`` takes: its bucket, its own
    options (``backends/registry.py``) and the settings a file may set."""
    own = tuple(o.key for o in PROVIDERS[provider].options if o.key)
    return (*BUCKET_KEYS[provider], *own, *FILE_KEYS)


OPTIONS: dict[str, tuple[str, ...]] = {  # in the registry's order (the clouds first)
    **{name: _object_keys(name) for name in PROVIDERS},
    "sql_postgres": ("host", "port", "db", "user", "password", "sslmode"),
    "sql_sqlite": ("path",),
}
_REFERENCE = re.compile(r"\$\{env\.([A-Za-z_][A-Za-z0-9_]*)(?::=([^}]*))?\}")
_DEFAULT_FILE = "assetstore.yaml"


@dataclass(frozen=True)
class Backend:
    name: str
    type: str
    options: dict[str, Any]

    @property
    def is_sql(self) -> bool:
        return self.type in SQL_TYPES


@dataclass(frozen=True)
class Store:
    name: str
    backend: str
    prefix: str | None = None
    table_prefix: str | None = None


@dataclass(frozen=True)
class ConfigFile:
    path: Path
    backends: dict[str, Backend] = field(default_factory=dict)
    stores: dict[str, Store] = field(default_factory=dict)

    def store(self, name: str) -> tuple[Store, Backend]:
        if name not in self.stores:
            raise ConfigError(
                f"{self.path}: no store named {name!r}; choices: {_choices(self.stores)}"
            )
        store = self.stores[name]
        return store, self.backends[store.backend]

    def asset_stores(self) -> list[str]:
        return sorted(n for n, s in self.stores.items() if not self.backends[s.backend].is_sql)


def find_config(environ: Mapping[str, str], explicit: str | None = None) -> Path | None:
    """The config file to read: the explicit one, ``ASSETSTORE_CONFIG``, or
    ``./assetstore.yaml`` when it exists."""
    chosen = explicit or environ.get("ASSETSTORE_CONFIG")
    if chosen:
        try:
            path = Path(chosen).expanduser()
        except RuntimeError:  # ~user whose home is unknown
            raise ConfigError(f"config file {chosen}: no such user's home folder") from None
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        return path
    default = Path(_DEFAULT_FILE)
    return default if default.is_file() else None


def load_config(path: Path, environ: Mapping[str, str]) -> ConfigFile:
    """Read, substitute and validate a config file."""
    raw = read_yaml(path)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    check_document(path, raw)
    unknown = set(raw) - {"storage"}
    if unknown:
        raise ConfigError(
            f"{path}: unknown top-level key {sorted(unknown)[0]!r}; expected 'storage'"
        )
    storage = _mapping(raw.get("storage", {}), f"{path}: storage")
    _no_unknown(storage, ("backends", "stores"), f"{path}: storage")
    substituted = substitute(storage, environ, where=f"{path}: storage")
    backends = _backends(path, substituted.get("backends") or {})
    stores = _stores(path, substituted.get("stores") or {}, backends)
    return ConfigFile(path, backends, stores)


def substitute(value: Any, environ: Mapping[str, str], *, where: str) -> Any:
    """Replace ``${env.NAME}`` / ``${env.NAME:=default}`` in every string of ``value``.

    A string that is exactly one reference to an unset or empty variable with an empty
    default becomes None (unset).

    >>> substitute({"a": "${env.X:=7}", "b": "x-${env.Y}"}, {"Y": "1"}, where="cfg")
    {'a': '7', 'b': 'x-1'}
    """
    if isinstance(value, dict):
        return {k: substitute(v, environ, where=f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, environ, where=f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value
    result = _REFERENCE.sub(lambda m: _lookup(m, environ, where), value)
    if "${" in result:
        raise ConfigError(f"{where}: only ${{env.NAME}} and ${{env.NAME:=default}} are allowed")
    return None if result == "" and _REFERENCE.fullmatch(value) else result


def _lookup(match: re.Match[str], environ: Mapping[str, str], where: str) -> str:
    name, default = match[1], match[2]
    value = environ.get(name)
    if value:
        return value
    if default is None:
        raise ConfigError(f"{where}: environment variable {name} is not set (${{env.{name}}})")
    return default


def _backends(path: Path, raw: Any) -> dict[str, Backend]:
    backends = {}
    for name, spec in _mapping(raw, f"{path}: storage.backends").items():
        where = f"{path}: storage.backends.{name}"
        spec = _mapping(spec, where)
        kind = spec.get("type")
        if not isinstance(kind, str) or kind not in OPTIONS:
            raise ConfigError(
                f"{where}.type: {shown(kind)} is not a backend type; choices: {', '.join(OPTIONS)}"
            )
        options = {k: v for k, v in spec.items() if k != "type"}
        _no_unknown(options, OPTIONS[kind], where)
        for key, value in options.items():
            _single(value, f"{where}.{key}")
        backends[str(name)] = Backend(str(name), kind, options)
    return backends


def _stores(path: Path, raw: Any, backends: dict[str, Backend]) -> dict[str, Store]:
    stores = {}
    for name, spec in _mapping(raw, f"{path}: storage.stores").items():
        where = f"{path}: storage.stores.{name}"
        spec = _mapping(spec, where)
        backend = spec.get("backend")
        wants_sql = name == "catalog"
        family = [b for b in backends.values() if b.is_sql == wants_sql]
        chosen = backends.get(backend) if isinstance(backend, str) else None
        if chosen is None or chosen.is_sql != wants_sql:
            kind = "SQL" if wants_sql else "object-store"
            raise ConfigError(
                f"{where}.backend: {shown(backend)} is not a declared {kind} backend; "
                f"choices: {_choices({b.name: b for b in family})}"
            )
        _no_unknown(
            spec, ("backend", "table_prefix") if wants_sql else ("backend", "prefix"), where
        )
        prefix = _text(spec.get("prefix"), f"{where}.prefix")
        table_prefix = _text(spec.get("table_prefix"), f"{where}.table_prefix")
        stores[str(name)] = Store(str(name), chosen.name, prefix, table_prefix)
    return stores


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _single(value: Any, where: str) -> None:
    if isinstance(value, (dict, list)):
        raise ConfigError(f"{where}: expected a single value, got {shown(value)}")


def _text(value: Any, where: str) -> str | None:
    _single(value, where)
    return None if value is None else str(value)


def _no_unknown(given: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(sorted(allowed))}"
        )


def _choices(named: Mapping[str, Any]) -> str:
    return ", ".join(sorted(named)) or "(none declared)"


# -- from a declared store to settings ---------------------------------------------------
