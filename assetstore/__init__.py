"""assetstore: versioned assets between an object store and a local cache.

>>> import assetstore
>>> path = assetstore.get("models/bert:1.2")      # doctest: +SKIP
"""

from __future__ import annotations

from .errors import (
    AssetNotFoundError,
    AssetStoreError,
    BackendError,
    CacheError,
    ConfigError,
    IntegrityError,
    InvalidSpecError,
    ReservedError,
    VersionExistsError,
)
from .manifest import FileEntry, Manifest
from .settings import Settings
from .spec import Spec, Version, parse_spec
from .store import AssetStore, VerifyResult, get

__all__ = [
    "AssetNotFoundError",
    "AssetStore",
    "AssetStoreError",
    "BackendError",
    "CacheError",
    "ConfigError",
    "FileEntry",
    "IntegrityError",
    "InvalidSpecError",
    "Manifest",
    "ReservedError",
    "Settings",
    "Spec",
    "VerifyResult",
    "Version",
    "VersionExistsError",
    "get",
    "parse_spec",
]
