"""The progress bar of a command: drawn on a terminal only, never with ``--quiet``
(the library reports progress through callbacks; ``bar.py`` draws them)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from ..io.stream import Callback


@contextmanager
def progress(ctx: click.Context, label: str, *, commits: bool = False) -> Iterator[Callback]:
    """A bar for one command, named ``label`` until the library says what moves; for a
    command that ``commits`` a version, the last unit of the total is the commit."""
    if ctx.obj.quiet or not sys.stderr.isatty():
        from ..io.stream import NoProgress

        yield NoProgress()
        return
    from ..io.progress import COMMIT
    from .bar import Bar

    bar = Bar(label, held_back=COMMIT if commits else 0)
    try:
        yield bar
    finally:
        bar.close()
