"""The records of a version's lifecycle in the bucket: a yank (the version is skipped by
every unpinned resolution, still served when pinned) and a tombstone (the version was
deleted; its number is never given again). Both are small plain-JSON objects beside the
manifest; pure code: their storage is ``repository/marks.py``."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from ..errors import IntegrityError, InvalidSpecError
from .spec import Version

Kind = Literal["yank", "unyank", "delete"]  # an unyank is an event, never stored
STORED: tuple[Kind, ...] = ("yank", "delete")
MAX_MARK_BYTES = 64 * 2**10  # a mark is a few hundred bytes; its reason is the user's
MAX_REASON_BYTES = 4096  # of a yank's, a deletion's or an alias move's --reason
_DURATION = re.compile(r"([1-9][0-9]{0,5})([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True)
class Mark:
    """A yank or a tombstone of ``name:version`` (or, in the catalog, an unyank): who
    made it, when, and why."""

    kind: Kind
    name: str
    version: Version
    at: datetime
    by: str
    reason: str | None = None

    @property
    def spec(self) -> str:
        return f"{self.name}:{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "version": str(self.version),
            "at": self.at.isoformat(timespec="seconds"),
            "by": self.by,
            "reason": self.reason,
        }

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes, where: str) -> Mark:
        """A mark as stored; ``where`` names the object in the error if it is not one."""
        try:
            raw = json.loads(data)
            kind = raw["kind"]
            if kind not in STORED:
                raise ValueError(f"kind {kind!r}")
            return cls(
                kind=kind, name=str(raw["name"]), version=Version.parse(str(raw["version"])),
                at=parse_time(str(raw["at"])), by=str(raw["by"]),
                reason=None if raw.get("reason") is None else str(raw["reason"]),
            )  # fmt: skip
        except (ValueError, KeyError, TypeError, RecursionError, InvalidSpecError) as exc:
            raise IntegrityError(f"malformed lifecycle record {where}: {exc}") from None


def new_mark(kind: Kind, name: str, version: Version, by: str, reason: str | None) -> Mark:
    check_reason(reason)
    return Mark(kind, name, version, now(), by, reason)


def check_reason(reason: str | None) -> None:
    if reason is not None and len(reason.encode()) > MAX_REASON_BYTES:
        raise InvalidSpecError(f"--reason is longer than {MAX_REASON_BYTES} bytes")


def now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def parse_time(text: str) -> datetime:
    """An ISO 8601 time; one without a zone is UTC."""
    found = datetime.fromisoformat(text)
    return found if found.tzinfo else found.replace(tzinfo=timezone.utc)


def expiry_after(duration: timedelta) -> str:
    """The expiry a push records: ``duration`` from now, ISO 8601 in UTC."""
    return (now() + duration).isoformat(timespec="seconds")


def parse_duration(text: str) -> timedelta:
    """``90d``, ``12h``, ``30m``, ``45s`` or ``2w`` as a duration."""
    found = _DURATION.fullmatch(text.strip())
    if not found:
        raise InvalidSpecError(
            f"invalid duration {text!r}: expected a number and a unit, like 90d, 12h or 30m"
        )
    return timedelta(seconds=int(found[1]) * _UNITS[found[2]])
