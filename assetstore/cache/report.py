"""What the assets dir holds (``cache ls``), removing versions from it (``cache rm``),
and which to evict to fit a size (``prune --max-size``), least recently used first.

A version is ``complete`` (its folder and manifest copy are there), ``partial`` (a
pull with patterns fetched some of its files: ``subset.py``) or ``in-progress`` (a
pull holds its lock). Its last access is the newest access or change time its files
have (filesystems mounted ``relatime`` update access times about once a day).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from ..errors import AssetNotFoundError, CacheError, InvalidSpecError
from ..model.spec import VERSION_TEXT, Version, parse_spec
from .cache import Cache

log = logging.getLogger("assetstore")
State = Literal["complete", "partial", "in-progress"]


@dataclass(frozen=True)
class CachedVersion:
    name: str
    version: Version
    size: int  # bytes of its files on disk
    files: int
    last_access: datetime | None  # None: nothing on disk yet (in progress)
    state: State

    @property
    def spec(self) -> str:
        return f"{self.name}:{self.version}"

    def to_dict(self) -> dict[str, Any]:
        when = None if self.last_access is None else self.last_access.isoformat(timespec="seconds")
        return {"spec": self.spec, "size": self.size, "files": self.files,
                "last_access": when, "state": self.state}  # fmt: skip


def cached_versions(cache: Cache) -> list[CachedVersion]:
    """Every version in the assets dir, by name and version."""
    found: dict[tuple[str, Version], CachedVersion] = {}
    for name in cache.names(partial=True):
        for version in cache.versions(name):
            found[name, version] = _measured(cache, name, version, "complete")
        for version in cache.partial_versions(name):
            found.setdefault((name, version), _measured(cache, name, version, "partial"))
    for name, version in _pulling(cache):
        found[name, version] = _measured(cache, name, version, "in-progress")
    return [found[key] for key in sorted(found)]


def _pulling(cache: Cache) -> list[tuple[str, Version]]:
    """The versions whose lock a pull holds now."""
    import re

    locks = cache.state / "locks"
    pattern = re.compile(f"{VERSION_TEXT}\\.lock")
    found = []
    for path in sorted(locks.rglob("*.lock")) if locks.is_dir() else ():
        match = pattern.fullmatch(path.name)
        if not match:
            continue
        name, version = path.parent.relative_to(locks).as_posix(), Version.parse(match[1])
        lock = cache.try_lock(name, version)
        if lock is None:
            found.append((name, version))
        else:
            lock.release()  # type: ignore[attr-defined]
    return found


def _measured(cache: Cache, name: str, version: Version, state: State) -> CachedVersion:
    size = files = 0
    latest = 0.0
    for folder, _dirs, names in os.walk(cache.version_dir(name, version)):
        for entry in names:
            try:
                st = (Path(folder) / entry).lstat()
            except OSError:
                continue
            size, files = size + st.st_size, files + 1
            latest = max(latest, st.st_atime, st.st_mtime)
    when = datetime.fromtimestamp(latest, timezone.utc) if latest else None
    return CachedVersion(name, version, size, files, when, state)


def matching(cache: Cache, specs: list[str]) -> list[CachedVersion]:
    """The cached versions ``specs`` name: ``NAME`` (all of them), ``NAME:1`` or
    ``NAME:1.2``. Every spec must match one, or nothing is chosen."""
    held = cached_versions(cache)
    chosen: dict[str, CachedVersion] = {}
    for text in specs:
        spec = parse_spec(text)
        if spec.alias is not None or spec.sub_path is not None:
            raise InvalidSpecError(f"cache rm takes NAME or NAME:VERSION, not {text!r}")
        hits = [v for v in held if v.name == spec.name and spec.matches(v.version)]
        if not hits:
            raise AssetNotFoundError(f"{text} is not in the assets dir {cache.root}",
                                     name=spec.name, spec=text)  # fmt: skip
        chosen.update((v.spec, v) for v in hits)
    return [chosen[key] for key in sorted(chosen)]


def remove_versions(cache: Cache, chosen: list[CachedVersion]) -> list[CachedVersion]:
    """Remove ``chosen`` from the assets dir; a version a pull holds is kept, and named
    in the CacheError raised once the others are gone."""
    removed, busy = [], []
    for item in chosen:
        lock = cache.try_lock(item.name, item.version)
        if lock is None:
            busy.append(item.spec)
            continue
        try:
            cache.remove(item.name, item.version)
            removed.append(item)
        finally:
            lock.release()  # type: ignore[attr-defined]
    if busy:
        raise CacheError(f"kept {', '.join(busy)}: a pull is using it; try again after it")
    return removed


def over_size(
    cache: Cache, max_size: int, *, chosen: set[str], names: list[str] | None = None
) -> list[CachedVersion]:
    """The least recently used versions (of ``names``, or any) to remove besides
    ``chosen`` (specs) so that the rest of the assets dir fits in ``max_size`` bytes.
    Versions being pulled count, and are never picked."""
    held = cached_versions(cache)
    total = sum(v.size for v in held if v.spec not in chosen)
    candidates = [
        v for v in held
        if v.state != "in-progress" and v.spec not in chosen and (not names or v.name in names)
    ]  # fmt: skip
    picked = []
    for item in sorted(candidates, key=_last_used):
        if total <= max_size:
            break
        picked.append(item)
        total -= item.size
    return picked


def _last_used(item: CachedVersion) -> tuple[datetime, str]:
    return item.last_access or datetime.min.replace(tzinfo=timezone.utc), item.spec
