"""assetstore: versioned assets between an object store and a local cache.

>>> import assetstore
>>> path = assetstore.get("models/bert:1.2")      # doctest: +SKIP

The exceptions are imported with the package; the other public names on first use
(PEP 562), so that ``import assetstore`` costs next to nothing.
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

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:
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

# public name -> the module that defines it
_LAZY = {
    "AssetStore": "store",
    "VerifyResult": "store",
    "get": "store",
    "FileEntry": "manifest",
    "Manifest": "manifest",
    "Settings": "settings",
    "Spec": "spec",
    "Version": "spec",
    "parse_spec": "spec",
}
# Submodules that ``import assetstore`` used to load, so ``assetstore.store`` and the
# like still work as attributes.
_SUBMODULES = {"cache", "errors", "manifest", "paths", "settings", "spec", "store"}

if not TYPE_CHECKING:  # type checkers see the imports above, and no catch-all

    def __getattr__(name: str) -> object:
        from importlib import import_module

        if name in _LAZY:
            value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        elif name in _SUBMODULES:
            value = import_module(f".{name}", __name__)
        else:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})
