"""Keeping a store in order: repair, and the configuration (config show, config check)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .app import cli
from .output import emit, json_option

if TYPE_CHECKING:
    from ..repository.repair import Repair


@cli.command()
@click.option(
    "--older-than",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Reclaim reservations older than this (default: the reservation timeout).",
)
@click.option("--dry-run", is_flag=True, help="Only list what would be reclaimed.")
@json_option
@click.pass_context
def repair(ctx: click.Context, older_than: float | None, dry_run: bool, as_json: bool) -> None:
    """Reclaim version reservations left by pushes that died, so their version numbers
    can be pushed again. A reservation is reclaimed when its pusher ran on this host and
    is gone, or when it is older than --older-than; others are listed and kept.

    \b
    Example:
      assetstore repair --older-than 3600
    """
    repairs = ctx.obj.store().repair(older_than=older_than, dry_run=dry_run)
    data = {"reservations": [r.to_dict() for r in repairs], "dry_run": dry_run}
    emit(data, as_json, repair_lines(repairs))
    fail_if_any(repairs, "repair")


def repair_lines(repairs: list[Repair]) -> list[str]:
    return [
        f"{'reclaimed' if r.reclaimed else 'failed' if r.error else 'kept'} "
        f"{r.reservation.spec}: {r.reservation.describe()}"
        + (f" ({r.reason})" if r.reason else "")
        + (f": {r.error}" if r.error else "")
        for r in repairs
    ]


def fail_if_any(repairs: list[Repair], command: str) -> None:
    """The others were done (and said so): fail as the first failure did."""
    failed = [r for r in repairs if r.error is not None]
    if failed:
        first = failed[0].error
        assert first is not None
        raise type(first)(
            f"{command} could not reclaim {', '.join(r.reservation.spec for r in failed)}: {first}"
        )


@cli.group()
def config() -> None:
    """Inspect the effective configuration."""


@config.command("show")
@json_option
@click.pass_context
def config_show(ctx: click.Context, as_json: bool) -> None:
    """Show every effective setting and where it came from; secrets are masked.

    \b
    Example:
      assetstore config show --json
    """
    rows = ctx.obj.store().settings.describe()
    width = max(len(row[0]) for row in rows)
    lines = [f"{key:<{width}}  {value}  ({source})" for key, value, source in rows]
    emit({key: {"value": value, "source": source} for key, value, source in rows}, as_json, lines)


@config.command("check")
@json_option
@click.pass_context
def config_check(ctx: click.Context, as_json: bool) -> None:
    """Connect to the backend and report what works: whether the bucket exists, and
    whether listing, writing, reading and deleting succeed, and whether the store
    refuses a second create-if-absent write (one small probe object is written under
    PREFIX/.assetstore-check/ and deleted). Secrets are never shown.

    Exits with 7 when a check fails.

    \b
    Example:
      assetstore config check --json
    """
    from ..errors import BackendError
    from ..repository.check import check_backend

    report = check_backend(ctx.obj.store().remote)
    emit(report.to_dict(), as_json, report.lines())
    if not report.ok:
        raise BackendError(f"config check failed: {', '.join(report.failed)} (see above)")
