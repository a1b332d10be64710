"""What the commands print: data as text or JSON, sizes for people, and progress bars
(the CLI alone draws them; the library reports progress through callbacks)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ..io.stream import Callback

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def compose(*decorators: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Several click options as one decorator (applied in the order given)."""

    def apply(command: Any) -> Any:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply


def emit(data: Any, as_json: bool, lines: Sequence[str] = ()) -> None:
    if as_json:
        import json

        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        for line in lines:
            click.echo(line)


def human_size(size: int) -> str:
    """A size for people.

    >>> human_size(1536)
    '1.5 KiB'
    """
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


class _Bar:
    """A click progress bar driven through the library's callback protocol."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None

    def set_size(self, size: int | None) -> None:
        if self.bar is None and size:
            self.bar = click.progressbar(length=size, label=self.label, file=sys.stderr)
            self.bar.__enter__()

    def relative_update(self, inc: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(inc)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@contextmanager
def progress(ctx: click.Context, label: str) -> Iterator[Callback]:
    if ctx.obj.quiet or not sys.stderr.isatty():
        from ..io.stream import NoProgress

        yield NoProgress()
        return
    bar = _Bar(label)
    try:
        yield bar
    finally:
        bar.close()
