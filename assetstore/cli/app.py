"""The ``assetstore`` command group: its global flags (accepted after the command too,
as git and the AWS CLI do), the settings and store it builds once per run, and logging
that never shows a secret."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..redact import database_url_secrets, is_secret_key, scrub, secret_values

if TYPE_CHECKING:
    from ..store import AssetStore

log = logging.getLogger("assetstore")
F = TypeVar("F", bound=Callable[..., Any])


class _State:
    def __init__(self, overrides: dict[str, Any], *, quiet: bool, debug: bool) -> None:
        self.overrides = overrides
        self.quiet = quiet
        self.debug = debug
        self._store: AssetStore | None = None

    def store(self) -> AssetStore:
        if self._store is None:
            from ..config.settings import Settings
            from ..store import AssetStore

            settings = Settings.load(overrides=self.overrides, override_source="flag")
            _SECRETS.update(settings.secrets())
            self._store = AssetStore(settings)
        return self._store

    def store_named(self, name: str) -> AssetStore:
        from ..config.settings import Settings
        from ..store import AssetStore

        overrides = {**self.overrides, "store": name}
        settings = Settings.load(overrides=overrides, override_source="flag")
        _SECRETS.update(settings.secrets())
        return AssetStore(settings)


# The global flags: given before the command, or after it (as git and the AWS CLI allow).
_GLOBAL_FLAGS: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
    (("--assets-dir",), {"type": click.Path(path_type=Path), "help": "Local cache (assets dir)."}),
    (("--provider",), {"help": "Storage provider: s3, gcs, az, local (unset: pre-downloaded)."}),
    (("--bucket",), {"help": "Bucket, container, or the folder used as the remote."}),
    (("--prefix",), {"help": "Key prefix inside the bucket."}),
    (("--catalog-url",), {"help": "SQLAlchemy URL of the catalog."}),
    (("--config",), {"type": click.Path(dir_okay=False), "help": "Config file (named backends)."}),
    (("--store", "--backend", "store"), {"help": "Act on this named store of the config file."}),
    (("--offline", "force_offline"), {"is_flag": True, "flag_value": True, "default": None,
                      "help": "Open no connection: serve the assets dir only."}),
    (("-q", "--quiet"), {"is_flag": True, "help": "No progress bars, errors only."}),
    (("--debug",), {"is_flag": True, "help": "Log debug messages; show tracebacks."}),
)  # fmt: skip


def _global_flags(command: F) -> F:
    for decls, kwargs in reversed(_GLOBAL_FLAGS):
        command = click.option(*decls, **kwargs)(command)
    return command


def _late_flag(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """A global flag given after the command: it counts as if given before."""
    if value is None or value is False or param.name is None:
        return
    state = ctx.find_object(_State)
    if state is None:
        return
    if param.name in ("quiet", "debug"):
        setattr(state, param.name, True)
        _setup_logging(debug=state.debug, quiet=state.quiet)
    else:
        state.overrides[param.name] = value


class _Command(click.Command):
    """A command that also takes the global flags."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(
            click.Option(list(decls), **kwargs, expose_value=False, callback=_late_flag)
            for decls, kwargs in _GLOBAL_FLAGS
        )


class _Group(click.Group):
    command_class = _Command
    group_class = type  # subgroups (catalog, config) make _Commands too


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@_global_flags
@click.version_option(package_name="assetstore")
@click.pass_context
def cli(ctx: click.Context, /, quiet: bool, debug: bool, **overrides: Any) -> None:
    """Versioned assets between an object store and a local cache.

    \b
    Configure with environment variables, for example:
      export ASSETSTORE_STORAGE_PROVIDER=local ASSETSTORE_STORAGE_BUCKET=./bucket
      assetstore push ./bert models/bert      # -> models/bert:0.0
      assetstore pull models/bert             # -> the local path
    """
    _setup_logging(debug=debug, quiet=quiet)
    ctx.obj = _State(overrides, quiet=quiet, debug=debug)


def _setup_logging(*, debug: bool, quiet: bool) -> None:
    level = logging.DEBUG if debug else logging.ERROR if quiet else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_ScrubbingFormatter("assetstore: %(levelname)s: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


class _ScrubbingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        record.levelname = record.levelname.lower()
        return scrub(super().format(record), _env_secrets())


# The secrets of the settings loaded so far (a config file's too), masked wherever shown.
_SECRETS: set[str] = set()


def _env_secrets() -> list[str]:
    """Values of secret-looking environment variables, and of the settings loaded, to
    mask wherever they show."""
    options = {
        ("connection_string" if "CONNECTION_STRING" in key else key): value
        for key, value in os.environ.items()
        if key.isupper() and (is_secret_key(key) or "CONNECTION_STRING" in key)
    }
    found = [*secret_values(options), *_SECRETS]
    catalog_url = os.environ.get("ASSETSTORE_CATALOG_URL")
    if catalog_url:
        found.extend(database_url_secrets(catalog_url))
    return found
