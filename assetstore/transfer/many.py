"""Several versions at once (``pull SPEC...``): each fetched on a thread of its own,
within the workers budget, and one failure never stops the others."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AssetStoreError

if TYPE_CHECKING:
    from ..io.stream import Callback
    from ..store import AssetStore


def get_many(
    store: AssetStore, specs: Sequence[str], *, force: bool = False,
    callback: Callback | None = None,
) -> list[Path | AssetStoreError]:  # fmt: skip
    """The local path of each spec, in order, or the error that stopped it. At most
    ``workers`` files move at once in all: versions share the budget."""
    from ..store import AssetStore

    unique = list(dict.fromkeys(specs))
    at_once = max(1, min(len(unique), store.settings.workers))
    per_version = max(1, store.settings.workers // at_once)
    settings = dataclasses.replace(store.settings, workers=per_version)

    def one(spec: str) -> Path | AssetStoreError:
        try:
            return AssetStore(settings).get(spec, force=force, callback=callback)
        except AssetStoreError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="assetstore-pull") as pool:
        found = dict(zip(unique, pool.map(one, unique), strict=True))
    return [found[spec] for spec in specs]
