"""Partial versions: the files of a version that a pull with patterns fetched (``pull
--include/--exclude``). The version folder holds just those files, and a partial record
next to where the manifest copy of a complete version goes names them::

    {assets_dir}/.assetstore/manifests/{name}/{version}.partial.json

A partial version is never taken for the complete one: it has no ``{version}.json``,
so ``Cache.has`` is false, a pre-downloaded service does not serve it, and a later full
get downloads the whole version in its place (``Cache.install`` replaces a folder that
has no manifest copy, and drops the record).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import AssetNotFoundError, CacheError, IntegrityError
from ..model.manifest import Manifest, parse_manifest
from ..model.paths import is_under
from ..model.spec import Version

if TYPE_CHECKING:
    from .cache import Cache


@dataclass(frozen=True)
class Patterns:
    """Which files of a version a pull fetches: those matching an ``include`` pattern
    (every file when there is none) and no ``exclude`` one. Globs on the path inside the
    version, as ``huggingface_hub``'s ``allow_patterns``: ``*`` also matches ``/``, and a
    pattern ending in ``/`` matches everything under that folder."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    sub_path: str | None = None  # set by ``under``: what a spec's ``[sub/path]`` names

    @classmethod
    def under(cls, sub_path: str) -> Patterns:
        """The files a spec's ``[sub_path]`` names: that file, or those under that folder."""
        import glob

        exact = glob.escape(sub_path)
        return cls((exact, f"{exact}/"), sub_path=sub_path)

    def __bool__(self) -> bool:
        return bool(self.include or self.exclude)

    def selects(self, path: str) -> bool:
        if self.include and not any(_match(path, p) for p in self.include):
            return False
        return not any(_match(path, p) for p in self.exclude)

    def describe(self) -> str:
        if self.sub_path is not None:
            return f"[{self.sub_path}]"
        words = [f"--include {p!r}" for p in self.include]
        return " ".join(words + [f"--exclude {p!r}" for p in self.exclude])


def _match(path: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(path, pattern + "*" if pattern.endswith("/") else pattern)


def selected(manifest: Manifest, patterns: Patterns) -> frozenset[str]:
    """The paths of ``manifest``'s files that ``patterns`` select (at least one). A
    sub-path naming a folder with no file under it (an empty one) selects every file: the
    whole version, which holds that folder."""
    paths = frozenset(e.path for e in manifest.files if patterns.selects(e.path))
    if not paths and patterns.sub_path is not None and manifest.scope is None:
        manifest.require(patterns.sub_path)
        return frozenset(e.path for e in manifest.files)
    if not paths:
        raise AssetNotFoundError(
            f"no file of {manifest.spec} matches {patterns.describe()}",
            name=manifest.name, version=str(manifest.version), spec=manifest.spec,
        )  # fmt: skip
    return paths


def subset(manifest: Manifest, paths: frozenset[str]) -> Manifest:
    """``manifest`` with only the files at ``paths`` (and no empty folders)."""
    files = tuple(e for e in manifest.files if e.path in paths)
    return dataclasses.replace(manifest, files=files, empty_dirs=())


@dataclass(frozen=True)
class PartialRecord:
    manifest: Manifest  # the whole version's (or, with a scope, of all under that sub-path)
    paths: frozenset[str]  # the files the folder holds

    @property
    def held(self) -> Manifest:
        return subset(self.manifest, self.paths)

    def agrees(self, found: Manifest) -> bool:
        """Whether ``found``, the version's manifest as read now, is the one this record
        was made from (or, for a scoped record, the whole of which it was a part)."""
        if self.manifest.scope is None or found.scope is not None:
            return self.manifest == found
        return subset(found, self.paths) == dataclasses.replace(self.held, scope=None)

    def to_json(self) -> bytes:
        # A scoped manifest goes under a key of its own: a release that knows no scope
        # finds no "manifest", takes the record for a corrupt one and downloads.
        key = "manifest" if self.manifest.scope is None else "scoped_manifest"
        raw = {key: self.manifest.to_dict(), "paths": sorted(self.paths)}
        if self.manifest.scope is not None:
            raw["scope"] = self.manifest.scope
        return json.dumps(raw, separators=(",", ":"), sort_keys=True).encode()


def read_record(cache: Cache, name: str, version: Version) -> PartialRecord | None:
    """The partial record of ``name:version``, or None when there is none (a complete
    version, or none at all). A record that cannot be read is a CacheError."""
    path = cache.partial_record(name, version)
    try:
        raw = json.loads(path.read_bytes())
        scope = raw.get("scope")
        found = raw["manifest" if scope is None else "scoped_manifest"]
        manifest = parse_manifest(json.dumps(found).encode(), name=name, version=version)
        paths = frozenset(str(p) for p in raw["paths"])
        if scope is not None:
            manifest = dataclasses.replace(manifest, scope=str(scope))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError, IntegrityError) as exc:
        raise CacheError(f"the partial record {path} is corrupt ({exc}): remove it") from exc
    return PartialRecord(manifest, paths & {e.path for e in manifest.files})


def held_part(cache: Cache, name: str, version: Version, patterns: Patterns) -> Manifest | None:
    """What a partial version of ``name:version`` holds, when that is every file
    ``patterns`` select (so it serves them, with no download); else None."""
    try:
        record = read_record(cache, name, version)
    except CacheError:
        return None
    if record is None or not _covers(record.manifest, patterns):
        return None
    try:
        wanted = selected(record.manifest, patterns)
    except AssetNotFoundError:
        return None
    return record.held if wanted <= record.paths else None


def _covers(manifest: Manifest, patterns: Patterns) -> bool:
    """Whether ``manifest`` lists every file ``patterns`` may select: a manifest read for
    a pull of one sub-path lists only the files at or under it."""
    scope, wanted = manifest.scope, patterns.sub_path
    if scope is None:
        return True
    return wanted is not None and is_under(wanted, scope)


def intact(cache: Cache, record: PartialRecord) -> frozenset[str]:
    """The files of a partial version still there with their size (they were verified
    when they were fetched); one missing or changed since is fetched again."""
    root = cache.version_dir(record.manifest.name, record.manifest.version)
    found = set()
    for entry in record.held.files:
        path = root / entry.path
        if not path.is_symlink() and path.is_file() and path.stat().st_size == entry.size:
            found.add(entry.path)
    return frozenset(found)
