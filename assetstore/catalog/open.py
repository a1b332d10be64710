"""Which catalog a store uses, and indexing a push in it: the default SQLite file under
the assets dir (written through ``fast.py`` while it is not open), or the URL the
settings name. The bucket is the source of truth: a push never fails because its index
could not be written."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ..config.options import DATABASE_URL_SHAPE
from ..config.settings import Settings
from ..errors import AssetStoreError, BackendError, CacheError, ConfigError
from ..model.manifest import Manifest

if TYPE_CHECKING:
    from .sql import Catalog

log = logging.getLogger("assetstore")


def open_catalog(settings: Settings, default: Path) -> Catalog:
    """The catalog ``settings`` name, or the SQLite file ``default`` (created)."""
    from .sql import Catalog, engine_for

    url = settings.catalog_url
    if url is None:
        if settings.offline:
            raise ConfigError(f"{settings.offline_reason}: there is no catalog to use")
        default.parent.mkdir(parents=True, exist_ok=True)
        if default.is_symlink():  # SQLite would write where it points
            raise CacheError(f"refusing to open the catalog through the symlink {default}")
        url = f"sqlite:///{default}"
    try:
        return Catalog(engine_for(url), table_prefix=settings.table_prefix)
    except AssetStoreError:
        raise
    except Exception as exc:
        raise _catalog_failure(url, exc) from exc


def record(
    settings: Settings, default: Path, opened: Catalog | None, backend: str, manifest: Manifest
) -> None:
    """Index a pushed version; a failure is a warning that says how to rebuild.

    With the default SQLite catalog not open yet, plain sqlite3 does it (``fast.py``:
    no SQLAlchemy in a push's start-up); otherwise, or when that cannot, the catalog."""
    try:
        if opened is None and settings.catalog_url is None:
            from . import fast

            if fast.record(default, settings.table_prefix, backend, manifest) is not None:
                return
        (opened or open_catalog(settings, default)).record(backend, manifest)
    except Exception as exc:
        log.warning(
            "%s pushed, but the catalog was not updated (%s); run 'assetstore catalog sync'",
            manifest.spec,
            exc if isinstance(exc, AssetStoreError) else type(exc).__name__,
        )


def _catalog_failure(url: str, exc: Exception) -> AssetStoreError:
    """Why the catalog ``url`` could not be opened, in one line without its secrets."""
    from ..redact import redact_database_url

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
