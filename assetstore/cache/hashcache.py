"""The sha256 of local files, remembered by file identity between pushes.

An incremental push must know which files are unchanged, and hashing a whole tree to
find out costs 0.5 to 2 s per GiB (sha256, depending on the CPU). Like git's index and
DVC's state database, this keeps each file's sha256 with what ``stat`` said when it was
hashed (``fileid.py``: device, inode, size, mtime and ctime in nanoseconds) and when.

The rule: a remembered hash is used only when the file's identity now is exactly the
one remembered, and the row was written at least ``fileid.SETTLE_NS`` after the file's
last change (mtime or ctime) — so the file cannot have changed since within one tick of
its stamps. A file changed that recently when it is hashed is not remembered at all.
Anything else (no row, another identity, a row older than the change, a malformed
row) means: hash the file.

Its limits: a process that can write the assets dir can also write this database, and a
row forged with a matching identity and a later time is believed, as git believes its
index. It is a cache: when its database cannot be opened or written (a read-only
assets dir, a full disk, a symlink in its place), files are simply hashed again.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from ..io.stream import LocalPath, sha256_file
from .fileid import SETTLE_NS, changed_ns, identity_of, settled

log = logging.getLogger("assetstore")
_SCHEMA_VERSION = 2  # 1 had no hashed_at_ns: its rows are dropped, not trusted
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS hashes (path TEXT PRIMARY KEY, identity TEXT NOT NULL, "
    "sha256 TEXT NOT NULL, hashed_at_ns INTEGER NOT NULL)"
)
_SHA256 = re.compile(r"sha256:[0-9a-f]{64}")


class Identity(NamedTuple):
    """A file's identity (``fileid.identity_of``), as text, and when it was seen (a
    tuple: one is made for every file of a push)."""

    text: str
    changed_ns: int
    seen_at_ns: int


def identity(st: os.stat_result, seen_at_ns: int) -> Identity | None:
    """What identifies the file ``st`` describes (seen at ``seen_at_ns``), or None
    when it changed too shortly before to be told apart from a later write."""
    if not settled(st, seen_at_ns):
        return None
    dev, ino, size, mtime, ctime = identity_of(st)
    return Identity(f"{dev}:{ino}:{size}:{mtime}:{ctime}", changed_ns(st), seen_at_ns)


def stat_identity(path: LocalPath) -> tuple[os.stat_result, Identity | None]:
    """``path``'s stat and its identity (None: too recently changed to remember)."""
    seen_at = time.time_ns()
    st = os.stat(path)  # noqa: PTH116 (a path given as text: no pathlib object per file)
    return st, identity(st, seen_at)


class HashCache:
    """Remembered hashes in the SQLite database at ``path`` (None: remember nothing)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        # path -> (identity, sha256, hashed_at_ns)
        self._known: dict[str, tuple[str, str, int]] | None = None
        self._learned: dict[str, tuple[str, str, int]] = {}
        self._loading = threading.Lock()

    def sha256(self, file: LocalPath, ident: Identity | None) -> str:
        """The sha256 of ``file``, whose identity is ``ident``: remembered, or computed."""
        sha256 = self.known(file, ident)
        if sha256 is None:
            sha256 = sha256_file(file)
            self.remember(file, ident, sha256)
        return sha256

    def known(self, file: LocalPath, ident: Identity | None) -> str | None:
        """The remembered sha256 of ``file`` if its identity is still ``ident`` and the
        row was written once its last change had settled (the module's rule)."""
        if ident is None:
            return None
        hit = self._load().get(_key(file))
        if hit is None or hit[0] != ident.text or not _SHA256.fullmatch(hit[1]):
            return None
        return hit[1] if hit[2] - ident.changed_ns >= SETTLE_NS else None

    def remember(self, file: LocalPath, ident: Identity | None, sha256: str) -> None:
        """Note that ``file``, while its identity is ``ident``, holds bytes of ``sha256``
        (hashed from a read that began after ``ident`` was seen)."""
        if ident is not None:
            self._learned[_key(file)] = (ident.text, sha256, ident.seen_at_ns)

    def save(self) -> None:
        """Write what was learned; a failure only costs hashing again next time."""
        if not self._learned or self.path is None:
            return
        rows = [(path, *row) for path, row in self._learned.items()]
        try:
            with self._connect() as db:
                db.executemany("INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?)", rows)
            if self._known is not None:
                self._known.update(self._learned)
            self._learned.clear()
        except Exception as exc:  # sqlite3.Error or OSError: the cache is optional
            log.debug("could not save the hash cache %s: %s", self.path, exc)

    def _load(self) -> dict[str, tuple[str, str, int]]:
        """Every remembered hash, read once (plan_files asks from several threads)."""
        with self._loading:
            if self._known is None:
                self._known = self._read()
        return self._known

    def _read(self) -> dict[str, tuple[str, str, int]]:
        if self.path is None or not self.path.is_file():
            return {}
        try:
            with self._connect() as db:
                rows = db.execute("SELECT path, identity, sha256, hashed_at_ns FROM hashes")
                return {
                    str(path): (str(ident), str(sha), at)
                    for path, ident, sha, at in rows
                    if isinstance(at, int)
                }
        except Exception as exc:  # a corrupt or locked database: hash again
            log.debug("could not read the hash cache %s: %s", self.path, exc)
            return {}

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        """A connection, committed and closed on the way out."""
        import sqlite3

        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_symlink():  # sqlite3 would follow it, and write where it points
            raise OSError(f"{self.path} is a symlink")
        db = sqlite3.connect(self.path, timeout=10)
        try:
            if db.execute("PRAGMA user_version").fetchone()[0] != _SCHEMA_VERSION:
                db.execute("DROP TABLE IF EXISTS hashes")
                db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
            db.execute(_SCHEMA)
            yield db
            db.commit()
        finally:
            db.close()


def _key(file: LocalPath) -> str:
    """``file``'s absolute path, as rows are keyed (``Path.absolute`` costs ten times
    more: 0.4 s of a push of 10,000 files; ``resolve`` would follow symlinks)."""
    return os.path.abspath(file)  # noqa: PTH100
