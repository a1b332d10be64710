"""The long listings (``list --long``, ``versions --long``): what each version holds,
who pushed it when, its aliases and yank; from the bucket, or from the assets dir in
pre-downloaded mode (which knows no yanks, and only the aliases it recorded)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .io.pool import run_all
from .model.spec import Version

if TYPE_CHECKING:
    from .model.lifecycle import Mark
    from .model.manifest import Manifest
    from .store import AssetStore


@dataclass(frozen=True)
class VersionInfo:
    version: Version
    size: int
    files: int
    pushed_at: str
    pushed_by: str
    aliases: tuple[str, ...]
    yanked: str | None  # the reason ("" when none was given), None when not yanked

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": str(self.version), "size": self.size, "files": self.files,
            "pushed_at": self.pushed_at, "pushed_by": self.pushed_by,
            "aliases": list(self.aliases), "yanked": self.yanked,
        }  # fmt: skip


@dataclass(frozen=True)
class NameInfo:
    name: str
    versions: int
    latest: Version  # what ``get NAME`` gives: the newest version not yanked
    size: int  # of the latest version

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "versions": self.versions, "latest": str(self.latest),
                "size": self.size}  # fmt: skip


def describe_versions(store: AssetStore, name: str) -> list[VersionInfo]:
    """Every version of ``name``, newest first, with what its manifest says."""
    found = store.versions(name)
    manifests = _manifests(store, name, found)
    yanks = {} if store.settings.offline else store.lifecycle.yanks(name)
    aliases: dict[Version, list[str]] = {}
    for alias, version in _aliases(store, name):
        aliases.setdefault(version, []).append(alias)
    return [_info(m, aliases.get(m.version, []), yanks.get(m.version)) for m in manifests]


def _info(manifest: Manifest, aliases: list[str], yank: Mark | None) -> VersionInfo:
    m = manifest
    reason = None if yank is None else yank.reason or ""
    return VersionInfo(m.version, m.total_size, len(m.files), m.pushed_at, m.pushed_by,
                       tuple(sorted(aliases)), reason)  # fmt: skip


def describe_names(store: AssetStore) -> list[NameInfo]:
    """Every asset name with its number of versions and its latest version."""
    names = store.names()

    def one(name: str) -> NameInfo:
        if store.settings.offline:
            found = offered = store.cache.versions(name)
        else:
            scan = store.remote.scan(name)
            found, offered = sorted(scan.committed), scan.offered
        [latest] = _manifests(store, name, [max(offered or found)])
        return NameInfo(name, len(found), latest.version, latest.total_size)

    return run_all(one, names, workers=store.settings.workers)


def _manifests(store: AssetStore, name: str, versions: list[Version]) -> list[Manifest]:
    if store.settings.offline:
        return [store.cache.manifest(name, v) for v in versions]
    remote = store.remote
    return run_all(lambda v: remote.manifest(name, v), versions, workers=store.settings.workers)


def _aliases(store: AssetStore, name: str) -> list[tuple[str, Version]]:
    if store.settings.offline:
        from .cache.aliases import recorded

        return recorded(store.cache, name)
    return [(value.alias, value.version) for value in store.aliases.values(name)]
