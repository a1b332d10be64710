"""``AssetStore``: the front door. It resolves specs and delegates the work to the
cache (local), the remote (bucket), push/pull (transfers) and the catalog (index)."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cache.cache import Cache
from .config.settings import Settings
from .model.manifest import Manifest
from .model.spec import Spec, Version, parse_spec
from .reading import Reader, VerifyResult

# Pushing, pruning, the remote and the catalog are imported where they are used: a
# service that reads cached versions (``assetstore.get``) never loads them.
if TYPE_CHECKING:
    from datetime import datetime, timedelta

    from .aliases import Aliases
    from .cache.prune import PrunePlan
    from .catalog.sql import Catalog, CatalogEntry, SyncReport
    from .io.stream import Callback
    from .lifecycle.api import Lifecycle
    from .repository.repair import Repair
    from .repository.repository import Repository
    from .transfer.push import PushPlan

log = logging.getLogger("assetstore")


class AssetStore:
    """Versioned assets between a backend and a local cache (docs/python.md)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cache = Cache(
            settings.assets_dir,
            use_locks=settings.use_locks,
            stall_seconds=settings.lock_stall_seconds,
        )
        self._remote: Repository | None = None
        self._catalog: Catalog | None = None
        self._reader = Reader(settings, self.cache, lambda: self.remote)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> AssetStore:
        """Settings from ``environ`` (default ``os.environ``); keyword overrides win."""
        return cls(Settings.load(environ, overrides=overrides))

    def with_assets_dir(self, assets_dir: Path) -> AssetStore:
        """The same backend, with another local assets dir (``pull --to``)."""
        return AssetStore(dataclasses.replace(self.settings, assets_dir=assets_dir.absolute()))

    # -- parts ---------------------------------------------------------------------
    @property
    def remote(self) -> Repository:
        """The bucket's repository (a ConfigError offline or with no provider)."""
        if self._remote is None:
            from .repository.open import repository_for

            self._remote = repository_for(self.settings)
        return self._remote

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            from .catalog.open import open_catalog

            self._catalog = open_catalog(self.settings, self._default_catalog)
        return self._catalog

    @property
    def lifecycle(self) -> Lifecycle:
        """Yank, delete, retention, gc and registered lockfiles (``lifecycle/``)."""
        from .lifecycle.api import Lifecycle

        return Lifecycle(self)

    # -- reading (reading.py) --------------------------------------------------------
    @property
    def aliases(self) -> Aliases:
        """Set, list, roll back and remove aliases (``models/bert@prod``)."""
        from .aliases import Aliases

        return Aliases(self._reader, self.settings.pushed_by, lambda: self.catalog)

    def resolve(self, spec: str | Spec, *, as_of: datetime | None = None) -> Version:
        """The version ``spec`` names: a pinned version as is, else the newest match in
        the bucket (the assets dir in pre-downloaded mode, or when the bucket cannot be
        reached)."""
        return self._reader.resolve(spec, as_of=as_of)

    def info(self, spec: str | Spec, *, as_of: datetime | None = None) -> Manifest:
        """The manifest of the version ``spec`` resolves to (an alias: as it was at
        ``as_of``, when given)."""
        return self._reader.info(spec, as_of=as_of)

    def versions(self, name: str) -> list[Version]:
        """Versions of ``name``, newest first."""
        return self._reader.versions(name)

    def names(self) -> list[str]:
        """Every asset name with at least one version."""
        return self._reader.names()

    def verify(self, specs: list[str] | None = None) -> list[VerifyResult]:
        """Re-hash cached versions against their manifests (all cached, by default)."""
        return self._reader.verify(specs)

    def get(
        self, spec: str | Spec, *, force: bool = False, callback: Callback | None = None
    ) -> Path:
        """The local path of ``spec``, downloading (and verifying) it first if needed."""
        parsed = parse_spec(spec) if isinstance(spec, str) else spec
        self._reader.check_download_possible(force)
        version = self.resolve(parsed)
        manifest = self._reader.cached(parsed, version, force=force)
        if manifest is None:
            manifest = self._download(parsed.name, version, force, callback)
        self._reader.remember_alias(parsed, version)
        return self._reader.local_path(manifest, parsed)

    def _download(
        self, name: str, version: Version, force: bool, callback: Callback | None
    ) -> Manifest:
        from .io.stream import NoProgress
        from .transfer.pull import download

        return download(
            self.remote, self.cache, name, version, manifest=self._reader.remote_manifest,
            workers=self.settings.workers, force=force, callback=callback or NoProgress(),
        )  # fmt: skip

    def url(self, spec: str | Spec, *, expires: int | None = None) -> str:
        """A URL for a file of ``spec``: presigned for ``expires`` seconds (default
        ``ASSETSTORE_URL_EXPIRES``), plain when 0, under the public base when one is set."""
        manifest, entry = self._reader.one_file(spec)
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
        from .transfer.push import plan_push

        return plan_push(
            self.remote, self.cache.state, Path(source), target, bump=bump,
            metadata=metadata, workers=self.settings.workers,
        )  # fmt: skip

    def push(
        self,
        source: str | os.PathLike[str],
        target: str,
        *,
        bump: str = "minor",
        metadata: Mapping[str, str] | None = None,
        callback: Callback | None = None,
        reclaim_after: float | None = None,
        expires_in: timedelta | None = None,
    ) -> Manifest:
        """Push a file or a directory tree as ``target`` (``name`` or ``name:X.Y``);
        ``expires_in``: gc deletes the version that long after the push.

        A reservation of the version left by a push that died is reclaimed when its
        pusher is provably gone, or when it is older than ``reclaim_after`` seconds
        (default: the reservation timeout setting)."""
        from .io.stream import NoProgress
        from .model.lifecycle import expiry_after
        from .repository.reservations import Publisher
        from .transfer.push import push_plan

        plan = self.plan_push(source, target, bump=bump, metadata=metadata)
        if expires_in is not None:
            plan = dataclasses.replace(plan, expires_at=expiry_after(expires_in))
        publisher = Publisher.of(self.settings, reclaim_after)
        manifest = push_plan(
            self.remote, self.cache.state, plan, publisher, bump=bump,
            callback=callback or NoProgress(),
        )  # fmt: skip
        self._record(manifest)
        return manifest

    def _record(self, manifest: Manifest) -> None:
        from .catalog.open import record

        record(self.settings, self._default_catalog, self._catalog, self.remote.url, manifest)

    @property
    def _default_catalog(self) -> Path:
        return self.cache.state / "catalog.db"

    def copy_to(
        self, target: AssetStore, spec: str | Spec, *, callback: Callback | None = None
    ) -> Manifest:
        """Copy the version ``spec`` resolves to into ``target``'s backend, with the same
        version number and metadata (server-side where both are one backend). The copy
        holds all its files itself, whatever earlier versions its source refers to."""
        from .io.stream import NoProgress
        from .repository.reservations import Publisher
        from .transfer.replicate import copy_version

        parsed = parse_spec(spec) if isinstance(spec, str) else spec
        manifest = self._reader.remote_manifest(parsed.name, self.resolve(parsed))
        copied = copy_version(
            self.remote,
            target.remote,
            manifest,
            Publisher.of(target.settings),
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
        from .repository.repair import repair

        s = self.settings
        limit = s.reservation_timeout_seconds if older_than is None else older_than
        return repair(
            self.remote,
            older_than=limit,
            takeover_after=s.reservation_timeout_seconds,
            dry_run=dry_run,
        )

    def plan_prune(
        self, *, keep: int | None = 1, names: list[str] | None = None, deleted: bool = False
    ) -> PrunePlan:
        """Which cached versions a prune would remove: all but the newest ``keep`` (None:
        none for that reason), and with ``deleted`` those the bucket no longer has."""
        from .cache.prune import plan_prune

        if not deleted:
            return plan_prune(self.cache, keep=keep, names=names)
        self.remote.require_bucket()
        return plan_prune(self.cache, keep=keep, names=names,
                          committed=lambda name: self.remote.scan(name).committed)  # fmt: skip

    def prune(self, plan: PrunePlan) -> PrunePlan:
        """Carry out ``plan``; returns what was really removed (busy versions stay)."""
        from .cache.prune import execute_prune

        with self.cache.writing("pruning"):
            return execute_prune(self.cache, plan)

    def sync_catalog(self, *, forget_missing: bool = False) -> SyncReport:
        """Reconcile the catalog's rows for this backend with the bucket's manifests:
        add what is missing, flag (or with ``forget_missing`` delete) rows whose
        manifest is gone."""
        from .repository.journal import every_move
        from .repository.marks import every_mark

        remote = self.remote
        return self.catalog.sync(remote.url, remote.manifests(), forget=forget_missing,
                                 moves=every_move(remote), events=every_mark(remote))  # fmt: skip

    def history(self, name: str | None = None) -> list[CatalogEntry]:
        """The catalog's record of pushed versions (one name, or all)."""
        return self.catalog.entries(self.remote.url, name)


__all__ = ["AssetStore", "VerifyResult"]
