"""pull SPEC...: one path per spec, in order; several versions at once; a failure
fails the command only after the others are in place, naming each failed spec."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

Cli = Callable[..., tuple[int, str, str]]
Tree = Callable[..., Path]


def _push(cli: Cli, make_tree: Tree) -> None:
    for data, target in ((b"zero", "m"), (b"one", "m"), (b"v", "vocab:2.0")):
        assert cli("push", str(make_tree({"a.txt": data})), target)[0] == 0
    assert cli("alias", "set", "m@prod", "0.0")[0] == 0


def test_several_specs_print_one_path_each_in_order(
    cli: Cli, local_env: dict[str, str], make_tree: Tree, tmp_path: Path
) -> None:
    _push(cli, make_tree)
    image = tmp_path / "image"
    specs = ["vocab:2[a.txt]", "m", "m@prod", "m", "m:0.0[a.txt]"]
    code, out, err = cli("pull", *specs, "--to", str(image))
    assert (code, err) == (0, "")
    paths = ("vocab/2.0/a.txt", "m/0.1", "m/0.0", "m/0.1", "m/0.0/a.txt")
    assert out.splitlines() == [str(image / p) for p in paths]
    requirements = tmp_path / "assets.txt"
    requirements.write_text("# what the service needs\nm@prod\n\nvocab:2  # the vocabulary\n")
    code, out, _ = cli("pull", "-r", str(requirements), "--to", str(image), "--json")
    assert json.loads(out) == [
        {"spec": "m@prod", "path": str(image / "m/0.0")},
        {"spec": "vocab:2", "path": str(image / "vocab/2.0")},
    ]


def test_a_failed_spec_fails_the_command_after_the_others(
    cli: Cli, local_env: dict[str, str], make_tree: Tree, tmp_path: Path
) -> None:
    _push(cli, make_tree)
    image = tmp_path / "image"
    code, out, err = cli("pull", "m:0.0", "m:7", "vocab", "nope", "--to", str(image))
    assert code == 3
    assert out.splitlines() == [str(image / "m/0.0"), str(image / "vocab/2.0")]
    assert (image / "vocab/2.0/a.txt").read_bytes() == b"v"  # installed all the same
    lines = err.splitlines()
    assert lines[0].startswith("assetstore: error: m:7: no version of m matches m:7")
    assert lines[1].startswith("assetstore: error: nope: ")
    assert lines[2] == "assetstore: error: 2 of 4 specs failed: m:7, nope"
    code, _, err = cli("pull")
    assert code == 2 and "at least one SPEC" in err
