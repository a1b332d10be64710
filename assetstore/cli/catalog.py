"""The catalog commands: catalog sync, upgrade, history."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from .app import cli
from .output import emit, human_size, json_option

if TYPE_CHECKING:
    from ..model.lifecycle import Mark


@cli.group()
def catalog() -> None:
    """The SQL catalog of pushed versions."""


@catalog.command("sync")
@click.option("--forget-missing", is_flag=True, help="Delete rows whose manifest is gone.")
@json_option
@click.pass_context
def catalog_sync(ctx: click.Context, forget_missing: bool, as_json: bool) -> None:
    """Reconcile the catalog with the bucket's manifests (the source of truth): add
    versions it lacks, flag rows whose manifest is gone (--forget-missing deletes them).

    \b
    Example:
      assetstore catalog sync --json
    """
    report = ctx.obj.store().sync_catalog(forget_missing=forget_missing)
    changes = [
        *(f"skipped {s}: {why}" for s, why in report.malformed.items()),
        *(f"added {s}" for s in report.added),
        *(f"flagged {s}: its manifest is gone from the bucket" for s in report.flagged_missing),
        *(f"restored {s}" for s in report.restored),
        *(f"forgot {s}" for s in report.forgotten),
    ]
    summary = (
        f"{len(report.added)} added, {len(report.flagged_missing)} flagged missing, "
        f"{len(report.restored)} restored, {len(report.forgotten)} forgotten, "
        f"{report.unchanged} unchanged"
        + (f", {len(report.malformed)} malformed (skipped)" if report.malformed else "")
        + (f", {report.alias_moves_added} alias moves indexed" if report.alias_moves_added else "")
        + (f", {report.lifecycle_events_added} yanks and deletions indexed"
           if report.lifecycle_events_added else "")
    )  # fmt: skip
    emit(report.to_dict(), as_json, [*changes, summary])
    if report.malformed:
        from ..errors import IntegrityError

        raise IntegrityError(
            f"catalog sync skipped {len(report.malformed)} malformed manifest(s): "
            + ", ".join(report.malformed)
        )


@catalog.command("upgrade")
@json_option
@click.pass_context
def catalog_upgrade(ctx: click.Context, as_json: bool) -> None:
    """Migrate the catalog's schema to this version of assetstore, in place, keeping
    every row (opening the catalog does it too; this says what happened).

    \b
    Example:
      assetstore catalog upgrade
    """
    found = ctx.obj.store().catalog
    before, now = found.upgraded_from, found.schema_version
    line = (
        f"created schema v{now}" if before is None
        else f"schema v{now} (was v{before})" if before != now
        else f"schema v{now}: up to date"
    )  # fmt: skip
    emit({"from": before, "to": now}, as_json, [line])


@catalog.command("history")
@click.argument("name", required=False)
@json_option
@click.pass_context
def catalog_history(ctx: click.Context, name: str | None, as_json: bool) -> None:
    """Every version the catalog has indexed: who pushed it, when, how big.

    \b
    Example:
      assetstore catalog history models/bert
    """
    store = ctx.obj.store()
    events: dict[str, list[Mark]] = {}
    for mark in store.lifecycle.events(name):
        events.setdefault(mark.spec, []).append(mark)
    lines, data = [], []
    for e in store.history(name):
        spec = f"{e.name}:{e.version}"
        lines.append(
            f"{spec}  {e.pushed_at.isoformat()}  {e.pushed_by}  {human_size(e.total_size)}"
            + (f"  [manifest gone since {e.missing_since:%Y-%m-%d}]" if e.missing_since else "")
        )
        lines += _event_lines(events.get(spec, []))
        data.append(e.to_dict() | {"events": [m.to_dict() for m in events.pop(spec, [])]})
    for spec, marks in events.items():  # versions the catalog knows only as deleted
        lines += [f"{spec}  (its push is not in the catalog)", *_event_lines(marks)]
        name_of, _, version = spec.rpartition(":")
        data.append({"name": name_of, "version": version, "events": [m.to_dict() for m in marks]})
    emit(data, as_json, lines)


def _event_lines(marks: list[Mark]) -> list[str]:
    return [f"    {_PAST[m.kind]} {m.at.isoformat()} by {m.by}"
            + (f": {m.reason}" if m.reason else "") for m in marks]  # fmt: skip


_PAST = {"yank": "yanked", "unyank": "unyanked", "delete": "deleted"}
