"""The assets dir as users see it: which versions it holds, removing some, fitting it in
a size, verifying it, and exporting a version as a plain folder. ``AssetStore`` takes
these methods from ``CacheMethods``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .cache.cache import Cache
from .config.settings import Settings
from .errors import AssetStoreError, CacheError
from .model.spec import Spec, parse_spec
from .reading import Reader
from .verifying import VerifyResult

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .cache.prune import PrunePlan
    from .cache.report import CachedVersion
    from .repository.repository import Repository
    from .transfer.export import ExportReport


class CacheMethods:
    """``AssetStore``'s methods on the assets dir (``cache/``)."""

    settings: Settings
    cache: Cache
    _reader: Reader

    @property
    def remote(self) -> Repository:
        raise NotImplementedError

    def cached_versions(self) -> list[CachedVersion]:
        """Every version in the assets dir: size on disk, files, last access, and whether
        it is complete, partial (``get`` with patterns) or being pulled."""
        from .cache.report import cached_versions

        return cached_versions(self.cache)

    def remove_cached(self, specs: Sequence[str]) -> list[CachedVersion]:
        """Remove the cached versions ``specs`` name (``NAME``: all of them; ``NAME:1``,
        ``NAME:1.2``); a version being pulled is kept, and named in a CacheError."""
        from .cache.report import matching, remove_versions

        with self.cache.writing("removing cached versions"):
            return remove_versions(self.cache, matching(self.cache, list(specs)))

    def verify(self, specs: list[str] | None = None) -> list[VerifyResult]:
        """Re-hash cached versions against their manifests (all cached, by default;
        of a partial version, the files it holds)."""
        from .verifying import verify

        return verify(self._reader, specs)

    def plan_prune(
        self, *, keep: int | None = 1, names: list[str] | None = None, deleted: bool = False,
        max_size: int | None = None,
    ) -> PrunePlan:  # fmt: skip
        """Which cached versions a prune would remove: all but the newest ``keep`` (None:
        none for that reason); with ``deleted``, those the bucket no longer has; with
        ``max_size`` (bytes), then the least recently used until the rest fits."""
        from .cache.prune import plan_prune

        if not deleted:
            return plan_prune(self.cache, keep=keep, names=names, max_size=max_size)
        self.remote.require_bucket()
        return plan_prune(self.cache, keep=keep, names=names, max_size=max_size,
                          committed=lambda name: self.remote.scan(name).committed)  # fmt: skip

    def prune(self, plan: PrunePlan) -> PrunePlan:
        """Carry out ``plan``; returns what was really removed (busy versions stay)."""
        from .cache.prune import execute_prune

        with self.cache.writing("pruning"):
            return execute_prune(self.cache, plan)

    def export(
        self, spec: str | Spec, directory: str | Path, *, force: bool = False,
        include: Sequence[str] = (), exclude: Sequence[str] = (),
    ) -> ExportReport:  # fmt: skip
        """The files of ``spec`` (downloaded first if need be) copied into ``directory``
        as a plain tree, each verified; files there that differ are an
        ExportConflictError, and nothing is written, unless ``force``."""
        from .cache.subset import Patterns
        from .transfer.export import export_version

        parsed = parse_spec(spec) if isinstance(spec, str) else spec
        patterns = Patterns(tuple(include), tuple(exclude))
        manifest = self._reader.fetch(parsed, False, None, patterns or None)
        target = Path(directory).expanduser()
        try:
            return export_version(self.cache, manifest, target, sub_path=parsed.sub_path,
                                  force=force)  # fmt: skip
        except OSError as exc:
            if isinstance(exc, AssetStoreError):
                raise
            raise CacheError(
                f"exporting {manifest.spec} to {target} failed: "
                f"{exc.strerror or exc} ({exc.filename or target})"
            ) from exc
