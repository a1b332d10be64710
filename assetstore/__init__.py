"""assetstore: versioned assets between an object store and a local cache.

>>> import assetstore
>>> path = assetstore.get("models/bert:1.2")      # doctest: +SKIP

The exceptions are imported with the package; the other public names on first use
(PEP 562), so that ``import assetstore`` costs next to nothing.

The public API is what ``__all__`` names, imported from ``assetstore`` (and the
exceptions from ``assetstore.errors``). Every subpackage (``model``, ``config``, ``io``,
``backends``, ``repository``, ``cache``, ``catalog``, ``transfer``, ``cli``) is internal:
it may change in any release (docs/contributing.md).
"""

from __future__ import annotations

from .errors import (
    AssetNotFoundError,
    AssetStoreError,
    BackendError,
    CacheError,
    ConfigError,
    ExportConflictError,
    IntegrityError,
    InvalidSpecError,
    ProtectedError,
    ReservedError,
    StaleLockError,
    VersionExistsError,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from .config.settings import Settings
    from .environment import aget, get
    from .model.manifest import FileEntry, Manifest
    from .model.spec import Spec, Version, parse_spec
    from .store import AssetStore, VerifyResult

__all__ = [
    "AssetNotFoundError",
    "AssetStore",
    "AssetStoreError",
    "BackendError",
    "CacheError",
    "ConfigError",
    "ExportConflictError",
    "FileEntry",
    "IntegrityError",
    "InvalidSpecError",
    "Manifest",
    "ProtectedError",
    "ReservedError",
    "Settings",
    "Spec",
    "StaleLockError",
    "VerifyResult",
    "Version",
    "VersionExistsError",
    "aget",
    "get",
    "parse_spec",
]

# public name -> the module that defines it
_LAZY = {
    "AssetStore": "store",
    "VerifyResult": "verifying",
    "aget": "environment",
    "get": "environment",
    "FileEntry": "model.manifest",
    "Manifest": "model.manifest",
    "Settings": "config.settings",
    "Spec": "model.spec",
    "Version": "model.spec",
    "parse_spec": "model.spec",
}
# Modules that ``import assetstore`` used to load as attributes, where they are now
# (kept for one release, for code that reached them as ``assetstore.spec`` and so on).
_SUBMODULES = {
    "cache": "cache.cache", "errors": "errors", "manifest": "model.manifest",
    "paths": "model.paths", "settings": "config.settings", "spec": "model.spec",
    "store": "store",
}  # fmt: skip

if not TYPE_CHECKING:  # type checkers see the imports above, and no catch-all

    def __getattr__(name: str) -> object:
        from importlib import import_module

        if name in _LAZY:
            value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        elif name in _SUBMODULES:
            value = import_module(f".{_SUBMODULES[name]}", __name__)
        else:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})
