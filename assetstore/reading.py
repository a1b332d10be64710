"""Reading versions: which version a spec names, from the bucket or — with no provider
(pre-downloaded mode), or a bucket that cannot be reached — from the assets dir; its
manifest; where its files are in the cache; and verifying what the cache holds."""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .cache.cache import Cache
from .config.settings import Settings
from .errors import (
    AssetNotFoundError,
    BackendError,
    CacheError,
    ConfigError,
    IntegrityError,
    InvalidSpecError,
)
from .model.manifest import FileEntry, Manifest
from .model.spec import Spec, Version, check_name, parse_spec

if TYPE_CHECKING:
    from .cache.subset import Patterns
    from .io.stream import Callback
    from .release.lockfile import Locked
    from .repository.repository import Repository

log = logging.getLogger("assetstore")


class Reader:
    """The read side of a store. ``remote`` builds the repository on first use (never
    in pre-downloaded mode)."""

    def __init__(self, settings: Settings, cache: Cache, remote: Callable[[], Repository]) -> None:
        self.settings = settings
        self.cache = cache
        self._remote = remote

    @property
    def remote(self) -> Repository:
        return self._remote()

    def resolve(self, spec: str | Spec, *, as_of: datetime | None = None) -> Version:
        """The version ``spec`` names: a pinned version as is, else the newest match in
        the bucket, or in the assets dir when there is no provider or it is unreachable.

        Only an unreachable backend (refused, reset, timed out, DNS) makes it fall back to
        the assets dir: one that answers "permission denied", "no such bucket" or
        anything else is an error to report, not to hide behind a cached version."""
        parsed = parse_spec(spec) if isinstance(spec, str) else spec
        if self.settings.lockfile:
            return self._locked(parsed).version
        if parsed.pinned is not None:
            return parsed.pinned
        if parsed.alias is not None:
            return self._alias_value(parsed, as_of)
        if self.settings.offline:
            where = f"the assets dir {self.cache.root} ({self.settings.offline_reason})"
            return self._best(parsed, _offline_versions(self.cache, parsed), where, None)
        try:
            found = self.remote.scan(parsed.name).offered  # a yanked version only if pinned
        except BackendError as exc:
            if not _unreachable(exc):
                raise
            cached = parsed.best(self.cache.versions(parsed.name))
            if cached is None:
                raise
            log.warning("%s; using the newest cached match %s:%s", exc, parsed.name, cached)
            return cached
        return self._best(parsed, found, self.remote.url, self.remote.url)

    def _locked(self, spec: Spec) -> Locked:
        """The lockfile's entry for ``spec``: a lock in force answers every resolution,
        and a spec it does not cover is an error, never a fall-through to the bucket."""
        from .release.lockfile import load

        path = str(self.settings.lockfile)
        for entry in load(Path(path)):
            if entry.covers(spec):
                return entry
        raise AssetNotFoundError(
            f"{spec} is not in the lockfile {path} (ASSETSTORE_LOCKFILE): lock it, or unset "
            "ASSETSTORE_LOCKFILE", name=spec.name, spec=str(spec)
        )  # fmt: skip

    def _alias_value(self, spec: Spec, as_of: datetime | None) -> Version:
        """What ``NAME@ALIAS[~N]`` is: from its journal in the bucket, or from what the
        assets dir recorded when there is no provider (or it cannot be reached)."""
        from .cache.aliases import recalled_or_fail
        from .model.alias import value_of
        from .repository import journal

        name, alias = spec.name, str(spec.alias)
        if self.settings.offline and not spec.back and as_of is None:
            return recalled_or_fail(self.cache, name, alias)
        if self.settings.offline:
            raise AssetNotFoundError(
                f"{spec}: the assets dir records only what an alias is now (pre-downloaded "
                "mode has no journal)", name=name
            )  # fmt: skip
        try:
            last = None if as_of is not None else spec.back + 1
            found = journal.moves(self.remote, name, alias, last=last)
        except BackendError as exc:
            if not _unreachable(exc) or spec.back or as_of is not None:
                raise
            cached = recalled_or_fail(self.cache, name, alias)
            log.warning(
                "%s; using what the assets dir recorded: %s@%s is %s", exc, name, alias, cached
            )
            return cached
        if not found:
            raise AssetNotFoundError(
                f"{name} has no alias {alias!r} in {self.remote.url}",
                name=name,
                backend=self.remote.url,
                spec=str(spec),
            )
        return value_of(found, str(spec), back=spec.back, as_of=as_of)

    @staticmethod
    def _best(spec: Spec, versions: list[Version], where: str, backend: str | None) -> Version:
        best = spec.best(versions)
        if best is None:
            listed = ", ".join(str(v) for v in sorted(versions, reverse=True)[:10]) or "none"
            raise AssetNotFoundError(
                f"no version of {spec.name} matches {spec} in {where} (versions: {listed})",
                name=spec.name,
                backend=backend,
                spec=str(spec),
            )
        return best

    def get(
        self, spec: str | Spec, *, force: bool, callback: Callback | None,
        patterns: Patterns | None = None,
    ) -> Path:  # fmt: skip
        """The local path of ``spec``, downloading (and verifying) it first if needed;
        with ``patterns``, only the files they select (``cache/subset.py``)."""
        parsed = parse_spec(spec) if isinstance(spec, str) else spec
        return self.local_path(self.fetch(parsed, force, callback, patterns), parsed)

    def fetch(
        self, spec: Spec, force: bool, callback: Callback | None, patterns: Patterns | None
    ) -> Manifest:
        """The manifest of what the cache holds of ``spec`` once it holds it all (or the
        part ``patterns`` select)."""
        if patterns and spec.sub_path is not None:
            raise InvalidSpecError(f"{spec}: a sub-path and include/exclude patterns exclude "
                                   "each other; pass one")  # fmt: skip
        self.check_download_possible(force)
        version = self.resolve(spec)
        patterns = patterns or _under_sub_path(spec)
        manifest = self.cached(spec, version, force=force, patterns=patterns)
        if manifest is None:
            from .io.stream import NoProgress
            from .transfer.pull import download

            manifest = download(
                self.remote, self.cache, spec.name, version, manifest=_read(self, spec, version),
                workers=self.settings.workers, force=force, callback=callback or NoProgress(),
                patterns=patterns,
            )  # fmt: skip
        self.remember_alias(spec, version)
        return manifest

    def check_download_possible(self, force: bool) -> None:
        if force and self.settings.offline:
            raise ConfigError(
                "--force downloads the version again, which needs "
                + ("the network" if self.settings.force_offline else "a storage provider")
                + f" ({self.settings.offline_reason}): only the assets dir "
                f"{self.settings.assets_dir} is served"
            )

    def cached(
        self, spec: Spec, version: Version, *, force: bool, patterns: Patterns | None = None
    ) -> Manifest | None:
        """The manifest of the cached copy (or of a partial version holding all that
        ``patterns`` select), or None when it must be downloaded; in pre-downloaded mode
        a version not cached is not found."""
        if not force and self.cache.has(spec.name, version):
            # parsed once per process while the cached copy's file stays the same
            return self.cache.manifest(spec.name, version)
        held = None if force or not patterns else _held_part(self.cache, spec, version, patterns)
        if held is None and self.settings.offline:
            raise AssetNotFoundError(
                f"{spec.name}:{version} is not in the assets dir {self.settings.assets_dir} "
                f"({self.settings.offline_reason})", name=spec.name, version=str(version),
            )  # fmt: skip
        return held

    def remember_alias(self, spec: Spec, version: Version) -> None:
        """A version got through ``NAME@ALIAS`` is recorded in the assets dir: a deploy
        dir then serves the alias with no provider."""
        if spec.alias is None or spec.back or self.settings.offline or self.settings.lockfile:
            return  # only a live value of the alias is recorded
        from .cache.aliases import remember

        try:
            remember(self.cache, spec.name, spec.alias, version)
        except CacheError as exc:  # a read-only assets dir still serves what it holds
            log.debug("%s", exc)

    def remote_manifest(self, name: str, version: Version, within: str | None = None) -> Manifest:
        if self.settings.lockfile:  # only the manifest the lock pins
            return verified_manifest(
                self.remote, self._locked(Spec(name, version.major, version.minor))
            )
        from .repository import marks

        url = self.remote.url
        try:
            manifest = self.remote.manifest(name, version, within=within)
        except AssetNotFoundError:
            raise AssetNotFoundError(
                f"{name}:{version} not found in {url}", name=name, version=str(version), backend=url
            ) from None
        marks.check_served(self.remote, name, version)
        return manifest

    def local_path(self, manifest: Manifest, spec: Spec) -> Path:
        root = self.cache.version_dir(manifest.name, manifest.version)
        if spec.sub_path is None:
            return root / manifest.files[0].path if manifest.kind == "file" else root
        manifest.require(spec.sub_path)
        return root / spec.sub_path

    def info(self, spec: str | Spec, *, as_of: datetime | None = None) -> Manifest:
        """The manifest of the version ``spec`` resolves to (cached copy if pinned)."""
        parsed = parse_spec(spec) if isinstance(spec, str) else spec
        version = self.resolve(parsed, as_of=as_of)
        if self.cache.has(parsed.name, version) or self.settings.offline:
            # the process shares the cache's parsed copy: hand out one of its own
            shared = self.cache.manifest(parsed.name, version)
            manifest = dataclasses.replace(shared, metadata=dict(shared.metadata))
        else:
            manifest = self.remote_manifest(parsed.name, version)
        if parsed.sub_path is not None:
            self.local_path(manifest, parsed)  # raises when the sub-path is not there
        return manifest

    def one_file(self, spec: str | Spec) -> tuple[Manifest, FileEntry]:
        """The version ``spec`` resolves to and the one file it names (a file asset's
        file, or a directory's ``[sub/path]``)."""
        parsed = parse_spec(spec) if isinstance(spec, str) else spec
        manifest = self.info(parsed)
        if parsed.sub_path is None and manifest.kind == "dir":
            raise InvalidSpecError(
                f"{manifest.spec} is a directory: name one file, as {manifest.spec}[path]"
            )
        relpath = parsed.sub_path or manifest.files[0].path
        if manifest.lookup(relpath) != "file":
            raise InvalidSpecError(f"{manifest.spec}[{relpath}] is a folder: name one file in it")
        [entry] = (e for e in manifest.files if e.path == relpath)
        return manifest, entry

    def versions(self, name: str) -> list[Version]:
        """Versions of ``name``, newest first."""
        check_name(name)
        if self.settings.offline:
            found = self.cache.versions(name)
        else:
            found = self.remote.versions(name)
        if not found:
            backend = None if self.settings.offline else self.remote.url
            raise AssetNotFoundError(
                f"no asset named {name} in {self._where()}", name=name, backend=backend
            )
        return sorted(found, reverse=True)

    def names(self) -> list[str]:
        """Every asset name with at least one version."""
        return self.cache.names() if self.settings.offline else self.remote.names()

    def _where(self) -> str:
        offline = self.settings.offline
        return f"the assets dir {self.settings.assets_dir}" if offline else self.remote.url


def _unreachable(exc: BackendError) -> bool:
    """Whether the backend could not be reached at all (the only case in which an
    unpinned spec may resolve from the assets dir): what the error says, when the remote
    said it, else what the exceptions it was raised from say."""
    if exc.unreachable is not None:
        return exc.unreachable
    from .backends.faults import is_unreachable

    return is_unreachable(exc)


def verified_manifest(remote: Repository, entry: Locked) -> Manifest:
    """The locked version's manifest from the bucket, if it still is the one locked
    (a version replaced or tampered with after the lock is refused: fail closed)."""
    manifest, digest = remote.manifest_and_digest(entry.name, entry.version)
    if digest != entry.manifest_sha256:
        raise IntegrityError(
            f"{entry.name}:{entry.version}: its manifest in the bucket is not the one locked "
            f"({digest[:19]}…, locked {entry.manifest_sha256[:19]}…): it was replaced or "
            "tampered with; nothing installed"
        )
    return manifest


def _offline_versions(cache: Cache, spec: Spec) -> list[Version]:
    """The versions the assets dir serves ``spec`` from: the complete ones, and for a
    sub-path the partial ones too (a deploy dir pulled with ``NAME[sub/path]``)."""
    complete = cache.versions(spec.name)
    if spec.sub_path is None:
        return complete
    return sorted({*complete, *cache.partial_versions(spec.name)})


def _read(reader: Reader, spec: Spec, version: Version) -> Callable[[str, Version], Manifest]:
    """How a pull of ``spec`` reads the manifest: for a sub-path, only the shards that may
    hold it, unless the cache holds part of the version already (merged with the whole)."""
    held = reader.cache.partial_record(spec.name, version).is_file()
    return functools.partial(reader.remote_manifest, within=None if held else spec.sub_path)


def _under_sub_path(spec: Spec) -> Patterns | None:
    """What a pull of ``spec``'s ``[sub/path]`` fetches: only the files it names."""
    if spec.sub_path is None:
        return None
    from .cache.subset import Patterns

    return Patterns.under(spec.sub_path)


def _held_part(cache: Cache, spec: Spec, version: Version, patterns: Patterns) -> Manifest | None:
    from .cache.subset import held_part

    return held_part(cache, spec.name, version, patterns)
