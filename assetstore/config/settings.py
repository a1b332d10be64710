"""Settings, built at call time from an ``environ`` mapping and explicit overrides.

Precedence, written once here: explicit argument > CLI flag > environment variable >
config file > default — except that a store chosen by name (``--store``, ``store=``) is
as explicit as a flag, so its config-file values rank above the environment. Each
effective value remembers where it came from, for ``assetstore config show``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, InvalidSpecError
from ..model.pack import DEFAULT_FILE_MAX, DEFAULT_MIN_FILES, DEFAULT_PACK_MAX
from ..model.paths import check_relpath
from .options import (
    BY_NAME,
    DEFAULT_CONNECT_TIMEOUT_SECONDS,
    DEFAULT_LOCK_STALL_SECONDS,
    DEFAULT_PART_SIZE_MIB,
    DEFAULT_PREFIX,
    DEFAULT_READ_TIMEOUT_SECONDS,
    DEFAULT_RESERVATION_TIMEOUT_SECONDS,
    DEFAULT_RETRY_ATTEMPTS,
    DEFAULT_RETRY_DEADLINE_SECONDS,
    DEFAULT_TABLE_PREFIX,
    DEFAULT_URL_EXPIRES,
    DEFAULT_WORKERS,
    SETTINGS,
    Setting,
)

# The config file and the provider registry are imported by ``Settings.load``, not here:
# ``import assetstore`` stays light.
if TYPE_CHECKING:
    from .layer import FileLayer

log = logging.getLogger("assetstore")
_SPECIAL = {"storage_options", "config", "store"}


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
    table_prefix: str = DEFAULT_TABLE_PREFIX
    pushed_by: str = "unknown"
    reservation_timeout_seconds: float = DEFAULT_RESERVATION_TIMEOUT_SECONDS
    lockfile: str | None = None  # resolution goes through this lock (release/lockfile.py)
    force_offline: bool = False  # ASSETSTORE_OFFLINE: a provider is set, but never used
    auto_create_bucket: bool = False
    url_expires: int = DEFAULT_URL_EXPIRES
    public_url_base: str | None = None
    retry_attempts: int = DEFAULT_RETRY_ATTEMPTS
    retry_deadline_seconds: float = DEFAULT_RETRY_DEADLINE_SECONDS
    connect_timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS
    read_timeout_seconds: float = DEFAULT_READ_TIMEOUT_SECONDS
    part_size_mib: int = DEFAULT_PART_SIZE_MIB
    pack: bool = True  # directory pushes put their small files in packs (model/pack.py)
    pack_min_files: int = DEFAULT_MIN_FILES
    pack_file_max: int = DEFAULT_FILE_MAX
    pack_max: int = DEFAULT_PACK_MAX
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
        """Resolve every setting; ``overrides`` (None values ignored) win over the env.
        An override goes through the parser and range check of its setting."""
        from .layer import file_layer

        env = os.environ if environ is None else environ
        given = {k: v for k, v in (overrides or {}).items() if v is not None}
        unknown = set(given) - set(BY_NAME) - _SPECIAL
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        config, store = given.pop("config", None), given.pop("store", None)
        layer = file_layer(env, config=None if config is None else str(config), store=store)
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for setting in SETTINGS:
            values[setting.name], sources[setting.name] = _resolve(
                setting, given, env, layer, override_source
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
        _warn(env, values, sources)
        return cls._validated(values, options, sources)

    @classmethod
    def _validated(
        cls, values: dict[str, Any], options: dict[str, Any], sources: dict[str, str]
    ) -> Settings:
        from .location import storage_location

        provider, bucket = storage_location(values["provider"] or None, values["bucket"], sources)
        prefix = str(values["prefix"]).strip("/")
        if prefix:
            try:
                check_relpath(prefix, what="storage prefix")
            except InvalidSpecError as exc:
                raise ConfigError(f"storage prefix ({sources['prefix']}): {exc}") from None
        names = [s.name for s in SETTINGS if s.name not in ("provider", "bucket", "prefix")]
        given = {name: values[name] for name in names}
        given["assets_dir"] = Path(values["assets_dir"]).expanduser().absolute()
        given["catalog_url"] = values["catalog_url"] or None
        lockfile = values["lockfile"]
        given["lockfile"] = str(Path(lockfile).expanduser().absolute()) if lockfile else None
        return cls(
            provider=provider,
            bucket=bucket,
            prefix=prefix,
            **given,
            config_file=values["config_file"],
            store=values["store"],
            storage_options=options,
            sources=sources,
        )

    @property
    def offline(self) -> bool:
        """Serve the assets dir only and open no connection: pre-downloaded mode (no
        provider), or a provider with ``ASSETSTORE_OFFLINE`` set."""
        return self.provider is None or self.force_offline

    @property
    def offline_reason(self) -> str:
        """Why there is no remote, as the messages say it."""
        if self.force_offline:
            return "offline: ASSETSTORE_OFFLINE (or --offline) is set"
        return "pre-downloaded mode: no storage provider"

    def secrets(self) -> list[str]:
        """Every secret these settings hold (provider credentials, the catalog's
        password), for scrubbing whatever is shown."""
        from ..redact import database_url_secrets, secret_values

        found = secret_values(dict(self.storage_options))
        if self.catalog_url:
            found.extend(database_url_secrets(self.catalog_url))
        return found

    def describe(self) -> list[tuple[str, str, str]]:
        """(setting, value with secrets redacted, source) rows for ``config show``."""
        from ..redact import redact_database_url, redact_value

        rows = []
        for setting in SETTINGS:
            value = getattr(self, setting.name)
            if setting.name == "catalog_url" and value:
                value = redact_database_url(value)
            rows.append((setting.name, _show(value), self.sources.get(setting.name, "default")))
        for key in ("config_file", "store"):
            rows.append((key, _show(getattr(self, key)), self.sources.get(key, "default")))
        for key in sorted(self.storage_options):
            shown = redact_value(key, self.storage_options[key])
            source = self.sources.get(f"storage.{key}", "derived")
            rows.append((f"storage.{key}", _show(shown), source))
        return rows


def _warn(env: Mapping[str, str], values: Mapping[str, Any], sources: Mapping[str, str]) -> None:
    """Mistakes that are no error: a variable nothing reads, backend settings while no
    provider is set (see ``warnings.py``)."""
    from .warnings import pre_downloaded_despite, unknown_variables

    found = unknown_variables(env)
    if not values["provider"]:
        found.append(pre_downloaded_despite(sources) or "")
    for message in filter(None, found):
        log.warning("%s", message)


def _resolve(
    setting: Setting,
    given: Mapping[str, Any],
    env: Mapping[str, str],
    layer: FileLayer,
    override_source: str,
) -> tuple[Any, str]:
    """One setting, by precedence: argument or flag > (a store chosen by name) > env >
    config file > default."""
    if setting.name in given:
        where = setting.name if override_source == "argument" else f"--{setting.name}"
        return _parsed(setting, given[setting.name], where), override_source
    if layer.explicit and setting.name in layer.values:
        source = layer.sources[setting.name]
        return _parsed(setting, layer.values[setting.name], source), source
    raw = env.get(setting.env) if setting.env else None
    if raw:
        return _parsed(setting, raw, str(setting.env)), f"env {setting.env}"
    if setting.name in layer.values:
        source = layer.sources[setting.name]
        return _parsed(setting, layer.values[setting.name], source), source
    return setting.default(env), "default"


def _parsed(setting: Setting, raw: Any, where: str) -> Any:
    """``raw`` through the setting's parser: text as it is, another value (a number, a
    bool, a path given in Python or YAML) as its text."""
    text = str(raw).lower() if isinstance(raw, bool) else str(raw)
    try:
        return setting.parse(text)
    except ValueError as exc:
        shown = repr(raw)
        if setting.name == "catalog_url":
            from ..redact import redact_database_url

            shown = repr(redact_database_url(text))
        raise ConfigError(f"{where}={shown} is invalid: {exc}") from None


def _options(
    provider: str | None, env: Mapping[str, str], layer: FileLayer
) -> tuple[dict[str, Any], dict[str, str]]:
    """Provider options from the env and the config file; the env wins unless the
    store was chosen by name."""
    from ..backends.registry import PROVIDERS, finish_options

    if provider not in PROVIDERS:
        return {}, {}
    from_env, env_sources = _env_options(provider, env)
    from_file = layer.options if layer.values.get("provider") == provider else {}
    file_sources = {k: v for k, v in layer.sources.items() if k.startswith("storage.")}
    if layer.explicit:
        options, sources = _merge(from_env, from_file), {**env_sources, **file_sources}
    else:
        options, sources = _merge(from_file, from_env), {**file_sources, **env_sources}
    finish_options(provider, options, sources)
    return options, sources


def _env_options(provider: str, env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The fsspec options ``provider`` reads from ``env``, and where each came from."""
    from ..backends.registry import PROVIDERS

    options: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for option in PROVIDERS[provider].options:
        raw = env.get(option.env) if option.env else None
        if not raw:
            continue
        try:
            value = option.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{option.env}={raw!r} is invalid: {exc}") from None
        if value is not None:
            from .layer import set_nested

            set_nested(options, option.path, value)
            sources[f"storage.{option.path[0]}"] = f"env {option.env}"
    return options, sources


def storage_options_from_env(
    provider: str | None, environ: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The provider options ``environ`` gives ``provider``, with the provider's rules
    applied, and where each came from.

    >>> from assetstore.backends.registry import S3
    >>> storage_options_from_env(S3.name, {"S3_ENDPOINT": "http://127.0.0.1:9000"})[0]
    {'client_kwargs': {'endpoint_url': 'http://127.0.0.1:9000'}}
    """
    from ..backends.registry import PROVIDERS, finish_options

    if provider not in PROVIDERS:
        return {}, {}
    options, sources = _env_options(provider, environ)
    finish_options(provider, options, sources)
    return options, sources


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
