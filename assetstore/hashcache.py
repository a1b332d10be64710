"""The sha256 of local files, remembered by file identity between pushes.

An incremental push must know which files are unchanged, and hashing a whole tree to
find out costs 0.5 to 2 s per GiB (sha256, depending on the CPU). Like git's index and
DVC's state database, this keeps each file's sha256 with what ``stat`` said when it was
hashed (device, inode, size, mtime and ctime in nanoseconds). A file whose identity is
unchanged is not read again. A file modified within ``_RACY_SECONDS`` of being hashed
is not remembered, because a second write in the same clock tick would leave its
identity unchanged (git's "racy" case).

It is a cache: when its database cannot be opened or written (a read-only assets dir,
a full disk), files are simply hashed again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .hashing import sha256_file

log = logging.getLogger("assetstore")
_RACY_SECONDS = 2.0
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS hashes (path TEXT PRIMARY KEY, identity TEXT NOT NULL, "
    "sha256 TEXT NOT NULL)"
)


def identity(st: os.stat_result, seen_at: float) -> str | None:
    """What identifies the file ``st`` describes (seen at time ``seen_at``), or None
    when it was modified too shortly before to be told apart from a later write."""
    if seen_at - st.st_mtime_ns / 1e9 <= _RACY_SECONDS:
        return None
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def stat_identity(path: Path) -> tuple[os.stat_result, str | None]:
    """``path``'s stat and its identity (None: too recently modified to remember)."""
    seen_at = time.time()
    st = path.stat()
    return st, identity(st, seen_at)


class HashCache:
    """Remembered hashes in the SQLite database at ``path`` (None: remember nothing)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._known: dict[str, tuple[str, str]] | None = None  # path -> (identity, sha256)
        self._learned: dict[str, tuple[str, str]] = {}
        self._loading = threading.Lock()

    def sha256(self, file: Path, ident: str | None) -> str:
        """The sha256 of ``file``, whose identity is ``ident``: remembered, or computed."""
        sha256 = self.known(file, ident)
        if sha256 is None:
            sha256 = sha256_file(file)
            self.remember(file, ident, sha256)
        return sha256

    def known(self, file: Path, ident: str | None) -> str | None:
        """The remembered sha256 of ``file`` if its identity is still ``ident``."""
        if ident is None:
            return None
        hit = self._load().get(str(file.absolute()))
        return hit[1] if hit is not None and hit[0] == ident else None

    def remember(self, file: Path, ident: str | None, sha256: str) -> None:
        """Note that ``file``, while its identity is ``ident``, holds bytes of ``sha256``."""
        if ident is not None:
            self._learned[str(file.absolute())] = (ident, sha256)

    def save(self) -> None:
        """Write what was learned; a failure only costs hashing again next time."""
        if not self._learned or self.path is None:
            return
        rows = [(path, ident, sha) for path, (ident, sha) in self._learned.items()]
        try:
            with self._connect() as db:
                db.executemany("INSERT OR REPLACE INTO hashes VALUES (?, ?, ?)", rows)
            if self._known is not None:
                self._known.update(self._learned)
            self._learned.clear()
        except Exception as exc:  # sqlite3.Error or OSError: the cache is optional
            log.debug("could not save the hash cache %s: %s", self.path, exc)

    def _load(self) -> dict[str, tuple[str, str]]:
        """Every remembered hash, read once (plan_files asks from several threads)."""
        with self._loading:
            if self._known is None:
                self._known = self._read()
        return self._known

    def _read(self) -> dict[str, tuple[str, str]]:
        if self.path is None or not self.path.is_file():
            return {}
        try:
            with self._connect() as db:
                rows = db.execute("SELECT path, identity, sha256 FROM hashes")
                return {path: (ident, sha) for path, ident, sha in rows}
        except Exception as exc:  # a corrupt or locked database: hash again
            log.debug("could not read the hash cache %s: %s", self.path, exc)
            return {}

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        """A connection, committed and closed on the way out."""
        import sqlite3

        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=10)
        try:
            db.execute(_SCHEMA)
            yield db
            db.commit()
        finally:
            db.close()
