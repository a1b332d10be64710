"""What an alias resolved to when a version was pulled through it, recorded in the
assets dir (``.assetstore/aliases/{name}/{alias}.json``): a pre-downloaded image then
serves ``models/bert@prod`` as the version baked into it, with no network, even after
the alias moved on in the bucket."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import AssetNotFoundError
from ..model.spec import Version
from .cache import Cache, atomic_write


def _record(cache: Cache, name: str, alias: str) -> Path:
    return cache.state / "aliases" / name / f"{alias}.json"


def remember(cache: Cache, name: str, alias: str, version: Version) -> None:
    """Record that ``name@alias`` is ``version`` here (nothing written when it already
    says so: a warm get through an alias writes nothing)."""
    path = _record(cache, name, alias)
    if recalled(cache, name, alias) == version:
        return
    data = json.dumps({"name": name, "alias": alias, "version": str(version)}, indent=2)
    with cache.writing(f"recording {name}@{alias}"):
        atomic_write(cache.inside(path), data.encode() + b"\n")  # it makes the folders


def recalled(cache: Cache, name: str, alias: str) -> Version | None:
    """The version ``name@alias`` was pulled as into this assets dir, if it was."""
    path = _record(cache, name, alias)
    try:
        return Version.parse(str(json.loads(path.read_bytes())["version"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def recalled_or_fail(cache: Cache, name: str, alias: str) -> Version:
    found = recalled(cache, name, alias)
    if found is None:
        raise AssetNotFoundError(
            f"{name}@{alias} is not known to the assets dir {cache.root}: no version was "
            f"pulled into it through that alias (pull {name}@{alias} --to it records one)",
            name=name,
        )
    return found


def recorded(cache: Cache, name: str) -> list[tuple[str, Version]]:
    """Every alias of ``name`` this assets dir recorded, with its version."""
    folder = cache.state / "aliases" / name
    found = [(p.stem, recalled(cache, name, p.stem)) for p in sorted(folder.glob("*.json"))]
    return [(alias, version) for alias, version in found if version is not None]
