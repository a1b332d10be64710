"""Aliases (``models/bert@prod``): a name for a version that moves, with a journal.

Each move of an alias is one immutable entry of its journal, numbered from 1; the
alias's value is its newest entry's version (none after an ``rm``). Nothing is ever
rewritten: a rollback is one more move, and the journal is the alias's whole history.
Pure code: the journal's storage is ``repository/journal.py``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..errors import AssetNotFoundError, IntegrityError, InvalidSpecError
from .spec import Version, check_alias

ACTIONS = ("set", "rollback", "rm")


@dataclass(frozen=True)
class Move:
    """One entry of an alias's journal."""

    number: int  # 1 for the alias's first move
    name: str
    alias: str
    action: str  # set, rollback or rm
    version: Version | None  # None: removed
    previous: Version | None  # the value before this move
    at: datetime
    by: str
    reason: str | None = None

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True).encode() + b"\n"

    def to_dict(self) -> dict[str, Any]:
        return {
            "alias": self.alias,
            "name": self.name,
            "move": self.number,
            "action": self.action,
            "version": _text(self.version),
            "previous": _text(self.previous),
            "at": self.at.isoformat(timespec="seconds"),
            "by": self.by,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, data: bytes, where: str) -> Move:
        """A move as stored; ``where`` names the object in the error if it is not one."""
        try:
            raw = json.loads(data)
            move = cls(
                number=int(raw["move"]),
                name=str(raw["name"]),
                alias=check_alias(str(raw["alias"])),
                action=str(raw["action"]),
                version=_version(raw["version"]),
                previous=_version(raw["previous"]),
                at=_utc(str(raw["at"])),
                by=str(raw["by"]),
                reason=None if raw.get("reason") is None else str(raw["reason"]),
            )
        except (ValueError, KeyError, TypeError, InvalidSpecError) as exc:
            raise IntegrityError(f"malformed alias journal entry {where}: {exc}") from None
        if move.action not in ACTIONS or (move.version is None) != (move.action == "rm"):
            raise IntegrityError(f"malformed alias journal entry {where}: action {move.action!r}")
        return move


def value_of(
    moves: Sequence[Move], spec_text: str, *, back: int = 0, as_of: datetime | None = None
) -> Version:
    """The version the alias had ``back`` moves ago (``as_of``: at that time), from its
    journal ``moves`` (oldest first); AssetNotFoundError when it had none."""
    if as_of is not None:
        moves = [m for m in moves if m.at <= as_of]
    if back >= len(moves):
        when = f" at {as_of.isoformat(timespec='seconds')}" if as_of else ""
        had = f"only {len(moves)} move(s)" if moves else "no value"
        raise AssetNotFoundError(f"{spec_text}: the alias had {had}{when}")
    move = moves[len(moves) - 1 - back]
    if move.version is None:
        raise AssetNotFoundError(
            f"{spec_text}: the alias was removed (move {move.number}, {move.at:%Y-%m-%d})"
        )
    return move.version


def parse_time(text: str) -> datetime:
    """An ISO 8601 time (``2026-12-03``, ``2026-12-03T10:00``, with or without a zone:
    none means UTC)."""
    try:
        return _utc(text)
    except ValueError:
        raise InvalidSpecError(
            f"invalid time {text!r}: expected ISO 8601, such as 2026-12-03T10:00:00Z"
        ) from None


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (
        moment.replace(tzinfo=timezone.utc)
        if moment.tzinfo is None
        else moment.astimezone(timezone.utc)
    )


def _version(text: Any) -> Version | None:
    return None if text is None else Version.parse(str(text))


def _text(version: Version | None) -> str | None:
    return None if version is None else str(version)
