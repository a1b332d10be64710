"""Stale reservations: a push that died after reserving its version must not block
that version number for good.

A reservation records who holds it (host, boot id, pid, pusher) and since when. It is
reclaimable when its pusher provably died — same host and boot, pid gone — or when it
is older than the reservation timeout (``ASSETSTORE_RESERVATION_TIMEOUT_SECONDS``,
default a day; ``push --reclaim-after``, ``repair --older-than``). A push checks that
its reservation is still its own just before it commits, so a slow push whose
reservation was reclaimed fails cleanly instead of committing a version whose files
another process removed.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..model.spec import Version

if TYPE_CHECKING:
    from ..config.settings import Settings


@dataclass(frozen=True)
class Reservation:
    name: str
    version: Version
    body: bytes
    owner: dict[str, Any]

    @property
    def spec(self) -> str:
        return f"{self.name}:{self.version}"

    def age_seconds(self, now: datetime | None = None) -> float | None:
        try:
            since = datetime.fromisoformat(str(self.owner["reserved_at"]))
        except (KeyError, ValueError):
            return None
        return ((now or datetime.now(timezone.utc)) - since).total_seconds()

    def describe(self) -> str:
        age = self.age_seconds()
        shown = "an unknown time" if age is None else _duration(age)
        who = self.owner.get("pushed_by", "an unknown pusher")
        return f"reserved by {who} on {self.owner.get('host', '?')} {shown} ago"

    def to_dict(self) -> dict[str, Any]:
        age = self.age_seconds()
        return {
            "spec": self.spec,
            "pushed_by": self.owner.get("pushed_by"),
            "host": self.owner.get("host"),
            "pid": self.owner.get("pid"),
            "reserved_at": self.owner.get("reserved_at"),
            "age_seconds": None if age is None else round(age),
        }


def parse_reservation(name: str, version: Version, body: bytes) -> Reservation:
    try:
        owner = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested past reason: unreadable
        owner = {}
    return Reservation(name, version, body, owner if isinstance(owner, dict) else {})


def pusher_gone(reservation: Reservation) -> bool:
    """Whether the process that made ``reservation`` ran on this host and has ended."""
    owner = reservation.owner
    if owner.get("boot_id") != boot_id() or owner.get("host") != socket.gethostname():
        return False
    pid = owner.get("pid")
    return isinstance(pid, int) and not _alive(pid)


def why_reclaimable(reservation: Reservation, *, older_than: float) -> str | None:
    """Why ``reservation`` may be reclaimed, or None while its push may be alive."""
    owner = reservation.owner
    if pusher_gone(reservation):
        return f"its pusher (pid {owner['pid']} on this host) is gone"
    age = reservation.age_seconds()
    if age is None:
        return "it is unreadable" if not owner else None
    if age > older_than:
        return f"it is older than {_duration(older_than)}"
    return None


def owner_record(pushed_by: str, nonce: str) -> dict[str, Any]:
    return {
        "pushed_by": pushed_by,
        "host": socket.gethostname(),
        "boot_id": boot_id(),
        "pid": os.getpid(),
        "reserved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "nonce": nonce,
    }


@cache
def boot_id() -> str:
    """This boot's id (Linux), so a pid is only compared with pids of the same boot."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _duration(seconds: float) -> str:
    """A short human duration.

    >>> _duration(7260), _duration(90)
    ('2h1m', '90s')
    """
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    return f"{minutes // 60}h{minutes % 60}m" if minutes >= 60 else f"{minutes}m"


@dataclass(frozen=True)
class Publisher:
    """Who publishes, how many transfers at once, and when a reservation is stale."""

    pushed_by: str
    workers: int = 8
    reclaim_after: float = 86400.0  # a reservation older than this is a dead push's
    takeover_after: float = 86400.0  # an abort older than this is a dead reclaimer's

    @classmethod
    def of(cls, settings: Settings, reclaim_after: float | None = None) -> Publisher:
        """The publisher the settings describe (``reclaim_after``: instead of the
        reservation timeout)."""
        timeout = settings.reservation_timeout_seconds
        return cls(settings.pushed_by, settings.workers,
                   timeout if reclaim_after is None else reclaim_after, timeout)  # fmt: skip
