"""Which file, with which content, is at a path — as far as ``stat`` can tell.

A file is told apart by ``(st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)``: a
rename over it gives another inode, a write or a truncation other times (and any
change, ``os.utime`` included, a new ctime). Stamps have a granularity (a few ms on
ext4, 2 s on FAT) and an NFS server's clock may drift, so a file changed less than
``SETTLE_NS`` before it was looked at could change again without any stamp changing:
its identity proves nothing yet (git's "racy" case). The manifest memo, the hash cache
and the store's config-file check all follow this one rule.
"""

from __future__ import annotations

import os

SETTLE_NS = 2_000_000_000
FileIdentity = tuple[int, int, int, int, int]


def identity_of(info: os.stat_result) -> FileIdentity:
    """The identity of the file ``info`` describes."""
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def changed_ns(info: os.stat_result) -> int:
    """When the file last changed: the later of its mtime and ctime."""
    return max(info.st_mtime_ns, info.st_ctime_ns)


def settled(info: os.stat_result, seen_at_ns: int) -> bool:
    """Whether the file ``info`` describes, looked at ``seen_at_ns``, had not changed
    within the settle window before: its identity then stands for its content."""
    return seen_at_ns - changed_ns(info) >= SETTLE_NS
