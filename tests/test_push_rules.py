"""What a push takes and whether it makes a version: ignore rules (.assetstoreignore,
--exclude, the built-in defaults), idempotent pushes, and changes of kind."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from assetstore import AssetStore
from assetstore.errors import InvalidSpecError

Cli = Callable[..., tuple[int, str, str]]
Tree = Callable[..., Path]

CLUTTER = {
    ".git/HEAD": b"ref: refs/heads/main",
    ".DS_Store": b"\0",
    "__pycache__/m.cpython-311.pyc": b"pyc",
    "pkg/__pycache__/n.pyc": b"pyc",
    "stray.pyc": b"pyc",
}


def pushed_paths(store: AssetStore, spec: str) -> list[str]:
    return sorted(entry.path for entry in store.info(spec).files)


def test_default_excludes_leave_out_clutter(store: AssetStore, make_tree: Tree) -> None:
    tree = make_tree({"weights.bin": b"w", "pkg/vocab.txt": b"v", **CLUTTER})
    manifest = store.push(tree, "m")
    assert pushed_paths(store, manifest.spec) == ["pkg/vocab.txt", "weights.bin"]


def test_no_default_excludes_pushes_everything(store: AssetStore, make_tree: Tree) -> None:
    tree = make_tree({"weights.bin": b"w", **CLUTTER})
    manifest = store.push(tree, "m", default_excludes=False)
    assert pushed_paths(store, manifest.spec) == sorted(["weights.bin", *CLUTTER])


def test_ignore_file_and_exclude_patterns_apply_in_gitignore_order(
    store: AssetStore, make_tree: Tree
) -> None:
    tree = make_tree({
        "a.log": b"1", "keep.log": b"2", "logs/x.txt": b"3", "data/b.csv": b"4",
        "data/c.tmp": b"5", "readme.md": b"6",
        ".assetstoreignore": b"# build leftovers\n*.log\n!keep.log\nlogs/\n",
    })  # fmt: skip
    manifest = store.push(tree, "m", exclude=["*.tmp", "readme.md"])
    assert pushed_paths(store, manifest.spec) == ["data/b.csv", "keep.log"]
    # A user's negation re-includes a default exclusion.
    tree2 = make_tree({"w.bin": b"w", "legacy.pyc": b"p", ".assetstoreignore": b"!legacy.pyc\n"})
    assert pushed_paths(store, store.push(tree2, "n").spec) == ["legacy.pyc", "w.bin"]


def test_a_symlink_inside_an_excluded_folder_does_not_fail_the_push(
    store: AssetStore, make_tree: Tree
) -> None:
    tree = make_tree({"w.bin": b"w", ".git/HEAD": b"h"})
    os.symlink("/etc/passwd", tree / ".git" / "link")
    assert pushed_paths(store, store.push(tree, "m").spec) == ["w.bin"]
    os.symlink("/etc/passwd", tree / "link")
    with pytest.raises(InvalidSpecError, match="symlink"):
        store.push(tree, "m", force_new=True)
    assert pushed_paths(store, store.push(tree, "m", exclude=["link"], force_new=True).spec) == [
        "w.bin"
    ]


def test_the_scan_lists_a_tree_as_a_sorted_walk_and_refuses_special_files(
    make_tree: Tree, tmp_path: Path
) -> None:
    """The scan (``os.scandir`` entries, depth first) lists the files as ``os.walk``
    top-down with sorted folders does; a symlink to a folder is matched by a folder
    pattern; a FIFO is refused unless excluded."""
    from assetstore.errors import PushSourceError
    from assetstore.transfer.source import Rules, scan_source

    names = ["b/z", "b/a/y", "a/x", "c", "a/b/c/d", "B", "a/b/e"]
    tree = make_tree({name: name.encode() for name in names}, empty_dirs=("a/empty",))
    walked = []
    for folder, dirs, found in os.walk(tree):
        dirs.sort()
        walked += [Path(folder, n).relative_to(tree).as_posix() for n in sorted(found)]
    scanned = scan_source(tree)
    assert [relpath for relpath, _ in scanned.files] == walked
    assert scanned.empty_dirs == ["a/empty"]
    (tree / "linked").symlink_to(tmp_path, target_is_directory=True)
    assert "linked/" in scan_source(tree, Rules(excludes=("linked/",))).skipped
    os.mkfifo(tree / "pipe")
    with pytest.raises(PushSourceError, match="pipe is not a regular file or folder"):
        scan_source(tree, Rules(excludes=("linked/",)))
    kept = scan_source(tree, Rules(excludes=("linked/", "pipe")))
    assert [relpath for relpath, _ in kept.files] == walked


def test_a_tree_with_every_file_excluded_is_refused(
    cli: Cli, local_env: dict[str, str], make_tree: Tree
) -> None:
    tree = make_tree({"a.log": b"1", ".git/HEAD": b"h"})
    code, out, err = cli("push", str(tree), "m", "--exclude", "*.log")
    assert (code, out) == (2, "")
    assert "every file in it is excluded" in err and err.count("\n") == 1


def test_dry_run_lists_what_it_would_send_reuse_and_skip(
    cli: Cli, local_env: dict[str, str], make_tree: Tree
) -> None:
    tree = make_tree({"a.txt": b"a", "b.txt": b"b", "x.log": b"l", ".git/HEAD": b"h"})
    assert cli("push", str(tree), "m", "--exclude", "*.log")[0] == 0
    (tree / "b.txt").write_bytes(b"bb")
    code, out, _ = cli("push", str(tree), "m", "--exclude", "*.log", "--dry-run", "--json")
    plan = json.loads(out)
    assert code == 0
    assert plan["spec"] == "m:0.1" and plan["unchanged"] is None
    assert plan["send"] == [{"path": "b.txt", "size": 2}]
    assert plan["reuse"] == ["a.txt"]
    assert plan["skip"] == [".git/", "x.log"]
    code, out, _ = cli("push", str(tree), "m", "--exclude", "*.log", "--dry-run")
    assert "send  b.txt" in out and "reuse  a.txt" in out and "skip  x.log" in out
    assert cli("versions", "m")[1] == "0.0\n"  # a dry run changes nothing


def test_an_unchanged_push_makes_no_version(
    cli: Cli, local_env: dict[str, str], make_tree: Tree
) -> None:
    tree = make_tree({"a.txt": b"a", "sub/b.txt": b"b"}, empty_dirs=("empty",))
    assert cli("push", str(tree), "m", "--meta", "k=v")[:2] == (0, "m:0.0\n")
    code, out, err = cli("push", str(tree), "m", "--meta", "k=v")
    assert (code, out) == (0, "m:0.0\n")
    assert "m:0.0 already holds these files" in err and "--force-new" in err
    assert cli("push", str(tree), "m", "--meta", "k=v", "--force-new")[1] == "m:0.1\n"
    assert cli("push", str(tree), "m", "--meta", "k=other")[1] == "m:0.2\n"  # metadata differs
    (tree / "empty" / "now.txt").write_bytes(b"n")
    assert cli("push", str(tree), "m", "--meta", "k=other")[1] == "m:0.3\n"  # a file more
    assert cli("push", str(tree), "m:5.0", "--meta", "k=other")[1] == "m:5.0\n"  # pinned
    assert cli("versions", "m")[1] == "5.0\n0.3\n0.2\n0.1\n0.0\n"
    assert cli("push", str(tree), "m", "--meta", "k=other", "-q")[:3] == (0, "m:5.0\n", "")


def test_an_unchanged_push_of_a_yanked_version_makes_a_new_one(
    store: AssetStore, make_tree: Tree
) -> None:
    tree = make_tree({"a.txt": b"a"})
    first = store.push(tree, "m")
    assert store.push(tree, "m") == first
    store.lifecycle.yank("m:0.0", reason="bad")
    assert store.push(tree, "m").spec == "m:0.1"


def test_an_unchanged_push_sees_content_not_timestamps(store: AssetStore, make_tree: Tree) -> None:
    tree = make_tree({"a.txt": b"same"})
    first = store.push(tree, "m")
    os.utime(tree / "a.txt", (1, 1))
    assert store.push(tree, "m").spec == first.spec
    (tree / "a.txt").write_bytes(b"diff")  # same size, other bytes
    assert store.push(tree, "m").spec == "m:0.1"


def test_a_change_of_kind_is_refused_unless_allowed(
    cli: Cli, local_env: dict[str, str], make_tree: Tree, tmp_path: Path
) -> None:
    single = tmp_path / "model.bin"
    single.write_bytes(b"weights")
    assert cli("push", str(single), "m")[1] == "m:0.0\n"
    tree = make_tree({"model.bin": b"weights", "extra.txt": b"x"})
    code, out, err = cli("push", str(tree), "m")
    assert (code, out) == (2, "")
    assert "it is a dir, and m:0.0 is a file" in err and "--allow-kind-change" in err
    assert cli("push", str(tree), "m", "--allow-kind-change")[1] == "m:0.1\n"
    code, _, err = cli("push", str(single), "m")
    assert code == 2 and "it is a file, and m:0.1 is a dir" in err
    assert cli("versions", "m")[1] == "0.1\n0.0\n"
