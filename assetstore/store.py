"""``AssetStore``: the front door. It resolves specs and delegates the work to the
cache (local), the remote (bucket), push/pull (transfers) and the catalog (index)."""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cache import Cache
from .errors import (
    AssetNotFoundError,
    AssetStoreError,
    BackendError,
    CacheError,
    ConfigError,
    IntegrityError,
    InvalidSpecError,
    VersionExistsError,
)
from .fileid import SETTLE_NS as _SETTLE_NS
from .fileid import changed_ns, identity_of
from .manifest import Manifest
from .settings import DATABASE_URL_SHAPE, Settings
from .spec import Spec, Version, check_name, parse_spec, parse_target

# Pushing, pruning, the remote and the catalog are imported where they are used: a
# service that reads cached versions (``assetstore.get``) never loads them.
if TYPE_CHECKING:
    from .catalog import Catalog, CatalogEntry, SyncReport
    from .commit import Publisher, Repair
    from .hashcache import HashCache
    from .hashing import Callback
    from .prune import PrunePlan
    from .push import PushPlan
    from .remote import Remote

log = logging.getLogger("assetstore")
_UNPINNED_PUSH_ATTEMPTS = 5


@dataclass(frozen=True)
class VerifyResult:
    spec: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


class AssetStore:
    """Versioned assets between a backend and a local cache.

    >>> store = AssetStore.from_env()                         # doctest: +SKIP
    >>> store.get("models/bert:1.2[vocab.txt]")               # doctest: +SKIP
    PosixPath('/home/me/.cache/assetstore/models/bert/1.2/vocab.txt')
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cache = Cache(
            settings.assets_dir,
            use_locks=settings.use_locks,
            stall_seconds=settings.lock_stall_seconds,
        )
        self._remote: Remote | None = None
        self._catalog: Catalog | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> AssetStore:
        """Settings from ``environ`` (default ``os.environ``); keyword overrides win."""
        return cls(Settings.load(environ, overrides=overrides))

    def with_assets_dir(self, assets_dir: Path) -> AssetStore:
        """The same backend, with another local assets dir (``pull --to``)."""
        return AssetStore(dataclasses.replace(self.settings, assets_dir=assets_dir.absolute()))

    # -- parts ---------------------------------------------------------------------
    @property
    def remote(self) -> Remote:
        if self._remote is None:
            self._remote = self._make_remote()
        return self._remote

    def _make_remote(self) -> Remote:
        from .remote import remote_from_settings

        s = self.settings
        if s.provider is None or s.bucket is None:
            raise ConfigError(
                "no storage provider is configured (pre-downloaded mode serves the assets "
                f"dir {s.assets_dir} only): set ASSETSTORE_STORAGE_PROVIDER and "
                "ASSETSTORE_STORAGE_BUCKET"
            )
        return remote_from_settings(s)

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = self._open_catalog()
        return self._catalog

    def _open_catalog(self) -> Catalog:
        from .catalog import Catalog, engine_for

        url = self.settings.catalog_url
        if url is None:
            if self.settings.offline:
                raise ConfigError("pre-downloaded mode has no catalog: set a provider")
            self.cache.state.mkdir(parents=True, exist_ok=True)
            if self._default_catalog.is_symlink():  # SQLite would write where it points
                raise CacheError(f"refusing to open the catalog through the symlink "
                                 f"{self._default_catalog}")  # fmt: skip
            url = f"sqlite:///{self._default_catalog}"
        try:
            return Catalog(engine_for(url), table_prefix=self.settings.table_prefix)
        except AssetStoreError:
            raise
        except Exception as exc:
            raise _catalog_failure(url, exc) from exc

    # -- reading -------------------------------------------------------------------
    def get(
        self, spec: str | Spec, *, force: bool = False, callback: Callback | None = None
    ) -> Path:
        """The local path of ``spec``, downloading (and verifying) it first if needed."""
        parsed = parse_spec(spec) if isinstance(spec, str) else spec
        if force and self.settings.offline:
            raise ConfigError(
                "--force downloads the version again, which needs a storage provider: "
                "pre-downloaded mode only serves the assets dir "
                f"{self.settings.assets_dir} (set ASSETSTORE_STORAGE_PROVIDER)"
            )
        version = self.resolve(parsed)
        if not force and self.cache.has(parsed.name, version):
            # parsed once per process while the cached copy's file stays the same
            manifest = self.cache.manifest(parsed.name, version)
        elif self.settings.offline:
            raise AssetNotFoundError(
                f"{parsed.name}:{version} is not in the assets dir {self.settings.assets_dir} "
                "and no storage provider is configured (pre-downloaded mode)",
                name=parsed.name,
                version=str(version),
            )
        else:
            manifest = self._download(parsed.name, version, force, callback)
        return self._local_path(manifest, parsed)

    def resolve(self, spec: str | Spec) -> Version:
        """The version ``spec`` names: a pinned version as is, else the newest match in
        the bucket, or in the assets dir when there is no provider or it is unreachable.

        Only an unreachable backend (refused, reset, timed out, DNS) makes it fall back to
        the assets dir: one that answers "permission denied", "no such bucket" or
        anything else is an error to report, not to hide behind a cached version."""
        parsed = parse_spec(spec) if isinstance(spec, str) else spec
        if parsed.pinned is not None:
            return parsed.pinned
        if self.settings.offline:
            return self._best(parsed, self.cache.versions(parsed.name), "the assets dir")
        try:
            found = self.remote.versions(parsed.name)
        except BackendError as exc:
            if not _unreachable(exc):
                raise
            cached = parsed.best(self.cache.versions(parsed.name))
            if cached is None:
                raise
            log.warning("%s; using the newest cached match %s:%s", exc, parsed.name, cached)
            return cached
        return self._best(parsed, found, self.remote.url)

    @staticmethod
    def _best(spec: Spec, versions: list[Version], where: str) -> Version:
        best = spec.best(versions)
        if best is None:
            listed = ", ".join(str(v) for v in sorted(versions, reverse=True)[:10]) or "none"
            raise AssetNotFoundError(
                f"no version of {spec.name} matches {spec} in {where} (versions: {listed})",
                name=spec.name,
            )
        return best

    def _download(
        self, name: str, version: Version, force: bool, callback: Callback | None
    ) -> Manifest:
        from .hashing import NoProgress
        from .pull import fetch_version

        with (
            self.cache.writing(f"downloading {name}:{version}"),
            self.cache.locked(name, version) as heartbeat,
        ):
            if not force and self.cache.has(name, version):
                return self.cache.manifest(name, version)
            manifest = self._remote_manifest(name, version)
            log.info("downloading %s (%d files, %d bytes)", manifest.spec, len(manifest.files),
                     manifest.total_size)  # fmt: skip
            fetch_version(
                self.remote,
                self.cache,
                manifest,
                workers=self.settings.workers,
                callback=callback or NoProgress(),
                heartbeat=heartbeat,
                replace=force,
            )
            return manifest

    def _remote_manifest(self, name: str, version: Version) -> Manifest:
        try:
            return self.remote.manifest(name, version)
        except AssetNotFoundError:
            raise AssetNotFoundError(
                f"{name}:{version} not found in {self.remote.url}", name=name, version=str(version)
            ) from None

    def _local_path(self, manifest: Manifest, spec: Spec) -> Path:
        root = self.cache.version_dir(manifest.name, manifest.version)
        if spec.sub_path is None:
            return root / manifest.files[0].path if manifest.kind == "file" else root
        if manifest.lookup(spec.sub_path) is None:
            raise AssetNotFoundError(
                f"{manifest.spec} has no file or folder {spec.sub_path!r}", name=manifest.name
            )
        return root / spec.sub_path

    def info(self, spec: str | Spec) -> Manifest:
        """The manifest of the version ``spec`` resolves to (cached copy if pinned)."""
        parsed = parse_spec(spec) if isinstance(spec, str) else spec
        version = self.resolve(parsed)
        if self.cache.has(parsed.name, version) or self.settings.offline:
            # the process shares the cache's parsed copy: hand out one of its own
            shared = self.cache.manifest(parsed.name, version)
            manifest = dataclasses.replace(shared, metadata=dict(shared.metadata))
        else:
            manifest = self._remote_manifest(parsed.name, version)
        if parsed.sub_path is not None:
            self._local_path(manifest, parsed)  # raises when the sub-path is not there
        return manifest

    def versions(self, name: str) -> list[Version]:
        """Versions of ``name``, newest first."""
        check_name(name)
        if self.settings.offline:
            found = self.cache.versions(name)
        else:
            found = self.remote.versions(name)
        if not found:
            raise AssetNotFoundError(f"no asset named {name} in {self._where()}", name=name)
        return sorted(found, reverse=True)

    def names(self) -> list[str]:
        """Every asset name with at least one version."""
        return self.cache.names() if self.settings.offline else self.remote.names()

    def _where(self) -> str:
        return (
            f"the assets dir {self.settings.assets_dir}"
            if self.settings.offline
            else (self.remote.url)
        )

    def url(self, spec: str | Spec, *, expires: int | None = None) -> str:
        """A URL for a file of ``spec``: presigned for ``expires`` seconds (default
        ``ASSETSTORE_URL_EXPIRES``), plain when 0, under the public base when one is set."""
        parsed = parse_spec(spec) if isinstance(spec, str) else spec
        manifest = self.info(parsed)
        if parsed.sub_path is None and manifest.kind == "dir":
            raise InvalidSpecError(
                f"{manifest.spec} is a directory: name one file, as {manifest.spec}[path]"
            )
        relpath = parsed.sub_path or manifest.files[0].path
        if manifest.lookup(relpath) != "file":
            raise AssetNotFoundError(f"{manifest.spec}[{relpath}] is a folder, not a file")
        [entry] = (e for e in manifest.files if e.path == relpath)
        path = self.remote.file_path(manifest, entry)
        return self.remote.sign(path, self.settings.url_expires if expires is None else expires)

    # -- writing -------------------------------------------------------------------
    def plan_push(
        self,
        source: str | os.PathLike[str],
        target: str,
        *,
        bump: str = "minor",
        metadata: Mapping[str, str] | None = None,
    ) -> PushPlan:
        """What ``push`` would do: version, files, bytes to send, files reused from the
        newest earlier version (referred to where they are stored, not sent again)."""
        from .push import PushPlan, next_version, plan_files, scan_source

        name, version = parse_target(target)
        kind, entries, empty_dirs = scan_source(Path(source))
        if version is None:
            version = next_version(self.remote.taken(name), bump)
        elif version in self.remote.versions(name):
            raise VersionExistsError(
                f"{name}:{version} already exists; versions are immutable",
                name=name,
                version=str(version),
            )
        hashes = self._hash_cache()
        files, reused = plan_files(
            self.remote, name, version, entries, workers=self.settings.workers, hashes=hashes
        )
        hashes.save()
        return PushPlan(
            name=name,
            version=version,
            kind=kind,
            files=files,
            empty_dirs=tuple(empty_dirs),
            reused=reused,
            metadata=dict(metadata or {}),
            explicit=":" in target,
        )

    def push(
        self,
        source: str | os.PathLike[str],
        target: str,
        *,
        bump: str = "minor",
        metadata: Mapping[str, str] | None = None,
        callback: Callback | None = None,
        reclaim_after: float | None = None,
    ) -> Manifest:
        """Push a file or a directory tree as ``target`` (``name`` or ``name:X.Y``).

        A reservation of the version left by a push that died is reclaimed when its
        pusher is provably gone, or when it is older than ``reclaim_after`` seconds
        (default: the reservation timeout setting)."""
        from .hashing import NoProgress

        plan = self.plan_push(source, target, bump=bump, metadata=metadata)
        publisher = self._publisher(reclaim_after)
        manifest = self._push_plan(plan, bump, publisher, callback or NoProgress())
        self._remember_hashes(plan, manifest)
        self._record(manifest)
        return manifest

    def _hash_cache(self) -> HashCache:
        from .hashcache import HashCache

        return HashCache(self.cache.state / "hashes.db")

    def _remember_hashes(self, plan: PushPlan, manifest: Manifest) -> None:
        """The hashes computed while sending, for the next push of these files."""
        hashes = self._hash_cache()
        sent = {entry.path: entry.sha256 for entry in manifest.files}
        for item in plan.files:
            if item.sha256 is None:
                hashes.remember(item.source, item.identity, sent[item.path])
        hashes.save()

    def _publisher(self, reclaim_after: float | None = None) -> Publisher:
        from .commit import Publisher

        s = self.settings
        timeout = s.reservation_timeout_seconds if reclaim_after is None else reclaim_after
        return Publisher(
            pushed_by=s.pushed_by,
            workers=s.workers,
            reclaim_after=timeout,
            takeover_after=s.reservation_timeout_seconds,
        )

    def _push_plan(
        self, plan: PushPlan, bump: str, publisher: Publisher, callback: Callback
    ) -> Manifest:
        from .push import execute_push, next_version

        for _ in range(_UNPINNED_PUSH_ATTEMPTS - 1):
            try:
                return execute_push(self.remote, plan, publisher, callback=callback)
            except VersionExistsError:
                if plan.explicit:
                    raise
            # another push took this version first: take the next free one
            version = next_version(self.remote.taken(plan.name), bump)
            log.info("%s was taken meanwhile; pushing %s:%s", plan.spec, plan.name, version)
            plan = dataclasses.replace(plan, version=version)
        return execute_push(self.remote, plan, publisher, callback=callback)

    def _record(self, manifest: Manifest) -> None:
        # The bucket is the source of truth: a committed push must not fail because the
        # derived index could not be written; say so, and how to rebuild it.
        try:
            if self._record_lite(manifest) is None:
                self.catalog.record(self.remote.url, manifest)
        except Exception as exc:
            log.warning(
                "%s pushed, but the catalog was not updated (%s); run 'assetstore catalog sync'",
                manifest.spec,
                exc if isinstance(exc, AssetStoreError) else type(exc).__name__,
            )

    def _record_lite(self, manifest: Manifest) -> bool | None:
        """Index with plain sqlite3 when the catalog is the default SQLite file and is
        not open yet (``catalog_lite.py``); None: the catalog has to do it."""
        if self._catalog is not None or self.settings.catalog_url is not None:
            return None
        from . import catalog_lite

        prefix = self.settings.table_prefix
        return catalog_lite.record(self._default_catalog, prefix, self.remote.url, manifest)

    @property
    def _default_catalog(self) -> Path:
        return self.cache.state / "catalog.db"

    def copy_to(
        self, target: AssetStore, spec: str | Spec, *, callback: Callback | None = None
    ) -> Manifest:
        """Copy the version ``spec`` resolves to into ``target``'s backend, with the same
        version number and metadata (server-side where both are one backend). The copy
        holds all its files itself, whatever earlier versions its source refers to."""
        from .hashing import NoProgress
        from .replicate import copy_version

        parsed = parse_spec(spec) if isinstance(spec, str) else spec
        manifest = self._remote_manifest(parsed.name, self.resolve(parsed))
        copied = copy_version(
            self.remote,
            target.remote,
            manifest,
            target._publisher(),
            callback=callback or NoProgress(),
        )
        target._record(copied)
        return copied

    # -- maintenance ---------------------------------------------------------------
    def repair(self, *, older_than: float | None = None, dry_run: bool = False) -> list[Repair]:
        """Find reservations left by pushes that died and reclaim those whose pusher is
        provably gone or that are older than ``older_than`` seconds (default: the
        reservation timeout); finish commits that were decided and not written. Pushes
        under way are left alone."""
        from .commit import repair

        s = self.settings
        limit = s.reservation_timeout_seconds if older_than is None else older_than
        return repair(
            self.remote,
            older_than=limit,
            takeover_after=s.reservation_timeout_seconds,
            dry_run=dry_run,
        )

    def verify(self, specs: list[str] | None = None) -> list[VerifyResult]:
        """Re-hash cached versions against their manifests (all cached, by default)."""
        targets = self._cached_targets(specs)
        results = []
        for name, version in targets:
            manifest = self.cache.manifest(name, version)
            results.append(VerifyResult(manifest.spec, tuple(self.cache.problems(manifest))))
        return results

    def _cached_targets(self, specs: list[str] | None) -> list[tuple[str, Version]]:
        if not specs:
            return [(n, v) for n in self.cache.names() for v in self.cache.versions(n)]
        targets: list[tuple[str, Version]] = []
        for text in specs:
            spec = parse_spec(text)
            matching = [v for v in self.cache.versions(spec.name) if spec.matches(v)]
            if not matching:
                raise AssetNotFoundError(f"{spec} is not in the assets dir {self.cache.root}")
            targets.extend((spec.name, v) for v in matching)
        return targets

    def plan_prune(self, *, keep: int = 1, names: list[str] | None = None) -> PrunePlan:
        """Which cached versions a prune would remove (all but the newest ``keep``)."""
        from .prune import plan_prune

        return plan_prune(self.cache, keep=keep, names=names)

    def prune(self, plan: PrunePlan) -> PrunePlan:
        """Carry out ``plan``; returns what was really removed (busy versions stay)."""
        from .prune import execute_prune

        with self.cache.writing("pruning"):
            return execute_prune(self.cache, plan)

    def sync_catalog(self, *, forget_missing: bool = False) -> SyncReport:
        """Reconcile the catalog's rows for this backend with the bucket's manifests:
        add what is missing, flag (or with ``forget_missing`` delete) rows whose
        manifest is gone."""
        return self.catalog.sync(self.remote.url, self.remote.manifests(), forget=forget_missing)

    def history(self, name: str | None = None) -> list[CatalogEntry]:
        """The catalog's record of pushed versions (one name, or all)."""
        return self.catalog.entries(self.remote.url, name)


def _catalog_failure(url: str, exc: Exception) -> AssetStoreError:
    """Why the catalog ``url`` could not be opened, in one line without its secrets."""
    from .redact import redact_database_url

    shown = redact_database_url(url)
    if isinstance(exc, ImportError):
        driver = url.partition("://")[0]
        hint = "pip install 'assetstore[postgres]'" if "postgres" in driver else "install it"
        return ConfigError(f"the catalog {shown} needs a driver for {driver!r} "
                           f"({exc.name or exc}): {hint}")  # fmt: skip
    if type(exc).__name__ in ("ArgumentError", "NoSuchModuleError"):
        return ConfigError(
            f"the catalog URL {shown} is not one SQLAlchemy can use ({type(exc).__name__}); "
            f"expected {DATABASE_URL_SHAPE}"
        )
    return BackendError(f"cannot open the catalog {shown}: {type(exc).__name__}")


def _unreachable(exc: BackendError) -> bool:
    """Whether the backend could not be reached at all (the only case in which an
    unpinned spec may resolve from the assets dir): what the error says, when the remote
    said it, else what the exceptions it was raised from say."""
    if exc.unreachable is not None:
        return exc.unreachable
    from .retry import is_unreachable

    return is_unreachable(exc)


def get(spec: str, *, environ: Mapping[str, str] | None = None) -> Path:
    """The local path of ``spec``, for services: settings come from the environment.

    The settings are read again whenever the environment, the working directory or the
    config file differ from the last calls' (the store built from them is reused while
    they do not); the cached copy's manifest is parsed again whenever its file changes.
    """
    return _stores.store_for(environ).get(spec)


class _StoresByEnvironment:
    """The stores ``get`` built, by what their settings were read from: the whole
    environment, the working directory (relative paths, ``./assetstore.yaml``) and the
    config file's identity. A few are kept: a process rarely switches between more."""

    _KEEP = 4

    def __init__(self) -> None:
        self._known: list[tuple[Mapping[Any, Any], Path | None, object, AssetStore]] = []
        self._lock = threading.Lock()

    def store_for(self, environ: Mapping[str, str] | None) -> AssetStore:
        if environ is None or environ is os.environ:
            # os.environ's own bytes: comparing them costs well under a microsecond a
            # variable, where a decoded copy costs one (and a pod may have thousands).
            raw = getattr(os.environ, "_data", None)
            current: Mapping[Any, Any] = raw if isinstance(raw, dict) else dict(os.environ)
            env: Mapping[str, str] = os.environ
        else:
            current = env = dict(environ)
        try:
            cwd: Path | None = Path.cwd()
        except OSError:  # the working directory was removed
            cwd = None
        config = _config_identity(env)
        for known_env, known_cwd, known_config, store in self._known:
            if known_cwd == cwd and known_config == config and known_env == current:
                return store
        snapshot = dict(current)  # before reading the settings: a change since shows
        store = AssetStore(Settings.load(env))
        if config is not _RECENT:
            with self._lock:
                self._known = [(snapshot, cwd, config, store), *self._known[: self._KEEP - 1]]
        return store

    def clear(self) -> None:
        with self._lock:
            self._known = []


_RECENT = object()  # a config file changed too recently for its stamps to be trusted


def _config_identity(env: Mapping[str, str]) -> object:
    """What tells the config file ``Settings.load`` would read apart from another
    version of it (None when there is none)."""
    chosen = env.get("ASSETSTORE_CONFIG")
    path = Path(chosen).expanduser() if chosen else Path("assetstore.yaml")
    try:
        info = path.stat()
    except OSError:
        return None
    if time.time_ns() - changed_ns(info) < _SETTLE_NS:
        return _RECENT
    return (path.absolute(), identity_of(info))


_stores = _StoresByEnvironment()


__all__ = ["AssetStore", "IntegrityError", "VerifyResult", "get"]
