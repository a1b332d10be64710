"""Shell completion of asset names and versions (``_ASSETSTORE_COMPLETE``, click's
own completion; docs/cli.md says how to turn it on for bash, zsh and fish).

What is offered comes from this machine alone, never the network: the versions in
the assets dir and those the SQLite catalog indexes (a PostgreSQL catalog is not read).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from click.shell_completion import CompletionItem

_NOT_SETTINGS = ("quiet", "debug")


def complete_spec(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[Any]:
    """``NAME`` or ``NAME:MAJOR.MINOR`` candidates for ``incomplete``."""
    try:
        known = _known(ctx)
    except Exception:  # a shell must never show a traceback while completing
        return []
    name, sep, _rest = incomplete.partition(":")
    if not sep:
        return [CompletionItem(n) for n in sorted(known) if n.startswith(incomplete)]
    versions = sorted(known.get(name, ()), key=_version_key, reverse=True)
    return [CompletionItem(f"{name}:{v}") for v in versions if f"{name}:{v}".startswith(incomplete)]


def _known(ctx: click.Context) -> dict[str, set[str]]:
    from ..cache.cache import Cache
    from ..catalog.fast import known_versions
    from ..config.settings import Settings

    given = ctx.find_root().params
    overrides = {k: v for k, v in given.items() if v is not None and k not in _NOT_SETTINGS}
    settings = Settings.load(overrides=overrides, override_source="flag")
    cache = Cache(settings.assets_dir, use_locks=False)
    url = settings.catalog_url
    database = (
        Path(url.removeprefix("sqlite:///")) if url and url.startswith("sqlite:///") else None
    )
    if url is None:
        database = cache.state / "catalog.db"
    known = known_versions(database, settings.table_prefix) if database else {}
    for name in cache.names(partial=True):
        held = [*cache.versions(name), *cache.partial_versions(name)]
        known.setdefault(name, set()).update(str(v) for v in held)
    return known


def _sqlite_file(url: str | None, default: Path) -> Path | None:
    """The SQLite file of the catalog, if it is one (a server is never asked)."""
    if url is None:
        return default
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def _version_key(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))
