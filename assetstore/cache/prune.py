"""Prune: free cache space. ``plan_prune`` decides, ``execute_prune`` acts."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import AssetNotFoundError, InvalidSpecError
from ..model.spec import Version, check_name
from .cache import Cache

log = logging.getLogger("assetstore")
_STAGING_GRACE_SECONDS = 600


@dataclass(frozen=True)
class PruneItem:
    name: str
    version: Version
    size: int

    @property
    def spec(self) -> str:
        return f"{self.name}:{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.spec, "size": self.size}


@dataclass(frozen=True)
class PrunePlan:
    remove: tuple[PruneItem, ...]
    leftovers: tuple[Path, ...]  # staging and trash folders of processes that died

    @property
    def size(self) -> int:
        return sum(item.size for item in self.remove)

    def to_dict(self) -> dict[str, Any]:
        return {
            "remove": [item.to_dict() for item in self.remove],
            "freed": self.size,
            "leftovers": [str(p) for p in self.leftovers],
        }


def plan_prune(
    cache: Cache, *, keep: int | None, names: list[str] | None = None,
    committed: Callable[[str], frozenset[Version]] | None = None, max_size: int | None = None,
) -> PrunePlan:  # fmt: skip
    """All but the newest ``keep`` cached versions of each name (None: keep them all);
    with ``committed`` (name -> the versions the bucket has), the cached versions it
    does not have; with ``max_size``, then the least recently used versions until the
    assets dir fits in that many bytes (``report.over_size``)."""
    if keep is not None and keep < 0:
        raise ValueError("keep must be 0 or more")
    for name in names or ():
        _check_named(cache, name)
    remove = []
    for name in names or cache.names():
        cached = cache.versions(name)
        chosen = set(cached[: max(0, len(cached) - keep)] if keep is not None else ())
        if committed is not None:
            chosen |= set(cached) - committed(name)
        remove += [PruneItem(name, v, cache.manifest(name, v).total_size) for v in sorted(chosen)]
    if max_size is not None:
        from .report import over_size

        picked = over_size(cache, max_size, chosen={i.spec for i in remove}, names=names)
        remove += [PruneItem(v.name, v.version, v.size) for v in picked]
    return PrunePlan(tuple(remove), tuple(_leftovers(cache)))


def _check_named(cache: Cache, name: str) -> None:
    """A name given to prune is an asset name that has cached versions: a spec is
    refused (prune keeps the newest versions of a name; it does not pick versions), and
    a name with nothing cached is reported rather than pruned silently."""
    if any(mark in name for mark in ":@["):
        raise InvalidSpecError(
            f"prune takes asset names, not versions: {name!r}; it keeps the newest --keep "
            "cached versions of each name"
        )
    check_name(name)
    if not cache.versions(name):
        raise AssetNotFoundError(f"no cached version of {name} in the assets dir {cache.root}")


def _leftovers(cache: Cache) -> list[Path]:
    found = []
    staging = cache.state / "staging"
    if staging.is_dir():
        found += [p for p in staging.iterdir() if _abandoned(p)]
    trash = cache.state / "trash"
    if trash.is_dir():
        found += list(trash.iterdir())
    partial = cache.state / "partial"
    if partial.is_dir():  # resumable downloads no pull is working on, and stray locks
        found += [p for p in partial.iterdir() if _partial_free(cache, p)]
    return sorted(found)


def _partial_free(cache: Cache, path: Path) -> bool:
    """Whether no pull holds ``path`` (a partial download, or its lock file)."""
    content = path.with_suffix("") if path.suffix == ".lock" else path
    lock = content.parent / f"{content.name}.lock"
    if not lock.exists():
        return True
    held = cache.partial_lock(content.name)
    if held is None:
        return False
    held.release()  # type: ignore[attr-defined]
    return True


def _abandoned(staging: Path) -> bool:
    """A staging folder whose puller died: its pid is gone here and it sat idle for
    a while (the age guards against another host sharing the assets dir)."""
    try:
        idle = time.time() - staging.stat().st_mtime
    except OSError:
        return False
    return idle > _STAGING_GRACE_SECONDS and not _alive(staging.name.split("-", 1)[0])


def _alive(pid_text: str) -> bool:
    try:
        os.kill(int(pid_text), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def execute_prune(cache: Cache, plan: PrunePlan) -> PrunePlan:
    """Remove what ``plan`` lists, skipping versions whose lock another process holds
    (a pull under way). Returns what was removed."""
    removed = []
    for item in plan.remove:
        lock = cache.try_lock(item.name, item.version)
        if lock is None:
            log.warning("%s:%s is in use by another process; kept", item.name, item.version)
            continue
        try:
            if cache.version_dir(item.name, item.version).is_dir():  # complete or partial
                cache.remove(item.name, item.version)
                removed.append(item)
        finally:
            lock.release()  # type: ignore[attr-defined]
    for path in plan.leftovers:
        if path.parent.name == "partial":
            _remove_partial(cache, path)
        elif path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return PrunePlan(tuple(removed), plan.leftovers)


def _remove_partial(cache: Cache, path: Path) -> None:
    """Delete a partial download with its lock held, so that no pull resumes it meanwhile."""
    content = path.with_suffix("") if path.suffix == ".lock" else path
    if not cache.drop_partial(content.name):
        log.info("%s: a pull took it up since the plan; kept", content)
