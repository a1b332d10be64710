"""The alias commands, their output and exit codes, the ``@ALIAS`` grammar, and a
pre-downloaded assets dir that serves the alias it was baked with."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from assetstore.model.spec import parse_spec

Cli = Callable[..., tuple[int, str, str]]
Tree = Callable[..., Path]


@pytest.fixture
def pushed(cli: Cli, local_env: dict[str, str], make_tree: Tree) -> None:
    for data, target in ((b"zero", "m"), (b"one", "m"), (b"two", "m:1.0")):
        assert cli("push", str(make_tree({"a.txt": data})), target)[0] == 0


@pytest.mark.parametrize(
    ("text", "alias", "back", "sub_path"),
    [("m@prod", "prod", 0, None), ("m@prod~3", "prod", 3, None),
     ("models/bert@canary-2[vocab/en.txt]", "canary-2", 0, "vocab/en.txt"),
     ("m@latest", None, 0, None)],
)  # fmt: skip
def test_alias_specs(text: str, alias: str | None, back: int, sub_path: str | None) -> None:
    spec = parse_spec(text)
    assert (spec.alias, spec.back, spec.sub_path, spec.pinned) == (alias, back, sub_path, None)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("m:1.0@prod", "not both"), ("m@prod:1", "not both"), ("m@Prod", "invalid alias"),
     ("m@prod~x", "~N"), ("m@latest~1", "no moves"), ("m@", "invalid alias")],
)  # fmt: skip
def test_bad_alias_specs_exit_2(
    cli: Cli, local_env: dict[str, str], text: str, fragment: str
) -> None:
    code, _, err = cli("pull", text)
    assert code == 2 and fragment in err, err


def test_alias_commands_print_what_they_did(cli: Cli, pushed: None) -> None:
    assert cli("alias", "set", "m@prod", "0", "--reason", "first") == (0, "m@prod m:0.1\n", "")
    assert cli("alias", "set", "m@prod", "1.0")[1] == "m@prod m:1.0\n"
    assert cli("alias", "set", "m@staging", "0.0")[1] == "m@staging m:0.0\n"
    assert cli("alias", "list", "m")[1] == "prod 1.0\nstaging 0.0\n"
    code, out, _ = cli("pull", "m@prod~1[a.txt]")
    assert code == 0 and Path(out.strip()).read_bytes() == b"one"
    assert cli("alias", "rollback", "m@prod", "--reason", "oops")[1] == "m@prod m:0.1\n"
    code, out, _ = cli("alias", "history", "m@prod", "--json")
    history = json.loads(out)
    assert [(h["version"], h["previous"], h["reason"]) for h in history] == [
        ("0.1", "1.0", "oops"), ("1.0", "0.1", None), ("0.1", None, "first")
    ]  # fmt: skip
    assert {"at", "by", "action", "move"} <= set(history[0])
    assert cli("alias", "rm", "m@staging")[1] == "removed m@staging (was m:0.0)\n"
    assert [a["alias"] for a in json.loads(cli("alias", "list", "m", "--json")[1])] == ["prod"]
    code, _, err = cli("pull", "m@staging")
    assert code == 3 and "removed" in err


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [(["alias", "set", "m@prod", "7"], 3, "no version of m matches '7'"),
     (["alias", "set", "m@latest", "0.0"], 2, "'latest' is reserved"),
     (["alias", "set", "m@prod~1", "0.0"], 2, "expected NAME@ALIAS"),
     (["alias", "rollback", "m@prod"], 3, "no earlier value"),
     (["alias", "rm", "m@nope"], 3, "no alias 'nope'"),
     (["alias", "history", "m@nope"], 3, "no alias 'nope'"),
     (["pull", "m@nope"], 3, "no alias 'nope'"),
     (["info", "m@prod", "--as-of", "yesterday"], 2, "invalid time"),
     (["info", "m@prod", "--as-of", "2001-01-01"], 3, "had no value at 2001-01-01")],
)  # fmt: skip
def test_alias_mistakes_have_their_exit_codes(
    cli: Cli, pushed: None, args: list[str], code: int, fragment: str
) -> None:
    assert cli("alias", "set", "m@prod", "0.0")[0] == 0
    found, out, err = cli(*args)
    assert (found, out) == (code, ""), err
    assert fragment in err and len(err.splitlines()) == 1, err


def test_a_baked_assets_dir_serves_its_alias_after_the_alias_moved(
    cli: Cli, pushed: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    image = tmp_path / "image"
    assert cli("alias", "set", "m@prod", "0.0")[0] == 0
    baked = cli("pull", "m@prod", "--to", str(image))[1].strip()
    assert cli("alias", "set", "m@prod", "1.0")[0] == 0
    assert cli("pull", "m@prod")[1].strip().endswith("m/1.0")  # the bucket moved on
    monkeypatch.delenv("ASSETSTORE_STORAGE_PROVIDER")
    monkeypatch.delenv("ASSETSTORE_STORAGE_BUCKET")
    monkeypatch.setenv("ASSETSTORE_ASSETS_DIR", str(image))
    image.chmod(0o555)
    try:
        assert cli("pull", "m@prod") == (0, baked + "\n", "")  # no network, no write
        code, _, err = cli("pull", "m@canary")
        assert code == 3 and "not known to the assets dir" in err
    finally:
        image.chmod(0o755)


def test_aliases_live_in_the_bucket_and_survive_losing_the_catalog(
    cli: Cli, pushed: None, local_env: dict[str, str]
) -> None:
    assert cli("alias", "set", "m@prod", "1.0")[0] == 0
    (Path(local_env["ASSETSTORE_ASSETS_DIR"]) / ".assetstore" / "catalog.db").unlink()
    assert cli("catalog", "sync")[0] == 0
    assert cli("alias", "list", "m")[1] == "prod 1.0\n"
    assert cli("alias", "history", "m@prod")[0] == 0


def test_every_command_that_takes_a_spec_takes_an_alias(
    cli: Cli, pushed: None, tmp_path: Path
) -> None:
    assert cli("alias", "set", "m@prod", "0.0")[0] == 0
    assert cli("pull", "m@prod")[0] == 0
    assert cli("pull", "m:1.0")[0] == 0
    code, out, _ = cli("verify", "m@prod")
    assert (code, out) == (0, "m:0.0: ok\n")  # that version only, not every cached one
    assert cli("info", "m@prod")[1].startswith("m:0.0  dir")
    assert cli("url", "m@prod[a.txt]")[1].strip().endswith("/m/0.0/a.txt")
    assert cli("lock", "m@prod", "-o", str(tmp_path / "a.lock"))[0] == 0
    assert 'version = "0.0"' in (tmp_path / "a.lock").read_text()


def test_an_alias_record_is_never_written_through_a_planted_symlink(
    cli: Cli, pushed: None, local_env: dict[str, str], tmp_path: Path
) -> None:
    assert cli("alias", "set", "m@prod", "0.0")[0] == 0
    outside = tmp_path / "outside"
    outside.mkdir()
    state = Path(local_env["ASSETSTORE_ASSETS_DIR"]) / ".assetstore"
    state.mkdir(parents=True, exist_ok=True)
    (state / "aliases").symlink_to(outside)
    code, out, _ = cli("pull", "m@prod")
    assert code == 0 and out.strip().endswith("m/0.0")  # the version is served
    assert list(outside.iterdir()) == []  # and nothing written where the link leads
