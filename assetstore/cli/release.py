"""The release commands: lock (and lock --check, the CI gate) and sync."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import AssetStoreError, IntegrityError, StaleLockError
from .app import cli
from .output import emit, json_option

DEFAULT = "assets.lock"
requirements_option = click.option(
    "-r", "--requirements", "requirements", type=click.Path(path_type=Path), default=None,
    help="Read specs from FILE, one per line ('#' comments and blank lines ignored).",
)  # fmt: skip


def specs_given(specs: tuple[str, ...], requirements: Path | None) -> list[str]:
    from ..release.lockfile import read_specs

    found = [*specs, *(read_specs(requirements) if requirements else [])]
    if not found:
        raise click.UsageError("give at least one SPEC, or -r FILE")
    return found


@cli.command()
@click.argument("specs", nargs=-1)
@requirements_option
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path(DEFAULT),
              show_default=True,
              help="The lockfile to write (or, with --check, compare).")  # fmt: skip
@click.option("--check", is_flag=True, help="Write nothing; exit 10 if the lockfile is stale.")
@click.option("--register", "register", default=None, metavar="SERVICE",
              help="Also store the lockfile in the bucket as SERVICE's: what it pins is kept "
                   "by delete, retention and gc.")  # fmt: skip
@click.option("--unregister", "unregister", default=None, metavar="SERVICE",
              help="Remove SERVICE's registered lockfile (nothing else).")  # fmt: skip
@click.option("--registered", is_flag=True, help="List the registered lockfiles and their pins.")
@json_option
@click.pass_context
def lock(
    ctx: click.Context, specs: tuple[str, ...], requirements: Path | None, output: Path,
    check: bool, register: str | None, unregister: str | None, registered: bool,
    as_json: bool,
) -> None:  # fmt: skip
    """Resolve each SPEC (aliases, partial versions, sub-paths) to an exact version now
    and write a lockfile that pins it, with the sha256 of its manifest.

    \b
    Examples:
      assetstore lock models/bert@prod vocab/en:1 -o assets.lock
      assetstore lock models/bert@prod --register search-api
      assetstore lock --registered
    """
    if unregister or registered:
        if specs or requirements or check or register:
            raise click.UsageError("--unregister and --registered take no SPEC or other option")
        _registrations(ctx, unregister, as_json)
        return
    from ..release.lockfile import dumps, load
    from ..release.locking import changes
    from ..release.locking import lock as resolve

    store = ctx.obj.store()
    entries = resolve(store, specs_given(specs, requirements))
    if not check:
        output.write_text(dumps(entries), encoding="utf-8")
        if register:
            store.lifecycle.register(register, output)
        click.echo(str(output) + (f" (registered for {register})" if register else ""))
        return
    stale = changes(load(output), entries)
    for line in stale:
        click.echo(line)
    if stale:
        raise StaleLockError(
            f"{output} is stale: {len(stale)} change(s); run 'assetstore lock' again"
        )


def _registrations(ctx: click.Context, unregister: str | None, as_json: bool) -> None:
    lifecycle = ctx.obj.store().lifecycle
    if unregister:
        lifecycle.unregister(unregister)
        click.echo(f"unregistered the lockfile of {unregister}")
        return
    found = lifecycle.registered()
    data = {service: [f"{e.name}:{e.version}" for e in pins] for service, pins in found.items()}
    lines = [
        f"{service}  {' '.join(specs) or '(nothing pinned)'}" for service, specs in data.items()
    ]
    emit(data, as_json, lines)


@cli.command()
@click.argument("lockfile", type=click.Path(path_type=Path), default=Path(DEFAULT))
@click.option("--to", "to", type=click.Path(path_type=Path), default=None,
              help="Install into this folder, not the assets dir (a deploy artifact).")  # fmt: skip
@click.option("--check", is_flag=True,
              help="No network: exit 0 when every locked version is in the assets dir and "
                   "verifies, 3 when one is missing, 5 when one does not verify.")  # fmt: skip
@json_option
@click.pass_context
def sync(ctx: click.Context, lockfile: Path, to: Path | None, check: bool, as_json: bool) -> None:
    """Install exactly what LOCKFILE pins (default: assets.lock). A version whose
    manifest in the bucket is no longer the one locked fails closed: exit 5, and
    nothing of it is installed. Prints one path per locked spec.

    \b
    Example:
      assetstore sync assets.lock --to ./image/assets
    """
    from ..release import locking
    from ..release.lockfile import load

    entries = load(lockfile)
    store = ctx.obj.store()  # --check: only the assets dir is read
    if to is not None:
        store = store.with_assets_dir(to)
    if check:
        wrong = locking.check(store, entries)
        emit(
            {spec: str(exc) for spec, exc in wrong.items()},
            as_json,
            [f"{spec}: {exc}" for spec, exc in wrong.items()],
        )
        fail_together(
            wrong, f"{len(wrong)} of {len(entries)} locked versions not ready in {store.cache.root}"
        )
        return
    result = locking.sync(store, entries)
    data = [{"spec": e.spec, "path": str(p)} for e, p in result.paths]
    emit(data, as_json, [str(p) for _e, p in result.paths])
    for spec, exc in result.failed.items():
        click.echo(f"assetstore: error: {spec}: {exc}", err=True)
    fail_together(result.failed, f"{len(result.failed)} of {len(entries)} locked specs failed")


def fail_together(wrong: dict[str, AssetStoreError], summary: str) -> None:
    """One closing error for several that were each reported: of their class when they
    share one, else an integrity failure if any is one, else the first's class."""
    if not wrong:
        return
    errors = list(wrong.values())
    kinds = {type(exc) for exc in errors}
    chosen = errors[0]
    if len(kinds) > 1:
        chosen = next((e for e in errors if isinstance(e, IntegrityError)), chosen)
    raise type(chosen)(f"{summary}: {', '.join(wrong)}")
