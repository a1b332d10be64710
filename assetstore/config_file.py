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

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError

if TYPE_CHECKING:
    import yaml

OBJECT_TYPES = ("az", "gcs", "local", "memory", "s3")
SQL_TYPES = ("sql_postgres", "sql_sqlite")
_COMMON_OBJECT_OPTIONS = (
    "auto_create_bucket", "presigned_expiry_secs", "public_url_base", "retry_attempts",
    "retry_deadline_secs", "connect_timeout_secs",
)  # fmt: skip
OPTIONS: dict[str, tuple[str, ...]] = {
    "s3": (
        "bucket",
        "region",
        "endpoint_url",
        "force_path_style",
        "sse",
        "kms_key_id",
        "profile",
        "access_key_id",
        "secret_access_key",
        "session_token",
        "fixed_part_size_mib",
        *_COMMON_OBJECT_OPTIONS,
    ),
    "gcs": ("bucket", "project", "credentials_file", "endpoint_url", *_COMMON_OBJECT_OPTIONS),
    "az": (
        "container",
        "bucket",
        "connection_string",
        "account_name",
        "account_key",
        "sas_token",
        *_COMMON_OBJECT_OPTIONS,
    ),
    "local": ("path", *_COMMON_OBJECT_OPTIONS),
    "memory": ("bucket", *_COMMON_OBJECT_OPTIONS),
    "sql_postgres": ("host", "port", "db", "user", "password", "sslmode"),
    "sql_sqlite": ("path",),
}
_REFERENCE = re.compile(r"\$\{env\.([A-Za-z_][A-Za-z0-9_]*)(?::=([^}]*))?\}")
_DEFAULT_FILE = "assetstore.yaml"
MAX_DEPTH = 32  # nesting levels; a real file needs 5
MAX_VALUES = 100_000  # values once aliases are expanded: bounds a "billion laughs"
_MAX_INT_BITS = 63  # larger numbers are mistakes, and some cannot even be printed


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
    raw = _read_yaml(path)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    _Walk(path).check(raw, "", 0)
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


def _read_yaml(path: Path) -> Any:
    """The YAML document in ``path``; every way of failing is a one-line ConfigError
    that quotes no text of the file."""
    import yaml

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"cannot read config file {path}: line {line}: not UTF-8 (byte {exc.start})"
        ) from None
    try:
        loader = _loader_class()(text)  # refuses control characters already
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot read config file {path}: {_yaml_problem(exc, text)}") from None


def _yaml_problem(exc: yaml.YAMLError, text: str) -> str:
    """What PyYAML says, on one line and without its snippet of the file (a secret may
    be on that line)."""
    import yaml

    if isinstance(exc, yaml.MarkedYAMLError):
        mark, context = exc.problem_mark or exc.context_mark, exc.context
        if context and exc.context_mark and mark and exc.context_mark.line != mark.line:
            context += f" (line {exc.context_mark.line + 1})"
        what = ", ".join(part for part in (context, exc.problem) if part)
        return f"line {mark.line + 1}, column {mark.column + 1}: {what}" if mark else what
    if isinstance(exc, yaml.reader.ReaderError):
        line = text[: exc.position].count("\n") + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return f"line {line}: unacceptable character #x{code:04x}"
    return str(exc).splitlines()[0]


@functools.cache
def _loader_class() -> type[yaml.SafeLoader]:
    """yaml.SafeLoader with bounds on nesting and on merges (``<<``), and values it
    cannot construct (an invalid date, ``!!int abc``) refused as YAML errors.

    The second is a narrow safety net: PyYAML's scalar constructors let ValueError,
    TypeError, AttributeError or KeyError out for such tagged or date-like scalars, and
    the node's position is only known here."""
    import yaml
    from yaml.composer import ComposerError
    from yaml.constructor import ConstructorError
    from yaml.nodes import MappingNode, Node

    class Loader(yaml.SafeLoader):
        depth = 0

        def compose_node(self, parent: Node | None, index: int) -> Node | None:
            if self.depth >= MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep", mark)
            self.depth += 1
            try:
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

        def flatten_mapping(self, node: MappingNode) -> None:
            super().flatten_mapping(node)  # calls this one for the merged mappings
            if len(node.value) > MAX_VALUES:  # merges of merges double at each level
                problem = f"more than {MAX_VALUES} keys once merges (<<) are expanded"
                raise ConstructorError(None, None, problem, node.start_mark)

        def construct_object(self, node: Node, deep: bool = False) -> Any:
            try:
                return super().construct_object(node, deep)
            except (ValueError, TypeError, AttributeError, LookupError, OverflowError):
                tag = node.tag.rsplit(":", 1)[-1]
                problem = f"cannot read this value as {tag}"
                raise ConstructorError(None, None, problem, node.start_mark) from None

    return Loader


@dataclass
class _Walk:
    """Checks a loaded document before anything else reads it: every key a string, no
    alias that contains itself, at most MAX_DEPTH levels and MAX_VALUES values (counted
    with aliases expanded), no NUL character and no huge number."""

    path: Path
    left: int = MAX_VALUES
    open: set[int] = field(default_factory=set)  # the mappings and lists being checked

    def check(self, value: Any, where: str, depth: int) -> None:
        self._scalar(value, where)
        if not isinstance(value, (dict, list)):
            return
        if id(value) in self.open:
            raise self._error(where, "an alias refers to a mapping or list that contains it")
        if depth >= MAX_DEPTH:
            raise self._error(where, f"nested more than {MAX_DEPTH} levels deep")
        self.open.add(id(value))
        for child_where, child in self._children(value, where):
            self.check(child, child_where, depth + 1)
        self.open.discard(id(value))

    def _children(self, value: dict[Any, Any] | list[Any], where: str) -> Iterator[tuple[str, Any]]:
        if isinstance(value, list):
            yield from ((f"{where}[{i}]", child) for i, child in enumerate(value))
            return
        for key, child in value.items():
            self._scalar(key, where)
            if not isinstance(key, str):
                raise self._error(where, f"key {_show(key)} is not a string; quote it")
            yield (f"{where}.{key}" if where else key), child

    def _scalar(self, value: Any, where: str) -> None:
        self.left -= 1
        if self.left < 0:
            raise self._error(where, f"more than {MAX_VALUES} values once aliases are expanded")
        if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
            raise self._error(where, "a number too large")
        if isinstance(value, str) and "\x00" in value:
            raise self._error(where, "a NUL character (\\0)")

    def _error(self, where: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}: {where or 'top level'}: {problem}")


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
                f"{where}.type: {_show(kind)} is not a backend type; choices: {', '.join(OPTIONS)}"
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
                f"{where}.backend: {_show(backend)} is not a declared {kind} backend; "
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
        raise ConfigError(f"{where}: expected a single value, got {_show(value)}")


def _text(value: Any, where: str) -> str | None:
    _single(value, where)
    return None if value is None else str(value)


def _show(value: Any) -> str:
    """A value for a message, only where it is never a secret (a type, a backend name,
    a key); a mapping or a list by its kind, not its content."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _no_unknown(given: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(sorted(allowed))}"
        )


def _choices(named: Mapping[str, Any]) -> str:
    return ", ".join(sorted(named)) or "(none declared)"


# -- from a declared store to settings ---------------------------------------------------
@dataclass(frozen=True)
class FileLayer:
    """What the config file contributes to the settings of one store."""

    values: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    explicit: bool = False  # chosen by --store / store=: ranks with flags, above the env
    path: Path | None = None
    store: str | None = None


# config-file option -> path inside the fsspec constructor's kwargs
_FSSPEC_OPTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "s3": {
        "region": ("client_kwargs", "region_name"),
        "endpoint_url": ("client_kwargs", "endpoint_url"),
        "access_key_id": ("key",),
        "secret_access_key": ("secret",),
        "session_token": ("token",),
        "profile": ("profile",),
        "sse": ("s3_additional_kwargs", "ServerSideEncryption"),
        "kms_key_id": ("s3_additional_kwargs", "SSEKMSKeyId"),
    },
    "gcs": {
        "project": ("project",),
        "credentials_file": ("token",),
        "endpoint_url": ("endpoint_url",),
    },
    "az": {
        "connection_string": ("connection_string",),
        "account_name": ("account_name",),
        "account_key": ("account_key",),
        "sas_token": ("sas_token",),
    },
}
# config-file option -> settings field
SETTING_OPTIONS: dict[str, str] = {
    "auto_create_bucket": "auto_create_bucket",
    "presigned_expiry_secs": "url_expires",
    "public_url_base": "public_url_base",
    "retry_attempts": "retry_attempts",
    "retry_deadline_secs": "retry_deadline_seconds",
    "connect_timeout_secs": "connect_timeout_seconds",
    "fixed_part_size_mib": "part_size_mib",
}


def file_layer(
    environ: Mapping[str, str], *, config: str | None = None, store: str | None = None
) -> FileLayer:
    """The settings a config file gives the chosen store (``assets`` by default)."""
    path = find_config(environ, config)
    if path is None:
        if store is not None:
            raise ConfigError(f"--store {store}: no config file (set ASSETSTORE_CONFIG)")
        return FileLayer()
    parsed = load_config(path, environ)
    layer = FileLayer(path=path, explicit=store is not None, store=store or "assets")
    if layer.store in parsed.stores or store is not None:
        _add_object_store(layer, parsed, layer.store or "assets")
    if "catalog" in parsed.stores:
        _add_catalog(layer, parsed)
    return layer


def _add_object_store(layer: FileLayer, parsed: ConfigFile, name: str) -> None:
    chosen, backend = parsed.store(name)
    if backend.is_sql:
        raise ConfigError(f"{parsed.path}: store {name!r} is a SQL store, not an asset store")
    where = f"config {parsed.path}: storage.backends.{backend.name}"
    options = {k: v for k, v in backend.options.items() if v is not None}
    bucket = (
        options.pop("path", None) or options.pop("container", None) or options.pop("bucket", None)
    )
    if backend.type == "local" and bucket:
        bucket = str((parsed.path.parent / str(bucket)).resolve())
    _set(layer, "provider", backend.type, f"{where}.type")
    _set(layer, "bucket", bucket, f"{where}")
    _set(layer, "prefix", chosen.prefix, f"config {parsed.path}: storage.stores.{name}.prefix")
    if backend.type == "s3" and options.get("force_path_style"):
        layer.options.setdefault("config_kwargs", {})["s3"] = {"addressing_style": "path"}
    if backend.type == "s3" and options.get("kms_key_id"):
        options.setdefault("sse", "aws:kms")
    if backend.type == "s3" and options.get("fixed_part_size_mib"):
        layer.options["fixed_upload_size"] = True  # R2: every part the same size
    for key, value in options.items():
        _apply_option(layer, backend, key, value, f"{where}.{key}")


def _apply_option(layer: FileLayer, backend: Backend, key: str, value: Any, where: str) -> None:
    target = _FSSPEC_OPTIONS.get(backend.type, {}).get(key)
    if target is not None:
        node = layer.options
        for part in target[:-1]:
            node = node.setdefault(part, {})
        node[target[-1]] = value
        layer.sources[f"storage.{target[0]}"] = where
    elif key in SETTING_OPTIONS:
        _set(layer, SETTING_OPTIONS[key], value, where)


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
