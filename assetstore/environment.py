"""``assetstore.get``, for services: settings from the environment, re-read whenever
the environment, the working directory or the config file change, and the store built
from them kept while they do not."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .cache.fileid import SETTLE_NS as _SETTLE_NS
from .cache.fileid import changed_ns, identity_of
from .config.settings import Settings
from .store import AssetStore


def get(spec: str, *, environ: Mapping[str, str] | None = None) -> Path:
    """The local path of ``spec``, for services: settings come from the environment.

    The settings are read again whenever the environment, the working directory or the
    config file differ from the last calls' (the store built from them is reused while
    they do not); the cached copy's manifest is parsed again whenever its file changes.
    """
    return _stores.store_for(environ).get(spec)


async def aget(spec: str, *, environ: Mapping[str, str] | None = None) -> Path:
    """``get`` for services on asyncio: runs in a worker thread, so the event loop goes
    on serving while the version downloads."""
    import asyncio

    return await asyncio.to_thread(get, spec, environ=environ)


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
    """The identity of the config file ``Settings.load`` would read (None: none), so
    that another file, or this one changed, is told apart."""
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


__all__ = ["aget", "get"]
