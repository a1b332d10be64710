"""``AssetStore``: the front door. It resolves specs and delegates the work to the
cache (local), the remote (bucket), push/pull (transfers) and the catalog (index)."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .aio import AsyncMethods
from .cache.cache import Cache
from .cached import CacheMethods
from .config.settings import Settings
from .errors import InvalidSpecError
from .model.manifest import Manifest
from .model.spec import Spec, Version, parse_spec
from .reading import Reader
from .verifying import VerifyResult

# Pushing, pruning, the remote and the catalog are imported where they are used: a
# service that reads cached versions (``assetstore.get``) never loads them.
if TYPE_CHECKING:
    from datetime import datetime, timedelta

    from typing_extensions import Unpack

    from .aliases import Aliases
    from .catalog.sql import Catalog, CatalogEntry, SyncReport
    from .io.stream import Callback
    from .lifecycle.api import Lifecycle
    from .repository.repair import Repair
    from .repository.repository import Repository
    from .transfer.plan import PlanKeywords, PushPlan

log = logging.getLogger("assetstore")


class AssetStore(CacheMethods, AsyncMethods):
    """Versioned assets between a backend and a local cache (docs/python.md); the
    methods on the assets dir are in ``cached.py``, the coroutines in ``aio.py``."""

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

    def __repr__(self) -> str:
        from .redact import scrub

        s = self.settings
        text = f"AssetStore(provider={s.provider!r}, bucket={s.bucket!r}, prefix={s.prefix!r}, "
        return scrub(f"{text}assets_dir={str(s.assets_dir)!r})", s.secrets())

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
        """The version ``spec`` names: pinned as is, else the newest match in the bucket
        (in the assets dir when pre-downloaded or offline)."""
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

    def get(
        self, spec: str | Spec, *, force: bool = False, callback: Callback | None = None,
        include: Sequence[str] = (), exclude: Sequence[str] = (),
    ) -> Path:  # fmt: skip
        """The local path of ``spec``, downloading (and verifying) it first if needed;
        with ``include``/``exclude`` globs, only the files they select (a partial
        version, which a later get without patterns completes)."""
        if not (include or exclude):
            return self._reader.get(spec, force=force, callback=callback)
        from .cache.subset import Patterns

        patterns = Patterns(tuple(include), tuple(exclude))
        return self._reader.get(spec, force=force, callback=callback, patterns=patterns)

    def url(self, spec: str | Spec, *, expires: int | None = None) -> str:
        """A URL for a file of ``spec``: presigned for ``expires`` seconds (default
        ``ASSETSTORE_URL_EXPIRES``), plain when 0, under the public base when one is set."""
        manifest, entry = self._reader.one_file(spec)
        if entry.pack is not None:
            raise InvalidSpecError(
                f"{manifest.spec}[{entry.path}] is stored in the pack {entry.pack} (bytes "
                f"{entry.offset}-{entry.offset + entry.size - 1}), which no URL can give alone; "
                "push the version with --no-pack for a URL per file"
            )
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
        exclude: Sequence[str] = (),
        default_excludes: bool = True,
        allow_kind_change: bool = False,
        pack: bool | None = None,
    ) -> PushPlan:
        """What ``push`` would do: the version, files sent, reused, packed and left out,
        and whether the newest version already is what it would make. ``pack``: put the
        small files in packs (default: the pack settings)."""
        from .model.pack import PackRules
        from .transfer.plan import PushOptions, plan_push
        from .transfer.source import Rules

        rules = Rules(tuple(exclude), default_excludes)
        s = self.settings
        asked = pack is not None  # --pack packs whatever the count of small files
        packing = PackRules(
            enabled=bool(pack) if asked else s.pack,
            min_files=1 if asked else s.pack_min_files,
            file_max=s.pack_file_max,
            pack_max=s.pack_max,
        )
        options = PushOptions(bump, metadata, rules, allow_kind_change, packing)
        return plan_push(self.remote, self.cache.state, Path(source), target, options,
                         workers=self.settings.workers)  # fmt: skip

    def push(
        self,
        source: str | os.PathLike[str],
        target: str,
        *,
        force_new: bool = False,
        callback: Callback | None = None,
        reclaim_after: float | None = None,
        expires_in: timedelta | None = None,
        **planning: Unpack[PlanKeywords],
    ) -> Manifest:
        """Push a file or a directory tree as ``target`` (``name`` or ``name:X.Y``); the
        keywords of ``plan_push`` apply. ``push_planned`` tells what the others do."""
        plan = self.plan_push(source, target, **planning)
        return self.push_planned(plan, force_new=force_new, callback=callback,
                                 reclaim_after=reclaim_after, expires_in=expires_in)  # fmt: skip

    def push_planned(
        self,
        plan: PushPlan,
        *,
        force_new: bool = False,
        callback: Callback | None = None,
        reclaim_after: float | None = None,
        expires_in: timedelta | None = None,
    ) -> Manifest:
        """Carry out ``plan``: an unchanged plan returns the newest version unless
        ``force_new``; ``expires_in``: gc deletes the version that long after the push;
        ``reclaim_after``: how old a dead push's reservation may be reclaimed (default:
        the reservation timeout setting). docs/python.md has the details."""
        from .io.stream import NoProgress
        from .model.lifecycle import expiry_after
        from .repository.reservations import Publisher
        from .transfer.push import push_plan

        if plan.unchanged is not None and not force_new:
            log.info("%s is unchanged: no new version", plan.unchanged.spec)
            return plan.unchanged
        if expires_in is not None:
            plan = dataclasses.replace(plan, expires_at=expiry_after(expires_in))
        publisher = Publisher.of(self.settings, reclaim_after)
        manifest = push_plan(self.remote, self.cache.state, plan, publisher,
                             callback=callback or NoProgress())  # fmt: skip
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
        """Copy the version ``spec`` resolves to into ``target``'s backend: same version
        and metadata, server-side where both are one backend, every file its own."""
        from .io.stream import NoProgress
        from .repository.reservations import Publisher
        from .transfer.replicate import copy_version

        parsed = parse_spec(spec) if isinstance(spec, str) else spec
        manifest = self._reader.remote_manifest(parsed.name, self.resolve(parsed))
        copied = copy_version(self.remote, target.remote, manifest, Publisher.of(target.settings),
                              callback=callback or NoProgress())  # fmt: skip
        target._record(copied)
        return copied

    # -- maintenance ---------------------------------------------------------------
    def repair(self, *, older_than: float | None = None, dry_run: bool = False) -> list[Repair]:
        """Reclaim reservations of pushes that died (pusher provably gone, or older than
        ``older_than`` seconds; default the reservation timeout) and finish commits
        decided and not written. Pushes under way are left alone."""
        from .repository.repair import repair

        timeout = self.settings.reservation_timeout_seconds
        return repair(self.remote, older_than=older_than, takeover_after=timeout, dry_run=dry_run)

    def sync_catalog(self, *, forget_missing: bool = False) -> SyncReport:
        """Add the bucket's manifests the catalog lacks; flag (``forget_missing``: delete)
        rows whose manifest is gone."""
        from .catalog import fast
        from .catalog.reconcile import present_in
        from .repository.journal import every_move
        from .repository.marks import every_mark

        remote = self.remote
        present = present_in(remote.committed())
        moves, events = list(every_move(remote)), list(every_mark(remote))
        if self._catalog is None and self.settings.catalog_url is None:
            report = fast.sync(self._default_catalog, self.settings.table_prefix, remote.url,
                               present, remote.read_manifests, forget=forget_missing,
                               moves=moves, events=events)  # fmt: skip
            if report is not None:
                return report
        return self.catalog.sync(remote.url, present, remote.read_manifests,
                                 forget=forget_missing, moves=moves, events=events)  # fmt: skip

    def history(self, name: str | None = None) -> list[CatalogEntry]:
        """The catalog's record of pushed versions (one name, or all)."""
        return self.catalog.entries(self.remote.url, name)


__all__ = ["AssetStore", "VerifyResult"]
