"""Packs: the small files of a pushed version in a few objects instead of one object
each — an uncompressed POSIX tar (pax format), so ``tar -x`` recovers the files with no
assetstore at all. Each file's bytes are one contiguous range of its pack, which the
manifest names (``FileEntry.pack`` and ``offset``): a pull reads just those ranges.

A pack holds the files of one version in path order, each a header then its bytes
padded to 512, and ends with the two zero blocks of a tar's end. Pure functions only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

DEFAULT_MIN_FILES = 64  # measured: docs/benchmarks.md, "Packs"
DEFAULT_FILE_MAX = 2**20
DEFAULT_PACK_MAX = 64 * 2**20

BLOCK = 512  # a tar's block: every header and every file's bytes start on one
END = bytes(2 * BLOCK)  # a tar's end: two zero blocks
# Ranges of a pack read in one request when a pull wants files near one another: a gap
# this small costs less to read than a request of its own.
READ_GAP = 64 * 2**10
T = TypeVar("T")


@dataclass(frozen=True)
class PackRules:
    """Which files of a push go into packs: those smaller than ``file_max`` bytes, when
    the push sends at least ``min_files`` of them (``enabled``: at all); packs of at most
    ``pack_max`` bytes."""

    enabled: bool = True
    min_files: int = DEFAULT_MIN_FILES
    file_max: int = DEFAULT_FILE_MAX
    pack_max: int = DEFAULT_PACK_MAX

    def select(self, sizes: Iterable[tuple[str, int]]) -> frozenset[str]:
        """The paths among ``sizes`` (path, size) that go into packs."""
        if not self.enabled:
            return frozenset()
        small = frozenset(path for path, size in sizes if size < self.file_max)
        return small if len(small) >= self.min_files else frozenset()


NO_PACKS = PackRules(enabled=False)


def header(path: str, size: int, mtime: int) -> bytes:
    """The tar header(s) of a regular file at ``path`` (mode 644, owner 0): what
    ``tarfile`` writes in pax format — one ustar block, after a pax block for a path
    ustar cannot hold (long, or not ASCII)."""
    if _fits_ustar(path):
        return _ustar(path, size, mtime)
    import tarfile  # here: ``import assetstore`` reads the defaults above, not tarfile

    info = tarfile.TarInfo(path)
    info.size, info.mtime, info.mode = size, mtime, 0o644
    return info.tobuf(tarfile.PAX_FORMAT, encoding="utf-8", errors="strict")


def _fits_ustar(path: str) -> bool:
    """Whether ``path`` fits one ustar header: at most 100 ASCII characters."""
    return len(path) <= 100 and path.isascii()


# The ustar fields every header of ``_ustar`` has: mode 644, owner and group 0, the
# type, magic and version, then names, device numbers, prefix and padding (all zero).
_MODE_OWNER = b"0000644\0" + b"0000000\0" * 2
_TYPE_AND_REST = b"0" + bytes(100) + b"ustar\x0000" + bytes(247)
# Their share of the checksum, and the checksum field's own (counted as spaces).
_FIXED_SUM = sum(_MODE_OWNER) + sum(_TYPE_AND_REST) + sum(b" " * 8)


def _ustar(path: str, size: int, mtime: int) -> bytes:
    """The one ustar block ``tarfile`` writes for a path that fits it, built directly:
    ``TarInfo.tobuf`` takes 45 µs a file, a fifth of a push of 10,000 small files (and
    summing the whole block for its checksum 5 µs: only the fields that vary are)."""
    name = path.encode()
    times = b"%011o\0%011o\0" % (size, mtime)
    checksum = b"%06o\0 " % (_FIXED_SUM + sum(name) + sum(times))
    return b"".join((name.ljust(100, b"\0"), _MODE_OWNER, times, checksum, _TYPE_AND_REST))


def padded(size: int) -> int:
    """The bytes ``size`` bytes of a file take in a tar: up to the next block."""
    return size + -size % BLOCK


def packed_size(path: str, size: int) -> int:
    """The bytes ``path`` takes in a pack: its header(s) and its padded bytes."""
    head = BLOCK if _fits_ustar(path) else len(header(path, size, 0))
    return head + padded(size)


def split(files: Sequence[tuple[str, int]], limit: int) -> list[list[int]]:
    """``files`` (path, size) cut into packs of at most ``limit`` bytes (a file larger
    than that on its own), in their order; the indexes of each pack's files."""
    packs: list[list[int]] = []
    used = limit  # so that the first file opens a pack
    for index, (path, size) in enumerate(files):
        taken = packed_size(path, size)
        if used + taken + len(END) > limit:
            packs.append([])
            used = 0
        packs[-1].append(index)
        used += taken
    return packs


def pack_names(count: int, taken: Iterable[str], tag: str) -> list[str]:
    """``count`` names of packs (``pack-0000-{tag}.tar``, ...) that no path in ``taken``
    (the version's files that are objects of their own) already has. ``tag`` is the
    push's own: a write of a push reclaimed under it that lands late never replaces
    an object of the push that takes the version next."""
    busy = set(taken)
    names = (f"pack-{number:04d}-{tag}.tar" for number in range(count + len(busy)))
    return [name for name in names if name not in busy][:count]


def coalesce(
    located: Iterable[tuple[int, int, T]], *, gap: int = READ_GAP, most: int
) -> Iterator[tuple[int, int, list[tuple[int, int, T]]]]:
    """The (offset, size, item) of one pack's wanted files, merged into reads
    ``(start, end, members)``: neighbours at most ``gap`` bytes apart share a read, and
    a read is at most ``most`` bytes (unless one file alone is larger)."""
    members: list[tuple[int, int, T]] = []
    start = end = 0
    for offset, size, item in sorted(located, key=lambda found: found[0]):
        if members and (offset - end > gap or offset + size - start > most):
            yield start, end, members
            members = []
        if not members:
            start = offset
        members.append((offset, size, item))
        end = max(end, offset + size)
    if members:
        yield start, end, members
