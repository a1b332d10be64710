"""The alias commands: alias set, list, history, rollback, rm."""

from __future__ import annotations

from datetime import datetime

import click

from .app import cli
from .output import emit, json_option

reason_option = click.option("--reason", default=None, help="Why: recorded in the journal.")
as_of_option = click.option(
    "--as-of", "as_of", default=None, metavar="TIME",
    help="ISO 8601 time (UTC unless it says): what the aliases were then.",
)  # fmt: skip


def parse_as_of(text: str | None) -> datetime | None:
    from ..model.alias import parse_time

    return None if text is None else parse_time(text)


@cli.group()
def alias() -> None:
    """Aliases: names for versions that move (models/bert@prod), with a journal."""


@alias.command("set")
@click.argument("target", metavar="NAME@ALIAS")
@click.argument("version")
@reason_option
@json_option
@click.pass_context
def alias_set(
    ctx: click.Context, target: str, version: str, reason: str | None, as_json: bool
) -> None:
    """Point NAME@ALIAS at VERSION (MAJOR.MINOR, or partial: 1 is the newest 1.x).

    \b
    Example:
      assetstore alias set models/bert@prod 1.2 --reason "passed eval"
    """
    move = ctx.obj.store().aliases.set(target, version, reason=reason)
    emit(move.to_dict(), as_json, [f"{move.name}@{move.alias} {move.name}:{move.version}"])


@alias.command("list")
@click.argument("name")
@as_of_option
@json_option
@click.pass_context
def alias_list(ctx: click.Context, name: str, as_of: str | None, as_json: bool) -> None:
    """The aliases of NAME and their versions.

    \b
    Example:
      assetstore alias list models/bert --as-of 2026-12-01
    """
    values = ctx.obj.store().aliases.values(name, as_of=parse_as_of(as_of))
    emit([v.to_dict() for v in values], as_json, [f"{v.alias} {v.version}" for v in values])


@alias.command("history")
@click.argument("target", metavar="NAME@ALIAS")
@json_option
@click.pass_context
def alias_history(ctx: click.Context, target: str, as_json: bool) -> None:
    """Every move of NAME@ALIAS, newest first (the journal is never rewritten).

    \b
    Example:
      assetstore alias history models/bert@prod --json
    """
    moves = ctx.obj.store().aliases.history(target)
    lines = [
        f"{m.number:>4}  {m.at.isoformat(timespec='seconds')}  {m.action:<8}  "
        f"{m.version or '-'} (was {m.previous or '-'})  {m.by}"
        + (f"  {m.reason}" if m.reason else "")
        for m in moves
    ]
    emit([m.to_dict() for m in moves], as_json, lines)


@alias.command("rollback")
@click.argument("target", metavar="NAME@ALIAS")
@reason_option
@json_option
@click.pass_context
def alias_rollback(ctx: click.Context, target: str, reason: str | None, as_json: bool) -> None:
    """Move NAME@ALIAS back to the value it had before its last move.

    \b
    Example:
      assetstore alias rollback models/bert@prod --reason "latency regression"
    """
    move = ctx.obj.store().aliases.rollback(target, reason=reason)
    emit(move.to_dict(), as_json, [f"{move.name}@{move.alias} {move.name}:{move.version}"])


@alias.command("rm")
@click.argument("target", metavar="NAME@ALIAS")
@reason_option
@json_option
@click.pass_context
def alias_rm(ctx: click.Context, target: str, reason: str | None, as_json: bool) -> None:
    """Remove NAME@ALIAS (its history stays: alias history still shows every move).

    \b
    Example:
      assetstore alias rm models/bert@canary
    """
    move = ctx.obj.store().aliases.remove(target, reason=reason)
    line = f"removed {move.name}@{move.alias} (was {move.name}:{move.previous})"
    emit(move.to_dict(), as_json, [line])
