"""``repair``: give back the numbers of pushes that died (``commit.reclaim``), finish
the commits that were decided and not written, and remove decisions whose reservation
is gone — one bad object never stopping the others."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import AssetStoreError, ReservedError
from . import objects
from .commit import outcome_path, parse_outcome, reclaim, reservation_id
from .repository import Repository
from .reservations import Reservation, why_reclaimable


@dataclass(frozen=True)
class Repair:
    reservation: Reservation
    reason: str | None  # why it may be reclaimed; None while its push may be alive
    reclaimed: bool
    error: AssetStoreError | None = None  # reclaiming it failed (the others went on)
    age_seconds: float | None = None  # the reservation's age when it was found

    def to_dict(self) -> dict[str, Any]:
        found = self.reservation.to_dict()
        if self.age_seconds is not None:  # not the age after the reclaim took its time
            found["age_seconds"] = round(self.age_seconds)
        return {
            **found,
            "reclaimable": self.reason,
            "reclaimed": self.reclaimed,
            "error": None if self.error is None else str(self.error),
        }


def repair(
    remote: Repository, *, older_than: float | None, takeover_after: float, dry_run: bool = False
) -> list[Repair]:
    """Reclaim the reservations of pushes that died (``why_reclaimable``) or older than
    ``older_than`` seconds (None: ``takeover_after``), finish the commits decided and not
    written, and remove decisions whose reservation is gone."""
    if older_than is None:
        older_than = takeover_after
    repairs = []
    for held in objects.reservations(remote):
        try:
            repairs.append(_repair_one(remote, held, older_than, takeover_after, dry_run))
        except AssetStoreError as exc:  # one bad object must not stop the others
            repairs.append(Repair(held, None, False, exc))
    if not dry_run:
        _forget_finished_decisions(remote)
    return repairs


def _repair_one(
    remote: Repository, held: Reservation, older_than: float, takeover_after: float, dry_run: bool
) -> Repair:
    age = held.age_seconds()
    reason = _why_repair(remote, held, older_than)
    if not reason or dry_run:
        return Repair(held, reason, False, age_seconds=age)
    try:
        reclaimed = reclaim(remote, held, takeover_after=takeover_after)
    except ReservedError as exc:
        return Repair(held, f"{reason}, but {exc}", False, age_seconds=age)
    return Repair(held, reason, reclaimed, age_seconds=age)


def _why_repair(remote: Repository, held: Reservation, older_than: float) -> str | None:
    found = remote.read_optional(outcome_path(remote, held))
    if found is not None and parse_outcome(found).kind == "commit":
        return "its push decided to commit: the commit is finished"
    return why_reclaimable(held, older_than=older_than)


def _forget_finished_decisions(remote: Repository) -> None:
    """Delete decisions whose reservation is gone (a reservation is deleted before its
    decision, and ids are never reused: such a decision is finished)."""
    for name, version, rid in objects.outcomes(
        remote,
    ):
        current = objects.reservation(remote, name, version)
        if current is None or reservation_id(current) != rid:
            held = Reservation(name, version, b"", {"nonce": rid})
            remote.delete_quietly(outcome_path(remote, held))
