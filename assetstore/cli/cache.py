"""Commands on the assets dir: cache ls, cache rm, prune, verify."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..errors import AssetNotFoundError, ConfigError
from .app import cli
from .complete import complete_spec
from .output import emit, files, human_size, json_option

if TYPE_CHECKING:
    from ..cache.report import CachedVersion


@cli.group()
def cache() -> None:
    """The assets dir: what it holds (cache ls) and removing versions from it (cache rm)."""


@cache.command("ls")
@json_option
@click.pass_context
def cache_ls(ctx: click.Context, as_json: bool) -> None:
    """List every cached version: size on disk, files, last access, and its state —
    complete, partial (pulled with --include/--exclude) or in-progress (being pulled)."""
    found = ctx.obj.store().cached_versions()
    total = sum(v.size for v in found)
    lines = [_row(v) for v in found]
    lines.append(f"{len(found)} version(s), {human_size(total)} in {ctx.obj.store().cache.root}")
    emit([v.to_dict() for v in found], as_json, lines)


def _row(item: CachedVersion) -> str:
    when = "-" if item.last_access is None else item.last_access.strftime("%Y-%m-%d %H:%M")
    return (f"{item.spec:<32} {human_size(item.size):>10} {files(item.files, width=7)}  {when}  "
            f"{item.state}")  # fmt: skip


@cache.command("rm")
@click.argument("specs", nargs=-1, required=True, metavar="SPEC...", shell_complete=complete_spec)
@json_option
@click.pass_context
def cache_rm(ctx: click.Context, specs: tuple[str, ...], as_json: bool) -> None:
    """Remove cached versions: NAME (every cached version of it), NAME:1 or NAME:1.2.
    A version being pulled is kept (exit 8). The bucket is not touched.

    \b
    Example:
      assetstore cache rm models/bert:1.2 vocab/en
    """
    removed = ctx.obj.store().remove_cached(list(specs))
    lines = [f"removed {v.spec} ({human_size(v.size)})" for v in removed]
    emit([v.to_dict() for v in removed], as_json, lines)


@cli.command()
@click.argument("specs", nargs=-1, shell_complete=complete_spec)
@json_option
@click.pass_context
def verify(ctx: click.Context, specs: tuple[str, ...], as_json: bool) -> None:
    """Re-hash cached versions (all, or those SPECS match) against their manifests; of
    a partial version, the files it holds.

    Exits with 5 when any copy is corrupt; 'assetstore pull --force SPEC' repairs it.
    Nothing to verify is no pass: an empty assets dir exits with 3, a missing one with 6.

    \b
    Example:
      assetstore verify models/bert
    """
    store = ctx.obj.store()
    root = store.settings.assets_dir
    if not root.is_dir():
        raise ConfigError(f"the assets dir {root} does not exist: check --assets-dir or "
                          "ASSETSTORE_ASSETS_DIR")  # fmt: skip
    results = store.verify(list(specs) or None)
    if not results:
        raise AssetNotFoundError(f"nothing to verify: the assets dir {root} holds no version")
    data = [{"spec": r.spec, "ok": r.ok, "problems": list(r.problems)} for r in results]
    lines = [f"{r.spec}: " + ("ok" if r.ok else "; ".join(r.problems)) for r in results]
    emit(data, as_json, lines)
    bad = [r.spec for r in results if not r.ok]
    if bad:
        from ..errors import IntegrityError

        raise IntegrityError(f"corrupt in the cache: {', '.join(bad)}; repair with pull --force")


def _size(_ctx: click.Context, _param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    from ..model.size import parse_size

    try:
        return parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.command()
@click.argument("names", nargs=-1, shell_complete=complete_spec)
@click.option(
    "--keep", type=click.IntRange(min=0), default=None,
    help="Newest versions of each name to keep (1; all with --deleted or --max-size).",
)  # fmt: skip
@click.option("--deleted", is_flag=True,
              help="Remove the cached versions the bucket no longer has (deleted).")  # fmt: skip
@click.option(
    "--max-size", callback=_size, metavar="SIZE",
    help="Then evict least recently used versions until the cache fits (10GB, 500MiB).",
)  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Show what would be removed.")
@json_option
@click.pass_context
def prune(
    ctx: click.Context, names: tuple[str, ...], keep: int | None, deleted: bool,
    max_size: int | None, dry_run: bool, as_json: bool,
) -> None:  # fmt: skip
    """Free cache space: remove all but the newest --keep cached versions of each
    asset (or of NAMES); with --deleted, the versions deleted from the bucket; with
    --max-size, the least recently used versions until the cache fits (each of these
    alone, unless --keep is given too). Versions being pulled are kept.

    \b
    Examples:
      assetstore prune --keep 2 --dry-run
      assetstore prune --deleted
      assetstore prune --max-size 10GB
    """
    store = ctx.obj.store()
    keep = keep if keep is not None or deleted or max_size is not None else 1
    plan = store.plan_prune(keep=keep, names=list(names) or None, deleted=deleted,
                            max_size=max_size)  # fmt: skip
    done = plan if dry_run else store.prune(plan)
    verb = "would remove" if dry_run else "removed"
    lines = [f"{verb} {i.name}:{i.version} ({human_size(i.size)})" for i in done.remove]
    emit({**done.to_dict(), "dry_run": dry_run}, as_json, lines)
