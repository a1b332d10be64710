"""Mistakes in the environment that would otherwise pass without a word: a variable
of ours that nothing reads (a typo: ``ASSETSTORE_STORAGE_PROVDER``), and backend
settings given while no provider is set — which means pre-downloaded mode, serving
whatever the assets dir holds. Each is one warning on stderr; neither is an error, as
the variable may be meant for another version of assetstore."""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from .options import OTHER_VARIABLES, SETTINGS

PREFIX = "ASSETSTORE_"
# Variables of this project's own tooling (tests, benchmarks), never read by the library.
TOOLING_PREFIX = "ASSETSTORE_TEST_"
# Settings that only matter when there is a backend to talk to.
_BACKEND_SETTINGS = ("bucket", "auto_create_bucket", "part_size_mib", "public_url_base")


def known_variables() -> set[str]:
    from ..backends.registry import PROVIDERS

    names = {s.env for s in SETTINGS if s.env} | set(OTHER_VARIABLES)
    for provider in PROVIDERS.values():
        names |= {o.env for o in provider.options if o.env and o.env.startswith(PREFIX)}
    return names


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One warning per ``ASSETSTORE_*`` variable nothing reads, with the closest name."""
    known = known_variables()
    warnings = []
    for name in sorted(environ):
        if not name.startswith(PREFIX) or name in known or name.startswith(TOOLING_PREFIX):
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        hint = f"; did you mean {close[0]}?" if close else ""
        warnings.append(f"{name} is not an assetstore setting, ignored{hint}")
    return warnings


def pre_downloaded_despite(sources: Mapping[str, str]) -> str | None:
    """The warning for backend settings given while no provider is: ``sources`` says
    where each setting came from ("default" when nowhere)."""
    given = [name for name in _BACKEND_SETTINGS if sources.get(name, "default") != "default"]
    given += sorted(k.removeprefix("storage.") for k in sources if k.startswith("storage."))
    if not given:
        return None
    where = ", ".join(_shown(name, sources) for name in given)
    return (
        f"no storage provider is set, so this is pre-downloaded mode (the assets dir only, "
        f"no remote) although {where} is set; set ASSETSTORE_STORAGE_PROVIDER to use a remote"
    )


def _shown(name: str, sources: Mapping[str, str]) -> str:
    source = sources.get(name) or sources.get(f"storage.{name}", "")
    return source.removeprefix("env ") if source.startswith("env ") else name
