"""The ``assetstore`` command. Thin: each command calls one library method; ``main``
maps exceptions to one-line messages and exit codes (each error class carries its code:
``errors.EXIT_CODES``). One module per command group."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import click

from ..errors import AssetStoreError
from ..redact import scrub
from . import admin, aliases, assets, cache, catalog, lifecycle, release  # noqa: F401 (they register their commands)
from .app import _env_secrets, cli

log = logging.getLogger("assetstore")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code instead of exiting (testable)."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    retries_before = _retried()
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
    _note_retries(_retried() - retries_before)
    return 0


def _retried() -> int:
    """Retries made so far; none before the retry policy is imported (a command that
    never reached a backend, such as --help, does not import it)."""
    policy = sys.modules.get("assetstore.io.policy")
    return 0 if policy is None else int(policy.retried())


def _note_retries(count: int) -> None:
    """Retries are debug lines while they happen; a command that succeeded in spite
    of them says so once, at its end (a network worth looking at)."""
    if count:
        faults = "fault" if count == 1 else "faults"
        log.warning("done, after retrying %d transient %s (--debug shows each)", count, faults)


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
