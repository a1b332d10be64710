"""``AssetStore.lifecycle``: yank, unyank, delete, retention, gc and the registered
lockfiles of one store. Every operation needs the bucket (pre-downloaded mode refuses
it: a configuration error) and is recorded in the catalog (a failure there is a warning:
the bucket is the record, and ``catalog sync`` indexes what was missed)."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AssetNotFoundError, AssetStoreError, InvalidSpecError
from ..model.lifecycle import Mark, new_mark
from ..model.spec import Version, check_name, parse_spec
from ..release.lockfile import Locked, load
from ..repository import marks
from . import deleting, gc, rules
from .deleting import Report
from .protect import registered_locks

if TYPE_CHECKING:
    from ..repository.repair import Repair
    from ..repository.repository import Repository, Scan
    from ..store import AssetStore

log = logging.getLogger("assetstore")


class Lifecycle:
    def __init__(self, store: AssetStore) -> None:
        self._store = store
        self._by = store.settings.pushed_by

    @property
    def _repo(self) -> Repository:
        repo = self._store.remote
        repo.require_bucket()
        return repo

    # -- yanks -------------------------------------------------------------------------
    def yank(self, spec: str, *, reason: str | None = None) -> Mark:
        """Yank ``NAME:MAJOR.MINOR``: unpinned resolutions skip it, a pinned one is
        still served (with a warning). Yanking again replaces the reason."""
        name, version, _ = self._committed(spec)
        mark = new_mark("yank", name, version, self._by, reason)
        marks.write(self._repo, mark)
        self._index([mark])
        return mark

    def unyank(self, spec: str) -> Mark | None:
        """Undo a yank; None when the version was not yanked."""
        name, version, scan = self._committed(spec)
        if version not in scan.yanked:
            return None
        marks.remove(self._repo, "yank", name, version)
        mark = new_mark("unyank", name, version, self._by, None)
        self._index([mark])
        return mark

    def yank_of(self, name: str, version: Version) -> Mark | None:
        """The yank of ``name:version``, or None when it is not yanked."""
        return marks.read(self._repo, "yank", name, version)

    def yanks(self, name: str) -> dict[Version, Mark]:
        """The yanked versions of ``name`` and their marks."""
        repo = self._repo
        found = (marks.read(repo, "yank", name, v) for v in sorted(repo.scan(name).yanked))
        return {mark.version: mark for mark in found if mark is not None}

    # -- deletion ----------------------------------------------------------------------
    def delete(
        self, spec: str, *, force: bool = False, dry_run: bool = False, reason: str | None = None
    ) -> Report:
        """Delete one version (ProtectedError when an alias or a registered lockfile
        needs it; ``force`` overrides an alias)."""
        name, version = self._pinned(spec)
        report = deleting.delete(self._repo, name, [version], by=self._by, reason=reason,
                                 force=force, dry_run=dry_run)  # fmt: skip
        return self._done(report)

    def retain(
        self, name: str, *, keep_last: int, older_than: timedelta | None = None,
        dry_run: bool = False,
    ) -> Report:  # fmt: skip
        """Delete the versions of ``name`` beyond the newest ``keep_last`` (and older
        than ``older_than``), never a protected one."""
        check_name(name)
        report = rules.retain(self._repo, name, keep_last=keep_last, older_than=older_than,
                              by=self._by, dry_run=dry_run)  # fmt: skip
        return self._done(report)

    def gc(self, *, dry_run: bool = False) -> tuple[list[Repair], Report]:
        """Reclaim what pushes that died left (``repair``), delete expired versions,
        then every object no committed version needs."""
        repairs = self._store.repair(dry_run=dry_run)
        return repairs, self._done(gc.collect(self._repo, by=self._by, dry_run=dry_run))

    # -- registered lockfiles ----------------------------------------------------------
    def register(self, service: str, lockfile: Path) -> list[Locked]:
        """Store ``lockfile`` in the bucket as ``service``'s: what it pins is kept."""
        entries = load(lockfile)
        marks.register(self._repo, service, lockfile.read_bytes())
        return entries

    def unregister(self, service: str) -> None:
        if not marks.unregister(self._repo, service):
            raise AssetNotFoundError(f"no lockfile is registered for {service!r}")

    def registered(self) -> dict[str, list[Locked]]:
        """service -> what its registered lockfile pins."""
        return registered_locks(self._repo)

    def events(self, name: str | None = None) -> list[Mark]:
        """The yanks, unyanks and deletions the catalog indexed, oldest first."""
        return self._store.catalog.events(self._repo.url, name)

    # -- helpers -----------------------------------------------------------------------
    def _pinned(self, spec: str) -> tuple[str, Version]:
        parsed = parse_spec(spec)
        if parsed.pinned is None or parsed.sub_path is not None:
            raise InvalidSpecError(f"{spec!r}: name one version exactly, as NAME:MAJOR.MINOR")
        return parsed.name, parsed.pinned

    def _committed(self, spec: str) -> tuple[str, Version, Scan]:
        name, version = self._pinned(spec)
        scan = self._repo.scan(name)
        if version not in scan.committed:
            raise AssetNotFoundError(f"{name}:{version} not found in {self._repo.url}", name=name)
        return name, version, scan

    def _done(self, report: Report) -> Report:
        if not report.dry_run:
            self._index(report.deleted)
        return report

    def _index(self, events: list[Mark]) -> None:
        if not events:
            return
        try:
            self._store.catalog.record_events(self._repo.url, events)
        except Exception as exc:
            why = exc if isinstance(exc, AssetStoreError) else type(exc).__name__
            log.warning("the catalog was not updated (%s); run 'assetstore catalog sync'", why)
