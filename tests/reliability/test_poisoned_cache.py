"""A hash cache that lies: a push never publishes a file's old content because a row
of ``hashes.db`` says the file is unchanged."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import run_cli_process

from assetstore import AssetStore

Tree = Callable[..., Path]


@pytest.mark.parametrize("schema", ["first", "current"])
def test_a_poisoned_hash_cache_never_publishes_old_content(
    local_env: dict[str, str], make_tree: Tree, schema: str
) -> None:
    source = make_tree({"a.txt": b"old", "b.txt": b"same"})
    first = run_cli_process(["-q", "push", str(source), "m"], local_env)
    assert first.returncode == 0, first.stderr
    (source / "a.txt").write_bytes(b"new")  # the same size, other bytes
    time.sleep(2.1)  # past the racy window: the cache is asked about this file
    info = (source / "a.txt").stat()
    identity = f"{info.st_dev}:{info.st_ino}:{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}"
    old = "sha256:" + hashlib.sha256(b"old").hexdigest()
    db = Path(local_env["ASSETSTORE_ASSETS_DIR"]) / ".assetstore" / "hashes.db"
    with sqlite3.connect(db) as connection:
        connection.execute("DROP TABLE IF EXISTS hashes")
        if schema == "first":  # the rows an older release wrote: no time of hashing
            connection.execute("PRAGMA user_version = 0")
            connection.execute(
                "CREATE TABLE hashes (path TEXT PRIMARY KEY, identity TEXT, sha256 TEXT)"
            )
            connection.execute(
                "INSERT INTO hashes VALUES (?, ?, ?)", (str(source / "a.txt"), identity, old)
            )
        else:  # a row written before the file's last change
            connection.execute(
                "CREATE TABLE hashes (path TEXT PRIMARY KEY, identity TEXT NOT NULL, "
                "sha256 TEXT NOT NULL, hashed_at_ns INTEGER NOT NULL)"
            )
            connection.execute(
                "INSERT INTO hashes VALUES (?, ?, ?, ?)",
                (str(source / "a.txt"), identity, old, info.st_ctime_ns - 10**9),
            )
    second = run_cli_process(["-q", "push", str(source), "m"], local_env)
    assert second.returncode == 0, second.stderr
    store = AssetStore.from_env()
    manifest = store.info("m:0.1")
    [entry] = [e for e in manifest.files if e.path == "a.txt"]
    assert entry.sha256 == "sha256:" + hashlib.sha256(b"new").hexdigest()
    assert entry.stored_at is None  # sent, not referred to the old bytes
    assert (store.get("m:0.1") / "a.txt").read_bytes() == b"new"
    assert run_cli_process(["verify"], local_env).returncode == 0
