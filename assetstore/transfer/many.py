"""Several versions at once (``pull SPEC...``): each fetched on a thread of its own,
within the workers budget, and one failure never stops the others."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..errors import AssetStoreError
from ..io.progress import ProgressGroup

if TYPE_CHECKING:
    from ..config.settings import Settings
    from ..io.stream import Callback


class Store(Protocol):
    def get(
        self, spec: str, *, force: bool = False, callback: Callback | None = None,
        include: Sequence[str] = (), exclude: Sequence[str] = (),
    ) -> Path: ...  # fmt: skip


def get_many(
    settings: Settings, open_store: Callable[[Settings], Store], specs: Sequence[str], *,
    force: bool = False, callback: Callback | None = None, include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> list[Path | AssetStoreError]:  # fmt: skip
    """The local path of each spec, in order, or the error that stopped it, each got
    from a store ``open_store`` makes of ``settings`` (with the ``include``/``exclude``
    patterns, if any, applied to every spec). At most ``workers`` files move at once in
    all: versions share the budget. ``callback`` hears of all of them as one transfer."""
    unique = list(dict.fromkeys(specs))
    group = None if callback is None else ProgressGroup(callback, f"{len(unique)} assets")
    at_once = max(1, min(len(unique), settings.workers))
    shared = dataclasses.replace(settings, workers=max(1, settings.workers // at_once))

    def one(spec: str) -> Path | AssetStoreError:
        try:
            part = None if group is None else group.part()
            return open_store(shared).get(spec, force=force, callback=part, include=include,
                                          exclude=exclude)  # fmt: skip
        except AssetStoreError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="assetstore-pull") as pool:
        found = dict(zip(unique, pool.map(one, unique), strict=True))
    return [found[spec] for spec in specs]
