"""Pulling files that live in packs (``model/pack.py``): the wanted ranges of each pack,
merged into a few ranged reads, and each file cut out of what a read brought, checked
against its sha256 and written — never a whole pack when a part of it is wanted."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import IntegrityError
from ..io.stream import Callback, create_file, digest
from ..model.manifest import FileEntry, Manifest
from ..model.pack import coalesce
from ..repository.repository import Repository


@dataclass(frozen=True)
class PackRead:
    """One ranged read of a pack, ``[start, end)``, and the entries whose bytes are in it."""

    source: str  # the pack's path, as the backend names it
    start: int
    end: int
    entries: tuple[FileEntry, ...]

    @property
    def size(self) -> int:
        return sum(entry.size for entry in self.entries)


def pack_reads(remote: Repository, manifest: Manifest, most: int) -> Iterator[PackRead]:
    """The reads that fetch ``manifest``'s packed files: per pack, neighbours merged into
    reads of at most ``most`` bytes (one file larger than that is one read)."""
    by_pack: dict[str, list[FileEntry]] = {}
    for entry in manifest.files:
        if entry.pack is not None:
            by_pack.setdefault(entry.pack, []).append(entry)
    for entries in by_pack.values():
        source = remote.file_path(manifest, entries[0])
        located = ((e.offset, e.size, e) for e in entries)
        for start, end, members in coalesce(located, most=most):
            yield PackRead(source, start, end, tuple(entry for _, _, entry in members))


def unpack(
    read: PackRead,
    data: bytes,
    root: Path,
    mismatch: Callable[[FileEntry, str, int], IntegrityError],
    progress: Callback,
) -> None:
    """Cut each file of ``read`` out of ``data`` (what the read brought: short when the
    pack is), check it and create it under ``root`` (the paths are joined as text: a
    ``Path`` per file costs half as much again as creating the file)."""
    view = memoryview(data)
    base = os.fspath(root)
    folders: set[str] = set()
    for entry, piece in _pieces(read, view):
        got = (digest(hashlib.sha256(piece)), len(piece))
        if got != (entry.sha256, entry.size):
            raise mismatch(entry, *got)
        folder, _, _ = entry.path.rpartition("/")
        if folder and folder not in folders:
            (root / folder).mkdir(parents=True, exist_ok=True)
            folders.add(folder)
        create_file(f"{base}/{entry.path}", piece)
        progress.relative_update(len(piece))


def _pieces(read: PackRead, view: memoryview) -> Iterable[tuple[FileEntry, memoryview]]:
    for entry in read.entries:
        begin = entry.offset - read.start
        yield entry, view[begin : begin + entry.size]
