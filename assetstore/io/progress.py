"""What a transfer tells its progress callback besides bytes: what moves, and — for
several transfers at once — one total for all of them.

A callback is any object with ``set_size`` and ``relative_update`` (an fsspec callback
fits). One that also has ``set_description(str)`` is told the spec that moves once it
is known (``models/bert:1.2``: a pull learns the version when it resolves the spec, a
push when it reserves one).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .stream import Callback

# A push's (or copy's) total counts its commit as one unit, reported once the manifest
# is written: a bar reads 100% only once the version exists.
COMMIT = 1


def describe(callback: object, what: str) -> None:
    """Tell ``callback`` what moves, if it has a way to hear it."""
    setter = getattr(callback, "set_description", None)
    if callable(setter):
        setter(what)


class ProgressGroup:
    """One callback fed by several transfers at once (a multi-asset pull, each on a
    thread of its own): each part's size adds to the total, each part's bytes to the
    count, and the description names every part described so far."""

    def __init__(self, callback: Callback, label: str) -> None:
        self._callback = callback
        self._lock = threading.Lock()
        self._sizes: list[int] = []
        self._names: list[str] = []
        describe(callback, label)

    def part(self) -> Callback:
        with self._lock:
            self._sizes.append(0)
            return _Part(self, len(self._sizes) - 1)

    def _set_size(self, index: int, size: int | None) -> None:
        with self._lock:
            self._sizes[index] = size or 0
            self._callback.set_size(sum(self._sizes))

    def _update(self, inc: int) -> None:
        with self._lock:
            self._callback.relative_update(inc)

    def _describe(self, what: str) -> None:
        with self._lock:
            self._names.append(what)
            describe(self._callback, summary(self._names))


class _Part:
    def __init__(self, group: ProgressGroup, index: int) -> None:
        self._group = group
        self._index = index

    def set_size(self, size: int | None) -> None:
        self._group._set_size(self._index, size)

    def relative_update(self, inc: int = 1) -> None:
        self._group._update(inc)

    def set_description(self, what: str) -> None:
        self._group._describe(what)


def summary(names: list[str], width: int = 40) -> str:
    """Several specs in one short label.

    >>> summary(["a:1.0", "b:0.2"])
    'a:1.0, b:0.2'
    >>> summary(["models/bert:1.2", "models/vocab:0.3", "datasets/squad:2.0"], width=30)
    'models/bert:1.2 and 2 more'
    """
    joined = ", ".join(names)
    if len(joined) <= width or len(names) == 1:
        return joined
    return f"{names[0]} and {len(names) - 1} more"
