"""The per-process memo of parsed cached manifests: ``assetstore.get`` on a warm cache
costs one ``stat``, not a parse (docs/benchmarks.md, W4)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from ..model.manifest import Manifest, parse_manifest
from ..model.spec import Version
from .fileid import FileIdentity
from .fileid import identity_of as _identity_of
from .fileid import settled as _settled


class _Memo:
    __slots__ = ("data", "identity", "manifest")

    def __init__(self, identity: FileIdentity, manifest: Manifest, data: bytes | None) -> None:
        self.identity = identity
        self.manifest = manifest
        self.data = data  # the bytes parsed while the file may change unseen, else None


class ManifestMemo:
    """Parsed, validated cached manifests, reused while their file stays the same.

    Checking that the file is unchanged costs one ``stat`` (``fileid.py``: a replaced
    file — the cache writes manifests by rename — has another inode, an edited one other
    times), parsing and validating it much more (docs/benchmarks.md). A file changed
    within the settle window before it was read is read again on each use and compared
    to the bytes parsed, until the window has passed: a change within the filesystem's
    time granularity would not show in its stamps. Errors are not kept: a corrupt
    manifest fails each time.
    """

    def __init__(self, max_files: int = 1_000_000, max_entries: int = 256) -> None:
        self.max_files = max_files  # the files of all manifests kept, summed
        self.max_entries = max_entries
        self._entries: dict[str, _Memo] = {}
        self._lock = threading.Lock()

    def get(self, path: Path, name: str, version: Version) -> Manifest:
        key = str(path)
        memo = self._entries.get(key)
        if memo is not None and memo.data is None:
            try:
                if _identity_of(path.stat()) == memo.identity:
                    return memo.manifest
            except OSError:
                pass  # gone or unreadable: the read below says which
        with path.open("rb") as stream:
            info = os.fstat(stream.fileno())
            read_at = time.time_ns()
            data = stream.read()
        if memo is not None and memo.data == data:
            manifest = memo.manifest  # the same bytes: read again only as they were recent
        else:
            manifest = parse_manifest(data, name=name, version=version)
        settled = _settled(info, read_at)
        self._keep(key, _Memo(_identity_of(info), manifest, None if settled else data))
        return manifest

    def seed(self, path: Path, manifest: Manifest, data: bytes) -> None:
        """Remember a manifest just written to ``path`` as ``data`` (checked by a read
        on its next use, like any recent file)."""
        try:
            identity = _identity_of(path.stat())
        except OSError:
            return
        self._keep(str(path), _Memo(identity, manifest, data))

    def forget(self, path: Path) -> None:
        with self._lock:
            self._entries.pop(str(path), None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _keep(self, key: str, memo: _Memo) -> None:
        size = len(memo.manifest.files)
        if size > self.max_files:
            return
        with self._lock:
            entries = self._entries
            entries.pop(key, None)
            held = sum(len(m.manifest.files) for m in entries.values()) + size
            while entries and (held > self.max_files or len(entries) >= self.max_entries):
                oldest = next(iter(entries))
                held -= len(entries.pop(oldest).manifest.files)
            entries[key] = memo


MANIFESTS = ManifestMemo()
