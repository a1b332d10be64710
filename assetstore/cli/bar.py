"""The CLI's progress bar: an fsspec ``TqdmCallback`` (the same kind of callback a
Python user passes) naming what moves, with bytes done / total, rate and time left.

    models/bert:1.2   61%|██████▏   | 612.0 MiB / 1.0 GiB, 48.3 MiB/s, 00:08 left
"""

from __future__ import annotations

import os
import sys
from typing import Any

from fsspec.callbacks import TqdmCallback
from tqdm import tqdm

from .output import human_size

FORMAT = "{desc}  {floor:3d}%|{bar}| {done} / {all}, {speed}, {remaining} left"


class _Floored(tqdm):  # type: ignore[misc]
    """tqdm with sizes in KiB/MiB/GiB and a percentage rounded down, so a push whose
    commit is still to come reads 99%, never 100%. ``held_back`` units of the total are
    not bytes (a push's commit), so the sizes shown leave them out."""

    held_back = 0

    @property
    def format_dict(self) -> dict[str, Any]:
        fields: dict[str, Any] = super().format_dict
        done, total, elapsed = fields["n"], fields["total"] or 0, fields["elapsed"]
        rate = fields["rate"] or (done / elapsed if elapsed else 0)
        if total <= self.held_back:  # nothing to send: the commit is all there is
            rate = 0
        fields.update(
            floor=min(100, int(done * 100 // total)) if total else 0,
            done=human_size(max(0, min(int(done), int(total) - self.held_back))),
            all=human_size(max(0, int(total) - self.held_back)),
            speed=f"{human_size(int(rate))}/s",
        )
        return fields


def _screen() -> tuple[int, int]:
    """The terminal's columns and lines, or 80 by 24 where it says 0 (a terminal with no
    size, as some CI runners give: tqdm would draw nothing there)."""
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return 80, 24
    return size.columns or 80, size.lines or 24


class Bar(TqdmCallback):  # type: ignore[misc]
    """Drawn on stderr once the library reports a size; renamed when it says what moves."""

    def __init__(self, label: str, *, held_back: int = 0) -> None:
        columns, lines = _screen()
        kwargs = {"desc": label, "file": sys.stderr, "bar_format": FORMAT, "leave": True,
                  "ncols": columns, "nrows": lines}  # fmt: skip
        drawn = type("_Bar", (_Floored,), {"held_back": held_back})
        super().__init__(tqdm_kwargs=kwargs, tqdm_cls=drawn)

    def set_description(self, what: str) -> None:
        self._tqdm_kwargs["desc"] = what
        if self.tqdm is not None:
            self.tqdm.set_description_str(what)

    def call(self, *args: Any, **kwargs: Any) -> None:
        if self.size:  # nothing to draw before the size is known
            super().call(*args, **kwargs)
