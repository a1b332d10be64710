"""The catalog URL's password is a secret wherever it is written: with a ``/``, a space
or an ``@`` in it, URL-encoded or not, or given as ``?password=`` in the query, it never
shows in ``config show``, in errors or in the warning of a push whose catalog is down."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import run_cli_process

pytest.importorskip("psycopg")
Tree = Callable[..., Path]
DOWN = "127.0.0.1:1"  # nothing listens there: connecting is refused at once

CASES = {
    "slash and space": (f"postgresql+psycopg://bob:PAzq7/SSxk9 Wrdq7@{DOWN}/db",
                        "PAzq7/SSxk9 Wrdq7"),
    "encoded": (f"postgresql+psycopg://bob:{quote('s3Kq/cr@tZ9', safe='')}@{DOWN}/db",
                "s3Kq/cr@tZ9"),
    "query": (f"postgresql+psycopg://bob@{DOWN}/db?password=Qu3ry%2FpwX8&sslmode=disable",
              "Qu3ry/pwX8"),
}  # fmt: skip


def _clean(text: str, secret: str) -> None:
    for form in {secret, quote(secret, safe=""), quote(secret), secret.replace(" ", "+")}:
        assert form not in text, f"{form!r} shows in:\n{text}"
    for part in secret.replace("/", " ").replace("@", " ").split():
        if len(part) >= 4:
            assert part not in text, f"{part!r} (a piece of the password) shows in:\n{text}"


@pytest.mark.parametrize("case", list(CASES))
def test_the_catalog_password_never_shows(
    case: str, local_env: dict[str, str], make_tree: Tree
) -> None:
    url, secret = CASES[case]
    env = {**local_env, "ASSETSTORE_CATALOG_URL": url, "ASSETSTORE_RETRY_ATTEMPTS": "1"}
    shown = run_cli_process(["config", "show"], env)
    assert shown.returncode == 0, shown.stderr
    assert "catalog_url" in shown.stdout and "***" in shown.stdout
    as_json = run_cli_process(["config", "show", "--json"], env)
    assert json.loads(as_json.stdout)["catalog_url"]["value"].count("***") == 1
    pushed = run_cli_process(["push", str(make_tree({"a": b"1"})), "m"], env)
    assert pushed.returncode == 0 and "catalog was not updated" in pushed.stderr
    history = run_cli_process(["catalog", "history"], env)
    assert history.returncode == 7 and len(history.stderr.strip().splitlines()) == 1
    debug = run_cli_process(["--debug", "catalog", "history"], env)
    for done in (shown, as_json, pushed, history, debug):
        _clean(done.stdout + done.stderr, secret)


def test_a_raw_at_sign_in_the_password_is_a_configuration_error(local_env: dict[str, str]) -> None:
    """``u:p@ss@host``: SQLAlchemy would read the host as ``ss@host`` (and show ``ss``):
    refused at load, saying how to write it, the password masked whole."""
    env = {**local_env, "ASSETSTORE_CATALOG_URL": f"postgresql+psycopg://bob:hUnt7@r2pWq@{DOWN}/db"}
    for args in (["config", "show"], ["catalog", "history"], ["pull", "m"]):
        done = run_cli_process(args, env)
        assert done.returncode == 6, done.stderr
        assert "%40" in done.stderr and len(done.stderr.strip().splitlines()) == 1
        _clean(done.stdout + done.stderr, "hUnt7@r2pWq")
        assert "r2pWq" not in done.stderr and "hUnt7" not in done.stderr


@pytest.mark.parametrize("url", ["notaurl", "postgres//host/db"])
def test_a_catalog_url_that_is_no_url_is_a_configuration_error(
    local_env: dict[str, str], url: str
) -> None:
    done = run_cli_process(["catalog", "history"], {**local_env, "ASSETSTORE_CATALOG_URL": url})
    assert done.returncode == 6, done.stderr
    assert "postgresql+psycopg://USER@HOST:5432/DATABASE" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_an_unknown_database_driver_is_a_configuration_error(local_env: dict[str, str]) -> None:
    env = {**local_env, "ASSETSTORE_CATALOG_URL": "nosuchdb://bob:Secr3tpw@host/db"}
    done = run_cli_process(["catalog", "history"], env)
    assert done.returncode == 6, done.stderr
    assert "Secr3tpw" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
