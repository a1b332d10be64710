"""What the commands print: data as text or JSON, and sizes and counts for people
(progress bars: ``progress.py``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click

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


def files(count: int, width: int = 0) -> str:
    """``count`` files; in a column (``width`` digits), padded to keep its place.

    >>> files(1), files(3), files(1, width=4)
    ('1 file', '3 files', '   1 file ')
    """
    word = "file" if count == 1 else "files"
    return f"{count:>{width}} {word:<5}" if width else f"{count} {word}"


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
