"""The stat cache of local file hashes: used while a file's identity holds, never for a
file that changed or was written too recently to tell, and optional when its database
cannot be used."""

from __future__ import annotations

import time
from pathlib import Path

from assetstore.cache.hashcache import HashCache, Identity, identity, stat_identity
from assetstore.io.stream import sha256_file

FAKE = "sha256:" + "f" * 64  # a hash no content has: proves the file was not read


def settled(path: Path, data: bytes) -> Identity:
    """Write ``path`` and look at it a minute later (past the racy window, which counts
    from its last change, mtime or ctime): its identity then."""
    path.write_bytes(data)
    ident = identity(path.stat(), time.time_ns() + 60 * 10**9)
    assert ident is not None
    return ident


def test_a_file_whose_identity_holds_is_not_read_again(tmp_path: Path) -> None:
    cache = HashCache(tmp_path / "state" / "hashes.db")
    ident = settled(tmp_path / "f", b"one")
    cache.remember(tmp_path / "f", ident, FAKE)
    cache.save()
    assert HashCache(tmp_path / "state" / "hashes.db").sha256(tmp_path / "f", ident) == FAKE


def test_a_changed_file_is_hashed_again(tmp_path: Path) -> None:
    db = tmp_path / "hashes.db"
    cache = HashCache(db)
    cache.remember(tmp_path / "f", settled(tmp_path / "f", b"one"), FAKE)
    cache.save()
    ident = settled(tmp_path / "f", b"two")  # same size, new mtime and ctime
    assert HashCache(db).sha256(tmp_path / "f", ident) == sha256_file(tmp_path / "f")


def test_a_file_written_just_now_is_not_remembered(tmp_path: Path) -> None:
    db = tmp_path / "hashes.db"
    cache = HashCache(db)
    (tmp_path / "f").write_bytes(b"fresh")
    ident = stat_identity(tmp_path / "f")[1]
    assert ident is None  # written just now: a write in the same clock tick could follow
    cache.remember(tmp_path / "f", ident, FAKE)
    cache.save()
    assert HashCache(db).sha256(tmp_path / "f", ident) == sha256_file(tmp_path / "f")


def test_hashes_computed_here_are_kept(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "hashes.db"
    ident = settled(tmp_path / "f", b"data")
    cache = HashCache(db)
    assert cache.sha256(tmp_path / "f", ident) == sha256_file(tmp_path / "f")
    cache.save()
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT path, sha256 FROM hashes").fetchall()
    assert rows == [(str(tmp_path / "f"), sha256_file(tmp_path / "f"))]


def test_an_unusable_database_only_costs_hashing(tmp_path: Path) -> None:
    (tmp_path / "not-a-dir").write_bytes(b"")
    ident = settled(tmp_path / "f", b"data")
    for db in (tmp_path / "not-a-dir" / "hashes.db", tmp_path / "corrupt.db"):
        if db.name == "corrupt.db":
            db.write_bytes(b"this is not sqlite" * 100)
        cache = HashCache(db)
        assert cache.sha256(tmp_path / "f", ident) == sha256_file(tmp_path / "f")
        cache.save()  # fails quietly
        assert HashCache(db).sha256(tmp_path / "f", ident) == sha256_file(tmp_path / "f")


def test_no_database_remembers_nothing(tmp_path: Path) -> None:
    ident = settled(tmp_path / "f", b"data")
    cache = HashCache(None)
    cache.remember(tmp_path / "f", ident, FAKE)
    cache.save()
    assert cache.sha256(tmp_path / "f", ident) == sha256_file(tmp_path / "f")


def test_a_row_older_than_the_files_last_change_is_not_trusted(tmp_path: Path) -> None:
    """A row that says it was written before the file last changed (a stale database, or
    one copied from elsewhere) proves nothing: the file is hashed."""
    import sqlite3

    db = tmp_path / "hashes.db"
    ident = settled(tmp_path / "f", b"data")
    cache = HashCache(db)
    cache.remember(tmp_path / "g", ident, FAKE)
    cache.save()  # creates the schema
    for hashed_at in (ident.changed_ns - 1, ident.changed_ns + 10**9):  # before, too soon
        with sqlite3.connect(db) as connection:
            connection.execute(
                "INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?)",
                (str(tmp_path / "f"), ident.text, FAKE, hashed_at),
            )
        assert HashCache(db).sha256(tmp_path / "f", ident) == sha256_file(tmp_path / "f")


def test_rows_of_the_first_schema_are_dropped_not_trusted(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "hashes.db"
    ident = settled(tmp_path / "f", b"data")
    with sqlite3.connect(db) as connection:
        connection.execute(
            "CREATE TABLE hashes (path TEXT PRIMARY KEY, identity TEXT, sha256 TEXT)"
        )
        connection.execute(
            "INSERT INTO hashes VALUES (?, ?, ?)", (str(tmp_path / "f"), ident.text, FAKE)
        )
    assert HashCache(db).sha256(tmp_path / "f", ident) == sha256_file(tmp_path / "f")
