"""Aliases on every server: the journal is the bucket's, written create-if-absent, so
concurrent moves all land; rollback, ``~N``, ``--as-of`` and rm read it back; a journal
entry that lies about itself is refused."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest

from assetstore import AssetStore
from assetstore.errors import AssetNotFoundError, IntegrityError, InvalidSpecError

from .conftest import Backend, subprocess_env

Tree = Callable[..., Path]
pytestmark = pytest.mark.integration
# Each process sets the alias this many times, alternating between two versions.
SETTER = """
import sys
from assetstore import AssetStore
aliases = AssetStore.from_env().aliases
for i in range(int(sys.argv[2])):
    aliases.set("m@prod", ("0.0", "0.1")[i % 2], reason=f"{sys.argv[1]}-{i}")
"""


def _two_versions(store: AssetStore, make_tree: Tree) -> None:
    store.push(make_tree({"a": b"zero"}), "m")
    store.push(make_tree({"a": b"one"}), "m")


@pytest.mark.parametrize("backend", ["local", "s3", "gcs", "az"], indirect=True)
def test_concurrent_alias_moves_from_four_processes_all_land(
    backend: Backend, make_tree: Tree
) -> None:
    store = backend.store()
    _two_versions(store, make_tree)
    each = 6
    setters = [
        subprocess.Popen(
            [sys.executable, "-c", SETTER, f"p{n}", str(each)],
            env={**os.environ, **subprocess_env(backend)},
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    for setter in setters:
        assert setter.wait(timeout=240) == 0, setter.stderr.read() if setter.stderr else ""
    moves = backend.store().aliases.history("m@prod")[::-1]
    assert [m.number for m in moves] == list(range(1, 4 * each + 1))  # none lost, no gap
    assert sorted(m.reason or "" for m in moves) == sorted(
        f"p{n}-{i}" for n in range(4) for i in range(each)
    )
    for before, after in itertools.pairwise(moves):
        assert after.previous == before.version  # each move saw the one before it
    assert str(backend.store().resolve("m@prod")) == str(moves[-1].version)


@pytest.mark.parametrize("backend", ["memory", "local", "s3", "az"], indirect=True)
def test_rollback_back_moves_as_of_and_rm_read_the_journal(
    backend: Backend, make_tree: Tree
) -> None:
    store = backend.store()
    _two_versions(store, make_tree)
    store.push(make_tree({"a": b"two"}), "m:1.0")
    aliases = store.aliases
    assert str(aliases.set("m@prod", "0.0").version) == "0.0"
    time.sleep(1.1)  # moves are stamped to the second
    between = datetime.now(timezone.utc)
    time.sleep(1.1)
    assert str(aliases.set("m@prod", "1").version) == "1.0"  # a partial version: now
    assert [str(store.resolve(f"m@prod~{n}")) for n in (0, 1)] == ["1.0", "0.0"]
    with pytest.raises(AssetNotFoundError, match="only 2 move"):
        store.resolve("m@prod~2")
    assert str(store.resolve("m@prod", as_of=between)) == "0.0"
    assert str(store.info("m@prod", as_of=between).version) == "0.0"
    rolled = aliases.rollback("m@prod", reason="regression")
    assert (str(rolled.version), str(rolled.previous), rolled.action) == ("0.0", "1.0", "rollback")
    assert [str(m.version) for m in aliases.history("m@prod")] == ["0.0", "1.0", "0.0"]
    assert (store.get("m@prod") / "a").read_bytes() == b"zero"
    aliases.set("m@canary", "0.1")
    assert [(v.alias, str(v.version)) for v in aliases.values("m")] == [
        ("canary", "0.1"), ("prod", "0.0")
    ]  # fmt: skip
    aliases.remove("m@canary")
    assert [v.alias for v in aliases.values("m")] == ["prod"]
    with pytest.raises(AssetNotFoundError, match="removed"):
        store.resolve("m@canary")
    assert [m.action for m in aliases.history("m@canary")] == ["rm", "set"]
    assert [v.alias for v in aliases.values("m", as_of=between)] == ["prod"]


@pytest.mark.parametrize("backend", ["local", "s3"], indirect=True)
def test_a_journal_entry_that_lies_about_itself_is_refused(
    backend: Backend, make_tree: Tree
) -> None:
    store = backend.store()
    _two_versions(store, make_tree)
    store.aliases.set("m@prod", "0.0")
    store.aliases.set("m@staging", "0.1")
    stolen = backend.raw.cat_file(backend.key(".aliases/m/staging/0000000001.json"))
    backend.tamper(".aliases/m/prod/0000000002.json", stolen)  # "staging" under prod
    with pytest.raises(IntegrityError, match="is move 1 of m@staging"):
        backend.store().resolve("m@prod")
    backend.tamper(".aliases/m/prod/0000000002.json", b"{not json")
    with pytest.raises(IntegrityError, match="malformed alias journal entry"):
        backend.store().resolve("m@prod")
    backend.tamper(".aliases/m/prod/0000000002.json", b"{" + b" " * (2 * 2**20) + b"}")
    with pytest.raises(IntegrityError, match="larger than 65536 bytes"):
        backend.store().resolve("m@prod")
    with pytest.raises(InvalidSpecError, match="--reason is longer"):
        store.aliases.set("m@prod", "0.0", reason="x" * 5000)
    entry = json.loads(stolen)
    assert entry["alias"] == "staging" and entry["version"] == "0.1"  # plain JSON, readable
