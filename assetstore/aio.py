"""The async API, for services on asyncio (FastAPI and friends): each call runs the
blocking one in a worker thread (``asyncio.to_thread``), so the event loop goes on
serving while a version downloads, and concurrent calls proceed at once — the cache's
version locks make two of them that want one version download it once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    import os
    from collections.abc import Sequence
    from datetime import datetime, timedelta
    from typing import TypedDict

    from typing_extensions import Unpack

    from .io.stream import Callback
    from .model.manifest import Manifest
    from .model.spec import Spec, Version
    from .store import AssetStore
    from .transfer.plan import PlanKeywords

    class GetOptions(TypedDict, total=False):
        """The keywords of ``AssetStore.get``."""

        force: bool
        callback: Callback | None
        include: Sequence[str]
        exclude: Sequence[str]

    class PushKeywords(PlanKeywords, total=False):
        """The keywords of ``AssetStore.push``."""

        force_new: bool
        callback: Callback | None
        reclaim_after: float | None
        expires_in: timedelta | None


T = TypeVar("T")


async def _in_thread(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    import asyncio  # not at import: a warm synchronous get never loads asyncio

    return await asyncio.to_thread(call, *args, **kwargs)


class AsyncMethods:
    """``AssetStore``'s coroutines: ``aget``, ``apush``, ``ainfo``, ``aresolve``."""

    async def aget(self, spec: str | Spec, **options: Unpack[GetOptions]) -> Path:
        """``get`` without blocking the event loop."""
        store = cast("AssetStore", self)
        return await _in_thread(store.get, spec, **options)

    async def apush(
        self, source: str | os.PathLike[str], target: str, **keywords: Unpack[PushKeywords]
    ) -> Manifest:
        """``push`` without blocking the event loop."""
        store = cast("AssetStore", self)
        return await _in_thread(store.push, source, target, **keywords)

    async def ainfo(self, spec: str | Spec, *, as_of: datetime | None = None) -> Manifest:
        """``info`` without blocking the event loop."""
        store = cast("AssetStore", self)
        return await _in_thread(store.info, spec, as_of=as_of)

    async def aresolve(self, spec: str | Spec, *, as_of: datetime | None = None) -> Version:
        """``resolve`` without blocking the event loop."""
        store = cast("AssetStore", self)
        return await _in_thread(store.resolve, spec, as_of=as_of)
