"""The ``assetstore`` command. Thin: each command calls one library method; ``main``
maps exceptions to one-line messages and exit codes (see ``errors.EXIT_CODES``)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .errors import AssetStoreError
from .redact import database_url_secrets, is_secret_key, scrub, secret_values

if TYPE_CHECKING:
    from .hashing import Callback

log = logging.getLogger("assetstore")


class _State:
    def __init__(self, overrides: dict[str, Any], quiet: bool) -> None:
        self.overrides = overrides
        self.quiet = quiet
        self._store: Any = None

    def store(self) -> Any:
        if self._store is None:
            from .settings import Settings
            from .store import AssetStore

            settings = Settings.load(overrides=self.overrides, override_source="flag")
            _SECRETS.update(settings.secrets())
            self._store = AssetStore(settings)
        return self._store

    def store_named(self, name: str) -> Any:
        from .settings import Settings
        from .store import AssetStore

        overrides = {**self.overrides, "store": name}
        settings = Settings.load(overrides=overrides, override_source="flag")
        _SECRETS.update(settings.secrets())
        return AssetStore(settings)


def _emit(data: Any, as_json: bool, lines: Sequence[str] = ()) -> None:
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
def _progress(ctx: click.Context, label: str) -> Iterator[Callback]:
    state: _State = ctx.obj
    if state.quiet or not sys.stderr.isatty():
        from .hashing import NoProgress

        yield NoProgress()
        return
    bar = _Bar(label)
    try:
        yield bar
    finally:
        bar.close()


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--assets-dir", type=click.Path(path_type=Path), help="Local cache (assets dir).")
@click.option("--provider", help="Storage provider: s3, gcs, az, local (unset: pre-downloaded).")
@click.option("--bucket", help="Bucket, container, or folder for 'local'.")
@click.option("--prefix", help="Key prefix inside the bucket.")
@click.option("--catalog-url", help="SQLAlchemy URL of the catalog.")
@click.option("--config", type=click.Path(dir_okay=False), help="Config file with named backends.")
@click.option("--store", "--backend", "store", help="Act on this named store of the config file.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars, errors only.")
@click.option("--debug", is_flag=True, help="Log debug messages; show tracebacks.")
@click.version_option(package_name="assetstore")
@click.pass_context
def cli(ctx: click.Context, /, quiet: bool, debug: bool, **overrides: Any) -> None:
    """Versioned assets between an object store and a local cache.

    \b
    Configure with environment variables, for example:
      export ASSETSTORE_STORAGE_PROVIDER=local ASSETSTORE_STORAGE_BUCKET=./bucket
      assetstore push ./bert models/bert      # -> models/bert:0.0
      assetstore pull models/bert             # -> the local path
    """
    _setup_logging(debug=debug, quiet=quiet)
    ctx.obj = _State(overrides, quiet)


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.argument("target")
@click.option("--bump", type=click.Choice(["minor", "major"]), default="minor", show_default=True)
@click.option("--meta", multiple=True, metavar="KEY=VALUE", help="User metadata (repeatable).")
@click.option("--dry-run", is_flag=True, help="Show what would be sent; change nothing.")
@click.option(
    "--reclaim-after",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Reclaim the version's reservation if a dead push left it this long ago.",
)
@json_option
@click.pass_context
def push(
    ctx: click.Context, path: Path, target: str, bump: str, meta: tuple[str, ...],
    dry_run: bool, reclaim_after: float | None, as_json: bool,
) -> None:  # fmt: skip
    """Push PATH (a file or a directory tree) as TARGET: NAME or NAME:MAJOR.MINOR.

    Prints the pushed spec. The first push of a name is 0.0; later pushes bump the
    minor version (--bump major: the next major).

    \b
    Examples:
      assetstore push ./bert models/bert
      assetstore push model.bin models/clf:2.0 --meta commit=abc123
    """
    store = ctx.obj.store()
    metadata = _parse_meta(meta)
    if dry_run:
        plan = store.plan_push(path, target, bump=bump, metadata=metadata)
        lines = [
            f"would push {plan.spec}: {len(plan.files)} files, {human_size(plan.total_bytes)}; "
            f"upload {human_size(plan.upload_bytes)}, reuse {len(plan.reused)} unchanged file(s)"
        ]
        _emit(plan.to_dict(), as_json, lines)
        return
    with _progress(ctx, "push") as callback:
        manifest = store.push(
            path, target, bump=bump, metadata=metadata, callback=callback,
            reclaim_after=reclaim_after,
        )  # fmt: skip
    _emit({"spec": manifest.spec, **manifest.to_dict()}, as_json, [manifest.spec])


def _parse_meta(pairs: tuple[str, ...]) -> dict[str, str]:
    metadata = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--meta")
        metadata[key] = value
    return metadata


@cli.command()
@click.argument("spec")
@click.option("--to", "to", type=click.Path(path_type=Path), metavar="DIR",
              help="Fill DIR as an assets dir (a deploy artifact).")  # fmt: skip
@click.option("--force", is_flag=True, help="Download again, replacing the cached copy.")
@json_option
@click.pass_context
def pull(ctx: click.Context, spec: str, to: Path | None, force: bool, as_json: bool) -> None:
    """Download SPEC if needed and print its local path.

    \b
    Examples:
      assetstore pull models/bert:1.2
      cat "$(assetstore pull 'models/bert:1.2[vocab.txt]')"
      assetstore pull models/bert --to ./image/assets   # then serve it read-only
    """
    store = ctx.obj.store()
    if to is not None:
        store = store.with_assets_dir(to)
    with _progress(ctx, "pull") as callback:
        path = store.get(spec, force=force, callback=callback)
    _emit({"path": str(path)}, as_json, [str(path)])


@cli.command("list")
@json_option
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List asset names, one per line.

    \b
    Example:
      assetstore list --json
    """
    names = ctx.obj.store().names()
    _emit(names, as_json, names)


@cli.command()
@click.argument("name")
@json_option
@click.pass_context
def versions(ctx: click.Context, name: str, as_json: bool) -> None:
    """List the versions of NAME, newest first.

    \b
    Example:
      assetstore versions models/bert
    """
    found = [str(v) for v in ctx.obj.store().versions(name)]
    _emit(found, as_json, found)


@cli.command()
@click.argument("spec")
@json_option
@click.pass_context
def info(ctx: click.Context, spec: str, as_json: bool) -> None:
    """Show what SPEC resolves to: version, kind, size, pusher, metadata, files.

    \b
    Example:
      assetstore info models/bert:1 --json
    """
    manifest = ctx.obj.store().info(spec)
    lines = [
        f"{manifest.spec}  {manifest.kind}  {len(manifest.files)} files  "
        f"{human_size(manifest.total_size)}",
        f"pushed {manifest.pushed_at} by {manifest.pushed_by}",
        *(f"meta {k}={v}" for k, v in sorted(manifest.metadata.items())),
        *(f"  {e.sha256[7:19]}  {e.size:>12}  {e.path}" for e in manifest.files),
    ]
    _emit(manifest.to_dict(), as_json, lines)


@cli.command()
@click.argument("spec")
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
@click.argument("specs", nargs=-1)
@json_option
@click.pass_context
def verify(ctx: click.Context, specs: tuple[str, ...], as_json: bool) -> None:
    """Re-hash cached versions (all, or those SPECS match) against their manifests.

    Exits with 5 when any copy is corrupt; 'assetstore pull --force SPEC' repairs it.

    \b
    Example:
      assetstore verify models/bert
    """
    results = ctx.obj.store().verify(list(specs) or None)
    data = [{"spec": r.spec, "ok": r.ok, "problems": list(r.problems)} for r in results]
    lines = [f"{r.spec}: " + ("ok" if r.ok else "; ".join(r.problems)) for r in results]
    _emit(data, as_json, lines)
    bad = [r.spec for r in results if not r.ok]
    if bad:
        from .errors import IntegrityError

        raise IntegrityError(f"corrupt in the cache: {', '.join(bad)}; repair with pull --force")


@cli.command()
@click.argument("names", nargs=-1)
@click.option("--keep", type=click.IntRange(min=0), default=1, show_default=True,
              help="Newest versions of each name to keep.")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Show what would be removed.")
@json_option
@click.pass_context
def prune(
    ctx: click.Context, names: tuple[str, ...], keep: int, dry_run: bool, as_json: bool
) -> None:
    """Free cache space: remove all but the newest --keep cached versions of each
    asset (or of NAMES). Versions being pulled by another process are kept.

    \b
    Example:
      assetstore prune --keep 2 --dry-run
    """
    store = ctx.obj.store()
    plan = store.plan_prune(keep=keep, names=list(names) or None)
    done = plan if dry_run else store.prune(plan)
    verb = "would remove" if dry_run else "removed"
    lines = [f"{verb} {i.name}:{i.version} ({human_size(i.size)})" for i in done.remove]
    _emit({**done.to_dict(), "dry_run": dry_run}, as_json, lines)


@cli.command()
@click.argument("spec")
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
    state: _State = ctx.obj
    stores = [state.store_named(name) for name in (source, target)]
    with _progress(ctx, "copy") as callback:
        manifest = stores[0].copy_to(stores[1], spec, callback=callback)
    _emit({"spec": manifest.spec, "from": source, "to": target}, as_json, [manifest.spec])


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
    lines = [
        f"{'reclaimed' if r.reclaimed else 'failed' if r.error else 'kept'} "
        f"{r.reservation.spec}: {r.reservation.describe()}"
        + (f" ({r.reason})" if r.reason else "")
        + (f": {r.error}" if r.error else "")
        for r in repairs
    ]
    _emit({"reservations": [r.to_dict() for r in repairs], "dry_run": dry_run}, as_json, lines)
    failed = [r for r in repairs if r.error is not None]
    if failed:  # the others were done: say so, then fail as the first failure did
        first = failed[0].error
        assert first is not None
        raise type(first)(
            f"repair could not reclaim {', '.join(r.reservation.spec for r in failed)}: {first}"
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
    _emit({key: {"value": value, "source": source} for key, value, source in rows}, as_json, lines)


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
    from .check import check_backend
    from .errors import BackendError

    report = check_backend(ctx.obj.store().remote)
    _emit(report.to_dict(), as_json, report.lines())
    if not report.ok:
        raise BackendError(f"config check failed: {', '.join(report.failed)} (see above)")


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
    )
    _emit(report.to_dict(), as_json, [*changes, summary])
    if report.malformed:
        from .errors import IntegrityError

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
    _emit({"from": before, "to": now}, as_json, [line])


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
    entries = ctx.obj.store().history(name)
    lines = [
        f"{e.name}:{e.version}  {e.pushed_at.isoformat()}  {e.pushed_by}  "
        f"{human_size(e.total_size)}"
        + (f"  [manifest gone since {e.missing_since:%Y-%m-%d}]" if e.missing_since else "")
        for e in entries
    ]
    _emit([e.to_dict() for e in entries], as_json, lines)


# -- entry point -------------------------------------------------------------------
def _setup_logging(*, debug: bool, quiet: bool) -> None:
    level = logging.DEBUG if debug else logging.ERROR if quiet else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_ScrubbingFormatter("assetstore: %(levelname)s: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


class _ScrubbingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        record.levelname = record.levelname.lower()
        return scrub(super().format(record), _env_secrets())


# The secrets of the settings loaded so far (a config file's too), masked wherever shown.
_SECRETS: set[str] = set()


def _env_secrets() -> list[str]:
    """Values of secret-looking environment variables, and of the settings loaded, to
    mask wherever they show."""
    options = {
        ("connection_string" if "CONNECTION_STRING" in key else key): value
        for key, value in os.environ.items()
        if key.isupper() and (is_secret_key(key) or "CONNECTION_STRING" in key)
    }
    found = [*secret_values(options), *_SECRETS]
    catalog_url = os.environ.get("ASSETSTORE_CATALOG_URL")
    if catalog_url:
        found.extend(database_url_secrets(catalog_url))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code instead of exiting (testable)."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="assetstore",
                 standalone_mode=False)  # fmt: skip
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return 2
    except click.exceptions.Abort:
        click.echo("assetstore: aborted", err=True)
        return 130
    except AssetStoreError as exc:
        return _fail(exc, exc.exit_code, debug)
    except KeyboardInterrupt:
        click.echo("assetstore: interrupted", err=True)
        return 130
    except Exception as exc:
        return _fail(exc, 1, debug, prefix="unexpected error: ")
    return 0


def _fail(exc: BaseException, code: int, debug: bool, prefix: str = "") -> int:
    secrets = _env_secrets()
    if debug:
        import traceback

        click.echo(scrub("".join(traceback.format_exception(exc)), secrets), err=True)
    message = str(exc) or type(exc).__name__
    if code == 1 and not debug:
        message = f"{type(exc).__name__}: {message} (run with --debug for a traceback)"
    click.echo(scrub(f"assetstore: error: {prefix}{message}", secrets), err=True)
    return code


def run() -> None:
    sys.exit(main())
