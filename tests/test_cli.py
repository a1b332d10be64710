"""The command line: what goes to stdout, one-line errors, exit codes, JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

Cli = Callable[..., tuple[int, str, str]]
Tree = Callable[..., Path]


def test_push_prints_only_the_spec_and_pull_only_the_path(
    cli: Cli, local_env: dict[str, str], make_tree: Tree, tmp_path: Path
) -> None:
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"w")
    assert cli("push", str(weights), "models/clf") == (0, "models/clf:0.0\n", "")
    code, out, err = cli("pull", "models/clf")
    assert (code, err) == (0, "")
    assert Path(out.strip()).read_bytes() == b"w" and out.count("\n") == 1
    assert (
        cli("push", str(make_tree({"v/en.txt": b"en"})), "models/bert", "--meta", "k=v")[1]
        == "models/bert:0.0\n"
    )
    code, out, _ = cli("pull", "models/bert:0.0[v/en.txt]")
    assert Path(out.strip()).read_bytes() == b"en"


def test_pull_output_works_in_a_shell_substitution(
    local_env: dict[str, str], make_tree: Tree
) -> None:
    env = {**local_env, "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"}
    tree = make_tree({"vocab.txt": b"hello"})
    script = f"""
      {sys.executable} -m assetstore push {tree} models/bert >/dev/null
      cat "$({sys.executable} -m assetstore pull 'models/bert[vocab.txt]')"
    """
    done = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "hello", "")


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["pull", "models/../x"], 2, "invalid name"),
        (["pull", "m:1.2.3"], 2, "MAJOR or MAJOR.MINOR"),
        (["pull", "m[../../etc]"], 2, "'..' segments"),
        (["pull", "nothing"], 3, "no version of nothing"),
        (["pull", "m:9.9"], 3, "not found"),
        (["push", "{tree}", "m:0.0"], 4, "already exists"),
        (["--provider", "ftp", "list"], 6, "not a provider"),
        (["push", "/no/such/path", "m"], 2, "no such file"),
        (["push", "{tree}", "m", "--meta", "novalue"], 2, "KEY=VALUE"),
        (["frobnicate"], 2, "No such command"),
    ],
)
def test_errors_are_one_line_with_distinct_exit_codes(
    cli: Cli, local_env: dict[str, str], make_tree: Tree, args: list[str], code: int, fragment: str
) -> None:
    tree = str(make_tree({"a": b"1"}))
    assert cli("push", tree, "m")[0] == 0
    got, out, err = cli(*[a.replace("{tree}", tree) for a in args])
    assert got == code, err
    assert out == ""
    assert fragment in err
    assert "Traceback" not in err


def test_integrity_failure_exits_5(cli: Cli, local_env: dict[str, str], make_tree: Tree) -> None:
    cli("push", str(make_tree({"a": b"good"})), "m")
    (Path(local_env["ASSETSTORE_STORAGE_BUCKET"]) / "assets/m/0.0/a").write_bytes(b"evil")
    code, out, err = cli("pull", "m:0.0")
    assert (code, out) == (5, "")
    assert err.startswith("assetstore: error: m:0.0: a does not match its manifest")


def test_verify_exits_5_on_a_corrupt_copy(
    cli: Cli, local_env: dict[str, str], make_tree: Tree
) -> None:
    cli("push", str(make_tree({"a": b"good"})), "m")
    path = Path(cli("pull", "m")[1].strip())
    assert cli("verify")[:2] == (0, "m:0.0: ok\n")
    (path / "a").write_bytes(b"bad!")
    code, out, err = cli("verify", "--json")
    assert code == 5 and json.loads(out) == [
        {"spec": "m:0.0", "ok": False, "problems": ["a: sha256 mismatch"]}
    ]
    assert "pull --force" in err
    assert cli("pull", "--force", "m:0.0")[0] == 0
    assert cli("verify")[0] == 0


def test_backend_errors_exit_7(cli: Cli, local_env: dict[str, str], tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    code, out, err = cli("--bucket", str(blocker / "bucket"), "versions", "m")
    assert (code, out) == (7, "")
    assert (
        err.startswith("assetstore: error: listing versions of m in") and len(err.splitlines()) == 1
    )


def test_debug_shows_a_traceback(cli: Cli, local_env: dict[str, str]) -> None:
    code, _, err = cli("--debug", "pull", "nothing")
    assert code == 3 and "Traceback" in err


def test_json_output(cli: Cli, local_env: dict[str, str], make_tree: Tree) -> None:
    cli("push", str(make_tree({"a": b"12", "b/c": b"3"})), "m", "--meta", "commit=abc")
    cli("push", str(make_tree({"a": b"1"})), "m")
    info = json.loads(cli("info", "m:0.0", "--json")[1])
    assert info["name"] == "m" and info["version"] == "0.0" and info["kind"] == "dir"
    assert info["total_size"] == 3 and info["metadata"] == {"commit": "abc"}
    assert [f["path"] for f in info["files"]] == ["a", "b/c"] and all(
        f["sha256"].startswith("sha256:") for f in info["files"]
    )
    assert {"pushed_at", "pushed_by"} <= set(info)
    assert json.loads(cli("versions", "m", "--json")[1]) == ["0.1", "0.0"]
    assert json.loads(cli("list", "--json")[1]) == ["m"]
    assert json.loads(cli("pull", "m", "--json")[1])["path"].endswith("m/0.1")
    history = json.loads(cli("catalog", "history", "--json")[1])
    assert [h["version"] for h in history] == ["0.0", "0.1"]
    plan = json.loads(cli("push", str(make_tree({"a": b"1"})), "m", "--dry-run", "--json")[1])
    assert plan["spec"] == "m:0.2" and plan["upload_size"] == 0 and plan["reused_files"] == 1
    synced = json.loads(cli("catalog", "sync", "--json")[1])
    assert synced == {
        "added": [], "flagged_missing": [], "restored": [], "forgotten": [], "unchanged": 2,
        "malformed": [], "alias_moves_added": 0, "lifecycle_events_added": 0,
    }  # fmt: skip


def test_plain_listing_commands(cli: Cli, local_env: dict[str, str], make_tree: Tree) -> None:
    for target in ["b", "a", "a", "a:1.10", "a:1.9"]:
        cli("push", str(make_tree({"f": b"1"})), target, "--force-new")
    assert cli("list")[1] == "a\nb\n"
    assert cli("versions", "a")[1] == "1.10\n1.9\n0.1\n0.0\n"
    assert cli("info", "a:1")[1].startswith("a:1.10  dir  1 file  1 B\n")


def test_prune_keeps_the_newest_and_reports(
    cli: Cli, local_env: dict[str, str], make_tree: Tree
) -> None:
    for n in range(3):
        cli("push", str(make_tree({"f": str(n).encode()})), "m")
        cli("pull", f"m:0.{n}")
    assert (
        cli("prune", "--keep", "1", "--dry-run")[1]
        == "would remove m:0.0 (1 B)\nwould remove m:0.1 (1 B)\n"
    )
    assert cli("verify")[1].count("ok") == 3
    result = json.loads(cli("prune", "--keep", "1", "--json")[1])
    assert [r["spec"] for r in result["remove"]] == ["m:0.0", "m:0.1"] and result["freed"] == 2
    assert cli("verify")[1] == "m:0.2: ok\n"


def test_config_show_says_where_each_value_came_from_and_masks_secrets(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ASSETSTORE_STORAGE_PROVIDER", "s3")
    monkeypatch.setenv("ASSETSTORE_STORAGE_BUCKET", "team-assets")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEXAMPLETOKEN")
    monkeypatch.setenv(
        "ASSETSTORE_CATALOG_URL", "postgresql+psycopg://bob:hunter2hunter2@db/assets"
    )
    code, out, err = cli("--prefix", "team", "config", "show", "--json")
    shown = json.loads(out)
    assert code == 0 and err == ""
    assert shown["bucket"] == {"value": "team-assets", "source": "env ASSETSTORE_STORAGE_BUCKET"}
    assert shown["prefix"] == {"value": "team", "source": "flag"}
    assert shown["workers"]["source"] == "default"
    assert shown["storage.secret"] == {"value": "***", "source": "env AWS_SECRET_ACCESS_KEY"}
    for secret in ["wJalrXUtnFEMI", "FwoGZXIvYXdzEXAMPLETOKEN", "hunter2hunter2"]:
        assert secret not in out
    plain = cli("config", "show")[1]
    assert "hunter2hunter2" not in plain and "wJalrXUtnFEMI" not in plain


def test_every_command_help_shows_an_example(cli: Cli) -> None:
    commands = ["push", "pull", "list", "versions", "info", "url", "verify", "prune"]
    for command in commands:
        code, out, _ = cli(command, "--help")
        assert code == 0 and "Example" in out, command
    assert cli("config", "show", "--help")[0] == 0
    assert cli("catalog", "sync", "--help")[0] == 0


def _stderr_on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    import os
    import pty

    leader, follower = pty.openpty()
    done = subprocess.run(
        [sys.executable, "-m", "assetstore", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=follower,
        text=True,
        timeout=60,
        check=False,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return done.returncode, done.stdout, b"".join(chunks).decode(errors="replace")


def test_progress_bars_only_on_a_terminal_and_never_with_quiet(
    local_env: dict[str, str], make_tree: Tree
) -> None:
    tree = make_tree({f"f{i}": bytes(100_000) for i in range(20)})
    code, out, err = _stderr_on_a_terminal(["push", str(tree), "m"], local_env)
    assert (code, out) == (0, "m:0.0\n")
    assert "m:0.0  100%" in err and "1.9 MiB / 1.9 MiB" in err  # the bar names the version
    code, out, err = _stderr_on_a_terminal(["pull", "m"], local_env)
    assert code == 0 and out.strip().endswith("m/0.0") and "m:0.0  100%" in err
    assert _stderr_on_a_terminal(["push", str(tree / "f0"), "n"], local_env)[0] == 0
    code, out, err = _stderr_on_a_terminal(["pull", "m", "n", "--to", str(tree / "o")], local_env)
    final = err.strip().split("\r")[-1]  # one bar for both, naming both
    assert code == 0 and final.startswith(("m:0.0, n:0.0  100%", "n:0.0, m:0.0  100%"))
    assert "2.0 MiB / 2.0 MiB" in final
    code, out, err = _stderr_on_a_terminal(["--quiet", "pull", "--force", "m"], local_env)
    assert code == 0 and err == ""
    piped = subprocess.run([sys.executable, "-m", "assetstore", "pull", "--force", "m"],
                           env={**os.environ, **local_env}, capture_output=True, text=True,
                           check=False)  # fmt: skip
    assert piped.returncode == 0 and piped.stderr == ""


@pytest.fixture
def read_only_copy(local_env: dict[str, str], tmp_path: Path) -> Iterator[Path]:
    """A read-only copy of the assets dir: a read-only tmpfs as root, else chmod."""
    import shutil

    target = tmp_path / "ro"
    target.mkdir()
    source = Path(local_env["ASSETSTORE_ASSETS_DIR"])
    if os.geteuid() != 0:
        shutil.copytree(source, target, dirs_exist_ok=True)
        for path in [target, *target.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        yield target
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(target)],
                      capture_output=True, check=False).returncode:  # fmt: skip
        pytest.skip("cannot mount a tmpfs here")
    try:
        shutil.copytree(source, target, dirs_exist_ok=True)
        subprocess.run(["mount", "-o", "remount,ro", str(target)], check=True)
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=False)


def test_writes_to_a_read_only_assets_dir_exit_8(
    cli: Cli, local_env: dict[str, str], make_tree: Tree, request: pytest.FixtureRequest
) -> None:
    for n in range(2):
        cli("push", str(make_tree({"a": str(n).encode()})), "m")
        cli("pull", f"m:0.{n}")
    read_only = request.getfixturevalue("read_only_copy")
    code, out, err = cli("--assets-dir", str(read_only), "prune")
    assert (code, out) == (8, "") and "assets dir" in err and len(err.splitlines()) == 1
    code, out, err = cli("--assets-dir", str(read_only), "pull", "--force", "m:0.1")
    assert (code, out) == (8, "")
    assert "Read-only file system" in err or "ermission" in err
    assert cli("--assets-dir", str(read_only), "pull", "m:0.1")[0] == 0  # reading still works


def test_global_flags_after_the_command_count_as_before_it(
    cli: Cli, local_env: dict[str, str], make_tree: Tree, tmp_path: Path
) -> None:
    tree = make_tree({"vocab.txt": b"hello"})
    other = tmp_path / "other-bucket"
    assert cli("push", str(tree), "models/bert", "--bucket", str(other))[0] == 0
    assert (other / "assets").is_dir() and not (tmp_path / "bucket").exists()
    elsewhere = tmp_path / "elsewhere"
    code, out, _ = cli(
        "pull", "models/bert", "--bucket", str(other), "--assets-dir", str(elsewhere)
    )
    assert code == 0 and Path(out.strip()).is_relative_to(elsewhere)
    assert (
        cli("versions", "models/bert", "--prefix", "nothing-here", "--bucket", str(other))[0] == 3
    )


def test_debug_and_store_after_the_command(
    cli: Cli, local_env: dict[str, str], tmp_path: Path
) -> None:
    code, _, err = cli("versions", "nothing", "--debug")
    assert code == 3 and "Traceback" in err
    code, _, err = cli("versions", "nothing", "--store", "archive")
    assert code == 6 and "store 'archive' is named" in err
