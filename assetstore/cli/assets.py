"""Commands on versions: push, pull, export, list, versions, info, url, copy."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from .aliases import as_of_option, parse_as_of
from .app import cli
from .complete import complete_spec
from .output import compose, emit, files, human_size, json_option
from .progress import progress
from .release import fail_together, requirements_option, specs_given

if TYPE_CHECKING:
    from ..listing import VersionInfo
    from ..transfer.plan import PushPlan


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.argument("target")
@click.option("--bump", type=click.Choice(["minor", "major"]), default="minor", show_default=True)
@click.option("--meta", multiple=True, metavar="KEY=VALUE", help="User metadata (repeatable).")
@click.option("--exclude", multiple=True, metavar="PATTERN",
              help="Leave out what matches (gitignore syntax; repeatable).")  # fmt: skip
@click.option("--no-default-excludes", "default_excludes", is_flag=True, flag_value=False,
              default=True, help="Keep .git/, __pycache__/, *.pyc, .DS_Store in.")  # fmt: skip
@click.option("--force-new", is_flag=True,
              help="Make a new version even if nothing changed since the newest.")  # fmt: skip
@click.option("--allow-kind-change", is_flag=True,
              help="Let a file asset become a directory, or back.")  # fmt: skip
@click.option("--pack/--no-pack", default=None,
              help="Put small files in packs, or never (default: ASSETSTORE_PACK, when "
                   "ASSETSTORE_PACK_MIN_FILES or more are sent).")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="List what would be sent and left out.")
@click.option(
    "--reclaim-after",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Reclaim the version's reservation if a dead push left it this long ago.",
)
@click.option("--expires-in", default=None, metavar="DURATION",
              help="gc deletes the version this long after the push (90d, 12h, 30m).")  # fmt: skip
@json_option
@click.pass_context
def push(
    ctx: click.Context, path: Path, target: str, bump: str, meta: tuple[str, ...],
    exclude: tuple[str, ...], default_excludes: bool, force_new: bool, allow_kind_change: bool,
    pack: bool | None, dry_run: bool, reclaim_after: float | None, expires_in: str | None,
    as_json: bool,
) -> None:  # fmt: skip
    """Push PATH (a file or a directory tree) as TARGET: NAME or NAME:MAJOR.MINOR.

    Prints the pushed spec. The first push of a name is 0.0; later pushes bump the
    minor version (--bump major: the next major). An unpinned push of what the newest
    version already holds (files and metadata) makes no version: it prints that one.
    A tree's .assetstoreignore (gitignore syntax) and --exclude leave files out. The
    small files of a large tree go up in packs (tar files; --no-pack: one object each).

    \b
    Examples:
      assetstore push ./bert models/bert --exclude '*.log'
      assetstore push model.bin models/clf:2.0 --meta commit=abc123
    """
    from ..model.lifecycle import parse_duration

    store = ctx.obj.store()
    expiry = None if expires_in is None else parse_duration(expires_in)
    plan = store.plan_push(
        path, target, bump=bump, metadata=_parse_meta(meta), exclude=exclude,
        default_excludes=default_excludes, allow_kind_change=allow_kind_change, pack=pack,
    )  # fmt: skip
    if dry_run:
        emit(plan.to_dict(), as_json, _plan_lines(plan, force_new))
        return
    if plan.unchanged is not None and not force_new and not ctx.obj.quiet:
        click.echo(f"assetstore: {plan.unchanged.spec} already holds these files and metadata: "
                   "no new version (--force-new makes one)", err=True)  # fmt: skip
    with progress(ctx, plan.name, commits=True) as callback:
        manifest = store.push_planned(
            plan, force_new=force_new, callback=callback, reclaim_after=reclaim_after,
            expires_in=expiry,
        )  # fmt: skip
    emit({"spec": manifest.spec, **manifest.to_dict()}, as_json, [manifest.spec])


def _plan_lines(plan: PushPlan, force_new: bool) -> list[str]:
    if plan.unchanged is not None and not force_new:
        return [f"unchanged: {plan.unchanged.spec} already holds these files; would push nothing"]
    reused, packed = set(plan.reused), plan.packed
    packs = f" ({len(packed)} in packs)" if packed else ""
    return [
        f"would push {plan.spec}: {files(len(plan.files))}, {human_size(plan.total_bytes)}; "
        f"upload {human_size(plan.upload_bytes)}{packs}, reuse {len(plan.reused)} unchanged "
        f"file(s), skip {len(plan.skipped)}",
        *(f"{'reuse' if f.path in reused else 'pack' if f.path in packed else 'send'}  "
          f"{f.path}  {human_size(f.size)}" for f in plan.files),
        *(f"skip  {path}" for path in plan.skipped),
    ]  # fmt: skip


def _parse_meta(pairs: tuple[str, ...]) -> dict[str, str]:
    metadata = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--meta")
        metadata[key] = value
    return metadata


patterns_options = compose(
    click.option("--include", multiple=True, metavar="PATTERN",
                 help="Only files whose path matches (glob; a trailing / is a folder)."),
    click.option("--exclude", multiple=True, metavar="PATTERN",
                 help="Leave out files whose path matches (glob; repeatable)."),
)  # fmt: skip


@cli.command()
@click.argument("specs", nargs=-1, metavar="SPEC...", shell_complete=complete_spec)
@requirements_option
@click.option("--to", "to", type=click.Path(path_type=Path), metavar="DIR",
              help="Fill DIR as an assets dir (a deploy artifact).")  # fmt: skip
@click.option("--force", is_flag=True, help="Download again, replacing the cached copy.")
@patterns_options
@json_option
@click.pass_context
def pull(
    ctx: click.Context, specs: tuple[str, ...], requirements: Path | None, to: Path | None,
    force: bool, include: tuple[str, ...], exclude: tuple[str, ...], as_json: bool,
) -> None:  # fmt: skip
    """Download each SPEC if needed and print its local path, one per line in order.
    Several versions are fetched at once; one that fails fails the command after
    the others finish. With --include/--exclude, only the files they match (a partial
    version, which a later pull without them completes).

    \b
    Examples:
      assetstore pull models/bert:1.2
      cat "$(assetstore pull 'models/bert:1.2[vocab.txt]')"
      assetstore pull models/llama:3 --include '*.json' --include 'tokenizer/'
      assetstore pull models/bert vocab/en:1 --to ./image/assets   # then serve it read-only
    """
    wanted = specs_given(specs, requirements)
    store = ctx.obj.store()
    if to is not None:
        store = store.with_assets_dir(to)
    if len(wanted) == 1:
        with progress(ctx, wanted[0]) as callback:
            path = store.get(wanted[0], force=force, callback=callback, include=include,
                             exclude=exclude)  # fmt: skip
        emit({"path": str(path)}, as_json, [str(path)])
        return
    from ..transfer.many import get_many

    with progress(ctx, f"{len(wanted)} assets") as callback:
        found = get_many(store.settings, type(store), wanted, force=force, callback=callback,
                         include=include, exclude=exclude)  # fmt: skip
    done = [(spec, p) for spec, p in zip(wanted, found, strict=True) if isinstance(p, Path)]
    emit([{"spec": s, "path": str(p)} for s, p in done], as_json, [str(p) for _s, p in done])
    failed = {s: e for s, e in zip(wanted, found, strict=True) if not isinstance(e, Path)}
    for spec, exc in failed.items():
        click.echo(f"assetstore: error: {spec}: {exc}", err=True)
    fail_together(failed, f"{len(failed)} of {len(wanted)} specs failed")


@cli.command()
@click.argument("spec", shell_complete=complete_spec)
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace files in DIRECTORY that differ.")
@patterns_options
@json_option
@click.pass_context
def export(
    ctx: click.Context, spec: str, directory: Path, force: bool, include: tuple[str, ...],
    exclude: tuple[str, ...], as_json: bool,
) -> None:  # fmt: skip
    """Copy the files of SPEC into DIRECTORY as a plain tree (no .assetstore/, no
    version folders), downloading it first if need be; each file is verified. Files
    there that differ are refused (exit 8, nothing written) unless --force.

    \b
    Example:
      assetstore export models/bert:1.2 ./bert
    """
    report = ctx.obj.store().export(spec, directory, force=force, include=include,
                                    exclude=exclude)  # fmt: skip
    line = (f"exported {report.spec} to {report.target}: {len(report.written)} file(s) "
            f"written, {len(report.unchanged)} unchanged")  # fmt: skip
    emit(report.to_dict(), as_json, [line])


long_option = click.option(
    "--long", "-l", "long", is_flag=True, help="Size, files, pushed at and by, aliases, yanks."
)


@cli.command("list")
@long_option
@json_option
@click.pass_context
def list_(ctx: click.Context, long: bool, as_json: bool) -> None:
    """List asset names, one per line (--long: with versions, latest and its size).

    \b
    Example:
      assetstore list --long --json
    """
    store = ctx.obj.store()
    if not long:
        names = store.names()
        emit(names, as_json, names)
        return
    from ..listing import describe_names

    found = describe_names(store)
    lines = [f"{n.name}  {n.versions} version{'s' if n.versions != 1 else ''}  latest "
             f"{n.latest}  {human_size(n.size)}" for n in found]  # fmt: skip
    emit([n.to_dict() for n in found], as_json, lines)


@cli.command()
@click.argument("name", shell_complete=complete_spec)
@long_option
@json_option
@click.pass_context
def versions(ctx: click.Context, name: str, long: bool, as_json: bool) -> None:
    """List the versions of NAME, newest first (--long: with size, files, pushed at
    and by, aliases and yanks).

    \b
    Example:
      assetstore versions models/bert --long
    """
    store = ctx.obj.store()
    if long:
        from ..listing import describe_versions

        described = describe_versions(store, name)
        emit([v.to_dict() for v in described], as_json, [_long_line(v) for v in described])
        return
    found = store.versions(name)
    yanks = {} if store.settings.offline else store.lifecycle.yanks(name)
    lines = [f"{v}  yanked: {yanks[v].reason or '(no reason given)'}" if v in yanks else str(v)
             for v in found]  # fmt: skip
    emit([str(v) for v in found], as_json, lines)


def _long_line(info: VersionInfo) -> str:
    marks = [f"@{alias}" for alias in info.aliases]
    if info.yanked is not None:
        marks.append(f"yanked: {info.yanked or '(no reason given)'}")
    return "  ".join([
        f"{info.version!s:<8}", f"{human_size(info.size):>10}", files(info.files, width=6),
        info.pushed_at, info.pushed_by, *marks,
    ])  # fmt: skip


@cli.command()
@click.argument("spec", shell_complete=complete_spec)
@as_of_option
@json_option
@click.pass_context
def info(ctx: click.Context, spec: str, as_of: str | None, as_json: bool) -> None:
    """Show what SPEC resolves to: version, kind, size, pusher, metadata, files.
    With --as-of, an alias SPEC resolves to what the alias was at that time.

    \b
    Example:
      assetstore info models/bert:1 --json
    """
    store = ctx.obj.store()
    manifest = store.info(spec, as_of=parse_as_of(as_of))
    offline = store.settings.offline
    yank = None if offline else store.lifecycle.yank_of(manifest.name, manifest.version)
    lines = [
        f"{manifest.spec}  {manifest.kind}  {files(len(manifest.files))}  "
        f"{human_size(manifest.total_size)}",
        f"pushed {manifest.pushed_at} by {manifest.pushed_by}",
        *(f"meta {k}={v}" for k, v in sorted(manifest.metadata.items())),
        *([f"yanked {yank.at.isoformat()} by {yank.by}: {yank.reason or '(no reason given)'}"]
          if yank else []),
        *(f"  {e.sha256[7:19]}  {e.size:>12}  {e.path}" for e in manifest.files),
    ]  # fmt: skip
    yanked = None if yank is None else {"reason": yank.reason, "at": yank.at.isoformat(),
                                        "by": yank.by}  # fmt: skip
    emit(manifest.to_dict() | {"yanked": yanked}, as_json, lines)


@cli.command()
@click.argument("spec", shell_complete=complete_spec)
@click.option("--expires", type=click.IntRange(min=0), default=None,
              help="Seconds the URL stays valid [default: ASSETSTORE_URL_EXPIRES, 3600]; "
                   "0 prints the plain, unsigned URL.")  # fmt: skip
@click.pass_context
def url(ctx: click.Context, spec: str, expires: int | None) -> None:
    """Print a URL for a file of SPEC: presigned where the backend signs URLs, or under
    ASSETSTORE_PUBLIC_URL_BASE (a CDN) when that is set.

    \b
    Example:
      assetstore url 'models/bert:1.2[vocab.txt]' --expires 600
    """
    click.echo(ctx.obj.store().url(spec, expires=expires))


@cli.command()
@click.argument("spec", shell_complete=complete_spec)
@click.option("--from", "source", required=True, help="Named store to copy from.")
@click.option("--to", "target", required=True, help="Named store to copy to.")
@json_option
@click.pass_context
def copy(ctx: click.Context, spec: str, source: str, target: str, as_json: bool) -> None:
    """Copy the version SPEC resolves to from one named store to another, keeping its
    version number and metadata; checksums are verified. Prints the copied spec.

    \b
    Example:
      assetstore copy models/bert:1.2 --from staging --to prod
    """
    state = ctx.obj
    stores = [state.store_named(name) for name in (source, target)]
    with progress(ctx, spec, commits=True) as callback:
        manifest = stores[0].copy_to(stores[1], spec, callback=callback)
    emit({"spec": manifest.spec, "from": source, "to": target}, as_json, [manifest.spec])
