"""The lifecycle commands: yank, unyank, delete (one version, or a retention rule) and
gc. Registering lockfiles is ``lock --register`` (release.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .admin import fail_if_any, repair_lines
from .app import cli
from .output import emit, human_size, json_option

if TYPE_CHECKING:
    from ..lifecycle.deleting import Report

reason_option = click.option("--reason", default=None, help="Why: recorded in the bucket.")
dry_run_option = click.option("--dry-run", is_flag=True, help="Show what would go; change nothing.")


@cli.command()
@click.argument("spec", metavar="NAME:MAJOR.MINOR")
@reason_option
@json_option
@click.pass_context
def yank(ctx: click.Context, spec: str, reason: str | None, as_json: bool) -> None:
    """Yank one version: NAME and NAME:MAJOR skip it, lock never picks it, and pinned
    exactly it is still served (with a warning naming the reason).

    \b
    Example:
      assetstore yank models/bert:1.3 --reason "tokenizer mismatch"
    """
    mark = ctx.obj.store().lifecycle.yank(spec, reason=reason)
    emit(mark.to_dict(), as_json, [f"yanked {mark.spec}" + (f": {reason}" if reason else "")])


@cli.command()
@click.argument("spec", metavar="NAME:MAJOR.MINOR")
@json_option
@click.pass_context
def unyank(ctx: click.Context, spec: str, as_json: bool) -> None:
    """Undo a yank: the version is offered again.

    \b
    Example:
      assetstore unyank models/bert:1.3
    """
    mark = ctx.obj.store().lifecycle.unyank(spec)
    line = f"unyanked {mark.spec}" if mark else f"{spec} was not yanked"
    emit(mark.to_dict() if mark else None, as_json, [line])


@cli.command()
@click.argument("spec", metavar="NAME:MAJOR.MINOR | NAME")
@click.option("--keep-last", type=click.IntRange(min=1), default=None, metavar="N",
              help="Retention: delete the versions of NAME beyond the newest N.")  # fmt: skip
@click.option("--older-than", default=None, metavar="DURATION",
              help="With --keep-last: only those pushed longer ago (90d, 12h, 30m).")  # fmt: skip
@click.option("--force", is_flag=True, help="Delete even though an alias points at it.")
@reason_option
@dry_run_option
@json_option
@click.pass_context
def delete(
    ctx: click.Context, spec: str, keep_last: int | None, older_than: str | None, force: bool,
    reason: str | None, dry_run: bool, as_json: bool,
) -> None:  # fmt: skip
    """Delete one version, or with --keep-last the versions of NAME a retention rule
    leaves out. What later versions reuse stays; a version an alias points at or a
    registered lockfile pins is refused (exit 9).

    \b
    Examples:
      assetstore delete models/bert:0.3 --dry-run
      assetstore delete models/bert --keep-last 5 --older-than 90d
    """
    from ..model.lifecycle import parse_duration

    lifecycle = ctx.obj.store().lifecycle
    if keep_last is None:
        if older_than is not None:
            raise click.UsageError("--older-than needs --keep-last N")
        report = lifecycle.delete(spec, force=force, dry_run=dry_run, reason=reason)
    else:
        if force or reason:
            raise click.UsageError("--force and --reason are for one version, not --keep-last")
        duration = None if older_than is None else parse_duration(older_than)
        report = lifecycle.retain(spec, keep_last=keep_last, older_than=duration,
                                  dry_run=dry_run)  # fmt: skip
    emit(report.to_dict(), as_json, _lines(report))


@cli.command()
@dry_run_option
@json_option
@click.pass_context
def gc(ctx: click.Context, dry_run: bool, as_json: bool) -> None:
    """Delete expired versions nothing protects, then every object under the prefix
    that no committed version needs: leftovers of deletes, data of pushes that died,
    stale reservations. Safe while other hosts push and pull.

    \b
    Example (a nightly cron job):
      assetstore gc --json >> /var/log/assetstore-gc.jsonl
    """
    repairs, report = ctx.obj.store().lifecycle.gc(dry_run=dry_run)
    data = report.to_dict() | {"reservations": [r.to_dict() for r in repairs]}
    emit(data, as_json, repair_lines(repairs) + _lines(report))
    fail_if_any(repairs, "gc")


def _lines(report: Report) -> list[str]:
    would = report.dry_run
    lines = [f"{'would delete' if would else 'deleted'} {m.spec}" for m in report.deleted]
    lines += [f"kept {spec}: {why}" for spec, why in report.kept.items()]
    lines += [f"waiting: {why}" for why in report.deferred.values()]
    lines += [f"{'would remove' if would else 'removed'} {i.key} ({human_size(i.bytes)}): "
              f"{i.reason}" for i in report.items]  # fmt: skip
    lines.append(f"{len(report.items)} object(s), {human_size(report.bytes)}"
                 + (" would be freed" if would else " freed"))  # fmt: skip
    return lines
