"""The lifecycle commands through the CLI: what they print, their JSON, and the exit code
of every mistake (protected 9, not found 3, bad input 2, no provider 6)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

Cli = Callable[..., tuple[int, str, str]]
Tree = Callable[..., Path]


@pytest.fixture
def pushed(cli: Cli, local_env: dict[str, str], make_tree: Tree) -> None:
    for data in (b"zero", b"one", b"two"):
        assert cli("push", str(make_tree({"w.bin": data, "same.txt": b"s"})), "m")[0] == 0


def test_yank_marks_versions_and_info(cli: Cli, pushed: None) -> None:
    assert cli("yank", "m:0.2", "--reason", "bad weights")[1] == "yanked m:0.2: bad weights\n"
    assert cli("versions", "m")[1] == "0.2  yanked: bad weights\n0.1\n0.0\n"
    assert json.loads(cli("versions", "m", "--json")[1]) == ["0.2", "0.1", "0.0"]
    yanked = json.loads(cli("info", "m:0.2", "--json")[1])["yanked"]
    assert yanked["reason"] == "bad weights" and yanked["by"] and yanked["at"]
    assert json.loads(cli("info", "m:0.1", "--json")[1])["yanked"] is None
    code, out, err = cli("pull", "m")
    assert code == 0 and out.strip().endswith("m/0.1")
    code, out, err = cli("pull", "m:0.2")
    assert code == 0 and "m:0.2 is yanked: bad weights" in err
    assert cli("alias", "set", "m@prod", "0.2")[0] == 9
    assert cli("unyank", "m:0.2")[1] == "unyanked m:0.2\n"
    assert cli("unyank", "m:0.2")[1] == "m:0.2 was not yanked\n"


def test_delete_and_gc_print_what_they_did(cli: Cli, pushed: None, tmp_path: Path) -> None:
    code, out, _ = cli("delete", "m:0.0", "--dry-run", "--json")
    plan = json.loads(out)
    assert code == 0 and plan["dry_run"] and plan["deleted"] == ["m:0.0"]
    assert {i["reason"] for i in plan["items"]} == {
        "manifest of a deleted version",
        "deleted version",
    }
    assert plan["objects"] == len(plan["items"]) and plan["bytes"] == sum(
        i["bytes"] for i in plan["items"]
    )
    assert cli("versions", "m")[1] == "0.2\n0.1\n0.0\n"  # a dry run changed nothing
    code, out, _ = cli("delete", "m:0.0", "--reason", "old")
    assert code == 0 and out.startswith("deleted m:0.0\n") and "w.bin" in out
    assert "same.txt" not in out  # 0.1 and 0.2 reuse it from 0.0's folder
    assert cli("pull", "m:0.0")[0] == 3
    assert cli("delete", "m:0.0")[0] == 0  # again: nothing left to do, not an error
    gc = json.loads(cli("gc", "--json")[1])
    assert set(gc) >= {"objects", "bytes", "items", "deleted", "kept", "reservations"}
    assert gc["objects"] == 0
    history = cli("catalog", "history", "m")[1]
    assert "    deleted " in history and ": old" in history


def test_retention_and_protection(cli: Cli, pushed: None, tmp_path: Path) -> None:
    assert cli("alias", "set", "m@prod", "0.0")[0] == 0
    lock = tmp_path / "svc.lock"
    code, out, _ = cli("lock", "m:0.1", "-o", str(lock), "--register", "svc")
    assert code == 0 and "registered for svc" in out
    assert json.loads(cli("lock", "--registered", "--json")[1]) == {"svc": ["m:0.1"]}
    code, _, err = cli("delete", "m:0.0")
    assert code == 9 and "m@prod points at it" in err
    code, _, err = cli("delete", "m:0.1", "--force")
    assert code == 9 and "svc" in err
    report = json.loads(cli("delete", "m", "--keep-last", "1", "--json")[1])
    assert report["deleted"] == [] and set(report["kept"]) == {"m:0.0", "m:0.1"}
    assert cli("lock", "--unregister", "svc")[0] == 0
    assert cli("lock", "--unregister", "svc")[0] == 3
    report = json.loads(cli("delete", "m", "--keep-last", "1", "--json")[1])
    assert report["deleted"] == ["m:0.1"] and list(report["kept"]) == ["m:0.0"]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("delete", "m"), 2),  # one version, exactly
        (("delete", "m:0"), 2),
        (("delete", "m:0.1[w.bin]"), 2),
        (("delete", "m", "--keep-last", "0"), 2),
        (("delete", "m", "--keep-last", "1", "--older-than", "ninety days"), 2),
        (("delete", "m:0.1", "--older-than", "9d"), 2),
        (("push", "x", "m", "--expires-in", "-1d"), 2),
        (("yank", "m:7.0"), 3),
        (("delete", "m:7.0"), 3),
        (("delete", "nothing", "--keep-last", "1"), 3),
        (("lock", "--unregister", "Bad Name"), 2),
        (("lock", "--registered", "m"), 2),
    ],
)
def test_mistakes_have_their_exit_codes(
    cli: Cli, pushed: None, args: tuple[str, ...], code: int
) -> None:
    got, out, err = cli(*args)
    assert (got, out) == (code, ""), err
    assert err.count("\n") <= 1 or "Usage" in err


def test_pre_downloaded_mode_refuses_every_lifecycle_command(
    cli: Cli, pushed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ASSETSTORE_STORAGE_PROVIDER")
    monkeypatch.delenv("ASSETSTORE_STORAGE_BUCKET")
    for args in (("yank", "m:0.1"), ("unyank", "m:0.1"), ("delete", "m:0.1"), ("gc",),
                 ("lock", "--registered"), ("prune", "--deleted")):  # fmt: skip
        code, _, err = cli(*args)
        assert code == 6 and "no storage provider" in err, args


def test_expiry_and_prune_deleted(cli: Cli, pushed: None, make_tree: Tree) -> None:
    code, out, _ = cli("push", str(make_tree({"w.bin": b"tmp"})), "m", "--expires-in", "90d",
                       "--json")  # fmt: skip
    assert code == 0 and json.loads(out)["expires_at"]
    assert cli("pull", "m:0.1")[0] == 0 and cli("pull", "m:0.2")[0] == 0
    assert cli("delete", "m:0.1")[0] == 0
    assert cli("prune", "--deleted", "--dry-run")[1] == "would remove m:0.1 (4 B)\n"
    assert cli("prune", "--deleted")[0] == 0
    assert cli("verify")[1] == "m:0.2: ok\n"  # 0.2 stays: --deleted alone keeps the rest
