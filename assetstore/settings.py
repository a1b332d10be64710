"""Settings, built at call time from an ``environ`` mapping and explicit overrides.

Precedence, written once here: explicit argument > CLI flag > environment variable >
config file > default. Each effective value remembers where it came from, so that
``assetstore config show`` can say it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, InvalidSpecError
from .paths import check_relpath

# The config file and provider modules are imported by ``Settings.load``, not here:
# ``import assetstore`` stays light.
if TYPE_CHECKING:
    from .config_file import FileLayer

DEFAULT_PREFIX = "assets"
DEFAULT_WORKERS = 8
DEFAULT_LOCK_STALL_SECONDS = 120.0
DEFAULT_RESERVATION_TIMEOUT_SECONDS = 86400.0
DEFAULT_URL_EXPIRES = 3600
DEFAULT_RETRY_ATTEMPTS = 5
DEFAULT_RETRY_DEADLINE_SECONDS = 60.0
DEFAULT_CONNECT_TIMEOUT_SECONDS = 5.0
DEFAULT_READ_TIMEOUT_SECONDS = 60.0
DEFAULT_PART_SIZE_MIB = 8


def default_assets_dir(environ: Mapping[str, str]) -> str:
    """The user cache dir: ``$XDG_CACHE_HOME/assetstore`` or ``~/.cache/assetstore``."""
    base = environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return str(Path(base) / "assetstore")


def default_pusher(_environ: Mapping[str, str]) -> str:
    """``user@host`` of whoever pushes."""
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}"
    return f"{user}@{_hostname()}"


def _hostname() -> str:
    if hasattr(os, "uname"):  # what socket.gethostname() says, without importing socket
        return os.uname().nodename
    import socket

    return socket.gethostname()


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError("must be at least 1")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise ValueError("must be more than 0")
    return value


def _part_size_mib(text: str) -> int:
    value = int(text)
    if not 5 <= value <= 5120:  # S3's limits on a multipart upload's parts
        raise ValueError("must be between 5 and 5120 (MiB)")
    return value


def _url_base(text: str) -> str:
    if not text.startswith(("https://", "http://")):
        raise ValueError("must start with https:// or http://")
    return text.rstrip("/")


DATABASE_URL_SHAPE = (
    "postgresql+psycopg://USER@HOST:5432/DATABASE (a password after USER:, URL-encoded) "
    "or sqlite:////path/to/catalog.db"
)
_DATABASE_URL = re.compile(r"[A-Za-z][A-Za-z0-9+_]*://.*", re.S)


def _database_url(text: str) -> str:
    """A SQLAlchemy database URL, checked for its shape only (SQLAlchemy itself is only
    imported when the catalog is opened)."""
    if not _DATABASE_URL.fullmatch(text):
        raise ValueError(f"expected a database URL, such as {DATABASE_URL_SHAPE}")
    netloc = text.partition("://")[2].partition("?")[0]
    if netloc.count("@") > 1:
        raise ValueError("its password holds a raw '@': write it URL-encoded, as %40")
    return text


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("expected true/false, 1/0, yes/no or on/off")


@dataclass(frozen=True)
class _Field:
    name: str
    env: str
    default: Callable[[Mapping[str, str]], Any]
    parse: Callable[[str], Any] = str


FIELDS: tuple[_Field, ...] = (
    _Field("assets_dir", "ASSETSTORE_ASSETS_DIR", default_assets_dir),
    _Field("provider", "ASSETSTORE_STORAGE_PROVIDER", lambda _env: None),
    _Field("bucket", "ASSETSTORE_STORAGE_BUCKET", lambda _env: None),
    _Field("prefix", "ASSETSTORE_STORAGE_PREFIX", lambda _env: DEFAULT_PREFIX),
    _Field("catalog_url", "ASSETSTORE_CATALOG_URL", lambda _env: None, _database_url),
    _Field("workers", "ASSETSTORE_WORKERS", lambda _env: DEFAULT_WORKERS, _positive_int),
    _Field(
        "lock_stall_seconds",
        "ASSETSTORE_LOCK_STALL_SECONDS",
        lambda _env: DEFAULT_LOCK_STALL_SECONDS,
        _non_negative_float,
    ),
    _Field("use_locks", "ASSETSTORE_USE_LOCKS", lambda _env: True, _boolean),
    _Field("table_prefix", "ASSETSTORE_CATALOG_TABLE_PREFIX", lambda _env: "assetstore_"),
    _Field("pushed_by", "ASSETSTORE_PUSHED_BY", default_pusher),
    _Field(
        "reservation_timeout_seconds",
        "ASSETSTORE_RESERVATION_TIMEOUT_SECONDS",
        lambda _env: DEFAULT_RESERVATION_TIMEOUT_SECONDS,
        _non_negative_float,
    ),
    # backend behaviour (see docs/providers.md)
    _Field("auto_create_bucket", "ASSETSTORE_AUTO_CREATE_BUCKET", lambda _env: False, _boolean),
    _Field("url_expires", "ASSETSTORE_URL_EXPIRES", lambda _env: DEFAULT_URL_EXPIRES,
           _non_negative_int),
    _Field("public_url_base", "ASSETSTORE_PUBLIC_URL_BASE", lambda _env: None, _url_base),
    _Field("retry_attempts", "ASSETSTORE_RETRY_ATTEMPTS", lambda _env: DEFAULT_RETRY_ATTEMPTS,
           _positive_int),
    _Field("retry_deadline_seconds", "ASSETSTORE_RETRY_DEADLINE_SECONDS",
           lambda _env: DEFAULT_RETRY_DEADLINE_SECONDS, _non_negative_float),
    _Field("connect_timeout_seconds", "ASSETSTORE_CONNECT_TIMEOUT_SECONDS",
           lambda _env: DEFAULT_CONNECT_TIMEOUT_SECONDS, _positive_float),
    _Field("read_timeout_seconds", "ASSETSTORE_READ_TIMEOUT_SECONDS",
           lambda _env: DEFAULT_READ_TIMEOUT_SECONDS, _positive_float),
    _Field("part_size_mib", "ASSETSTORE_PART_SIZE_MIB", lambda _env: DEFAULT_PART_SIZE_MIB,
           _part_size_mib),
)  # fmt: skip


_BACKEND_FIELDS = (
    "auto_create_bucket", "url_expires", "public_url_base", "retry_attempts",
    "retry_deadline_seconds", "connect_timeout_seconds", "read_timeout_seconds", "part_size_mib",
)  # fmt: skip


@dataclass(frozen=True)
class Settings:
    """Everything a store needs, already validated. Build with :meth:`load`."""

    assets_dir: Path
    provider: str | None = None
    bucket: str | None = None
    prefix: str = DEFAULT_PREFIX
    catalog_url: str | None = None
    workers: int = DEFAULT_WORKERS
    lock_stall_seconds: float = DEFAULT_LOCK_STALL_SECONDS
    use_locks: bool = True
    table_prefix: str = "assetstore_"
    pushed_by: str = "unknown"
    reservation_timeout_seconds: float = DEFAULT_RESERVATION_TIMEOUT_SECONDS
    auto_create_bucket: bool = False
    url_expires: int = DEFAULT_URL_EXPIRES
    public_url_base: str | None = None
    retry_attempts: int = DEFAULT_RETRY_ATTEMPTS
    retry_deadline_seconds: float = DEFAULT_RETRY_DEADLINE_SECONDS
    connect_timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS
    read_timeout_seconds: float = DEFAULT_READ_TIMEOUT_SECONDS
    part_size_mib: int = DEFAULT_PART_SIZE_MIB
    config_file: Path | None = None
    store: str | None = None
    storage_options: Mapping[str, Any] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        overrides: Mapping[str, Any] | None = None,
        override_source: str = "argument",
    ) -> Settings:
        """Resolve every setting; ``overrides`` (None values ignored) win over the env."""
        from .config_file import file_layer

        env = os.environ if environ is None else environ
        given = {k: v for k, v in (overrides or {}).items() if v is not None}
        unknown = set(given) - {f.name for f in FIELDS} - {"storage_options", "config", "store"}
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        config, store = given.pop("config", None), given.pop("store", None)
        layer = file_layer(env, config=config, store=store)
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for spec in FIELDS:
            values[spec.name], sources[spec.name] = _resolve(
                spec, given, env, layer, override_source
            )
        options, option_sources = _options(values["provider"], env, layer)
        if "storage_options" in given:
            options = {**options, **given["storage_options"]}
        sources.update(option_sources)
        values["config_file"], values["store"] = layer.path, layer.store
        sources["config_file"] = (
            override_source if config else "env ASSETSTORE_CONFIG"
            if env.get("ASSETSTORE_CONFIG") else "found in the working directory"
            if layer.path else "default"
        )  # fmt: skip
        sources["store"] = override_source if store else "default"
        return cls._validated(values, options, sources)

    @classmethod
    def _validated(
        cls, values: dict[str, Any], options: dict[str, Any], sources: dict[str, str]
    ) -> Settings:
        from .providers import PROVIDERS

        provider = values["provider"] or None
        if provider is not None and provider not in PROVIDERS:
            choices = ", ".join(sorted(PROVIDERS))
            raise ConfigError(
                f"storage provider {provider!r} ({sources['provider']}) is not a provider; "
                "choose one of "
                f"{choices}, or leave it unset to serve a pre-downloaded assets dir"
            )
        if provider is not None and not values["bucket"]:
            raise ConfigError(
                f"provider {provider!r} needs a bucket: set ASSETSTORE_STORAGE_BUCKET"
                + (" to the folder used as the remote" if provider == "local" else "")
            )
        prefix = str(values["prefix"]).strip("/")
        if prefix:
            try:
                check_relpath(prefix, what="storage prefix")
            except InvalidSpecError as exc:
                raise ConfigError(f"storage prefix ({sources['prefix']}): {exc}") from None
        bucket = values["bucket"]
        if provider == "local" and bucket:
            bucket = str(Path(bucket).expanduser().absolute())
        return cls(
            assets_dir=Path(values["assets_dir"]).expanduser().absolute(),
            provider=provider,
            bucket=bucket,
            prefix=prefix,
            catalog_url=values["catalog_url"] or None,
            workers=values["workers"],
            lock_stall_seconds=values["lock_stall_seconds"],
            use_locks=values["use_locks"],
            table_prefix=values["table_prefix"],
            pushed_by=values["pushed_by"],
            reservation_timeout_seconds=values["reservation_timeout_seconds"],
            **{name: values[name] for name in _BACKEND_FIELDS},
            config_file=values["config_file"],
            store=values["store"],
            storage_options=options,
            sources=sources,
        )

    def secrets(self) -> list[str]:
        """Every secret these settings hold (provider credentials, the catalog's
        password), for scrubbing whatever is shown."""
        from .redact import database_url_secrets, secret_values

        found = secret_values(dict(self.storage_options))
        if self.catalog_url:
            found.extend(database_url_secrets(self.catalog_url))
        return found

    @property
    def offline(self) -> bool:
        """Pre-downloaded mode: no provider, serve the assets dir only, write nothing."""
        return self.provider is None

    def describe(self) -> list[tuple[str, str, str]]:
        """(setting, value with secrets redacted, source) rows for ``config show``."""
        from .redact import redact_database_url, redact_value

        rows = []
        for spec in FIELDS:
            value = getattr(self, spec.name)
            shown = redact_database_url(value) if spec.name == "catalog_url" and value else value
            rows.append((spec.name, _show(shown), self.sources.get(spec.name, "default")))
        for key in ("config_file", "store"):
            rows.append((key, _show(getattr(self, key)), self.sources.get(key, "default")))
        for key in sorted(self.storage_options):
            shown = redact_value(key, self.storage_options[key])
            rows.append(
                (f"storage.{key}", _show(shown), self.sources.get(f"storage.{key}", "derived"))
            )
        return rows


def _resolve(
    spec: _Field,
    given: Mapping[str, Any],
    env: Mapping[str, str],
    layer: FileLayer,
    override_source: str,
) -> tuple[Any, str]:
    """One setting, by precedence: argument or flag > (a store chosen by name) > env >
    config file > default."""
    if spec.name in given:
        return given[spec.name], override_source
    if layer.explicit and spec.name in layer.values:
        return _parsed(spec, layer.values[spec.name], layer.sources[spec.name])
    raw = env.get(spec.env)
    if raw:
        return _parsed(spec, raw, f"env {spec.env}")
    if spec.name in layer.values:
        return _parsed(spec, layer.values[spec.name], layer.sources[spec.name])
    return spec.default(env), "default"


def _parsed(spec: _Field, raw: Any, source: str) -> tuple[Any, str]:
    try:
        return spec.parse(str(raw)), source
    except ValueError as exc:
        where = spec.env if source.startswith("env") else source
        shown = repr(raw)
        if spec.name == "catalog_url":
            from .redact import redact_database_url

            shown = repr(redact_database_url(str(raw)))
        raise ConfigError(f"{where}={shown} is invalid: {exc}") from None


def _options(
    provider: str | None, env: Mapping[str, str], layer: FileLayer
) -> tuple[dict[str, Any], dict[str, str]]:
    """Provider options from the env and the config file; the env wins unless the
    store was chosen by name."""
    from .providers import storage_options_from_env

    from_env, env_sources = storage_options_from_env(provider, env)
    from_file = layer.options if layer.values.get("provider") == provider else {}
    file_sources = {k: v for k, v in layer.sources.items() if k.startswith("storage.")}
    if layer.explicit:
        return _merge(from_env, from_file), {**env_sources, **file_sources}
    return _merge(from_file, from_env), {**file_sources, **env_sources}


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _show(value: Any) -> str:
    return "(unset)" if value is None else str(value)
