"""The version protocol: how a push makes a version exist, and how the number of a push
that died is given back — safe in every interleaving of pushers and reclaimers.

Objects, under ``{prefix}/.manifests/{name}/``::

    {version}.reserved        the reservation: who pushes, and a random id
    {version}.{id}.outcome    the decision on reservation {id}: "commit" (with the
                              manifest) or "abort" (with who reclaims it)
    {version}.json            the manifest: the commit point

All three are written create-if-absent, so two writers of one key never both win.

A push reserves the version, uploads its files into ``{name}/{version}/``, then decides
"commit" — the decision carries the manifest — and writes the manifest. A reclaimer (a
failed push cleaning up after itself, ``repair``, ``push --reclaim-after``) decides
"abort" before it deletes anything. Exactly one of them wins the decision:

- **commit won**: nothing of the version is ever deleted. Whoever finds the decision
  and no manifest writes the manifest it carries (rolls the commit forward), so a push
  killed right after deciding still commits.
- **abort won**: the pusher never commits (it fails with "reclaimed"), and only the
  reclaimer that decided deletes the data — while the reservation still exists, so no
  other push can write into the folder meanwhile. It deletes the reservation last.

Invariant: the files of a version are deleted only under an "abort" decision of the
reservation that holds the version, by the actor that made it (or, once that actor is
provably gone, by the next reclaimer), and a manifest is written only under a "commit"
decision. So a version exists with every file it lists, or not at all.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import AssetStoreError, BackendError, ReservedError, VersionExistsError
from ..model.manifest import Manifest
from ..model.spec import Version, next_version
from . import objects
from .repository import Repository
from .reservations import (
    Publisher,
    Reservation,
    owner_record,
    parse_reservation,
    pusher_gone,
    why_reclaimable,
)

log = logging.getLogger("assetstore")
# A reservation younger than this belongs to a push that is most likely still running:
# an error about it does not suggest reclaiming it.
YOUNG_SECONDS = 900.0
FREE_VERSION_ATTEMPTS = 5  # an unpinned push tries this many versions, one after another
# How long a reclaimer of another live push waits before its last look at the folder:
# that push learns of the decision within a second (``Watch``); a write under way lands.
SETTLE_SECONDS = 2.0
_HEX32 = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Outcome:
    """The decision on one reservation: commit (with its manifest's bytes) or abort."""

    kind: Literal["commit", "abort"]
    decided_by: dict[str, Any]
    manifest: bytes
    body: bytes

    def stale(self, older_than: float) -> bool:
        """Whether the reclaimer that decided "abort" is gone (or may be taken to be)."""
        return why_reclaimable(_as_reservation(self), older_than=older_than) is not None


# -- pushing ---------------------------------------------------------------------------
def publish(
    remote: Repository,
    name: str,
    version: Version,
    publisher: Publisher,
    transfer: Callable[[Watch], Manifest],
) -> Manifest:
    """Reserve ``name:version``, run ``transfer`` (which moves the bytes and returns the
    manifest), decide to commit and commit; on a failure before the decision, abort.
    ``transfer`` calls ``Watch.check`` between files: it fails once a reclaimer has
    decided on the reservation, so a reclaimed push stops sending soon."""
    held = _reserve(remote, name, version, publisher)
    try:
        with Watch(remote, held) as watch:
            manifest = transfer(watch)
    except _Reclaimed:
        raise _reclaimed(held) from None
    except BaseException as exc:
        if isinstance(exc, Exception) and _decided(remote, held):
            # A reclaimer deleting the files under the transfer makes it fail in odd
            # ways; that, not the symptom, is what happened.
            raise _reclaimed(held) from exc
        _undo(remote, held, publisher)
        raise
    data = manifest.to_json()
    _, made = _decide(remote, held, "commit", data, publisher.pushed_by)
    if not made:  # a reclaimer decided "abort" first
        raise _reclaimed(held)
    if objects.reservation(remote, name, version) != held:
        # Deleted by hand, or by a release that does not follow this protocol: its
        # files may be gone too. Never commit then; the decision is left for repair.
        raise _reclaimed(held)
    objects.commit(remote, manifest, data)
    _finish(remote, held)
    return manifest


class _Reclaimed(Exception):
    """Raised inside a transfer whose reservation a reclaimer decided on."""


class Watch:
    """Looks, every ``interval`` seconds while a transfer runs, whether a decision was
    made on its reservation — which, before the push decides, is a reclaimer's abort."""

    def __init__(self, remote: Repository, held: Reservation, *, interval: float = 1.0) -> None:
        self._remote = remote
        self._path = outcome_path(remote, held)
        self._interval = interval
        self._decided = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="assetstore-watch", daemon=True)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def check(self) -> None:
        """Fail when the reservation was decided on (cheap: an event's flag)."""
        if self._decided.is_set():
            raise _Reclaimed()

    def _poll(self) -> None:
        while not self._done.wait(self._interval):
            try:
                if self._remote.exists(self._path):
                    self._decided.set()
                    return
            except AssetStoreError as exc:  # a look that failed: look again later
                log.debug("could not look for a decision at %s: %s", self._path, exc)


def publish_first_free(
    remote: Repository,
    name: str,
    version: Version,
    push: Callable[[Version], Manifest],
    *,
    bump: str,
    explicit: bool,
) -> Manifest:
    """``push(version)``; when another push took that version first, an unpinned push
    (not ``explicit``) takes the next free one — a few times at most."""
    for _ in range(FREE_VERSION_ATTEMPTS - 1):
        try:
            return push(version)
        except VersionExistsError:
            if explicit:
                raise
        taken = next_version(remote.taken(name), bump)
        log.info("%s:%s was taken meanwhile; pushing %s:%s", name, version, name, taken)
        version = taken
    return push(version)


def reserve(remote: Repository, name: str, version: Version, pushed_by: str) -> Reservation:
    """Claim ``name:version`` with a create-if-absent write; fail if it is taken."""
    owner = owner_record(pushed_by, uuid.uuid4().hex)
    body = json.dumps(owner, sort_keys=True).encode()
    path = remote.reservation_path(name, version)
    remote.require_bucket(create=True)
    try:
        if not remote.create_once(path, body, doing=f"reserving {name}:{version} at"):
            raise ReservedError(
                f"{name}:{version} is reserved by another push (reservation {path})",
                name=name,
                version=str(version),
            )
        committed = remote.exists(remote.manifest_path(name, version))
    except BackendError:
        # The write may have landed with its answer lost, or the check after it failed:
        # withdraw what is ours, so no reservation outlives this failed push.
        _withdraw(remote, name, version, body)
        raise
    held = parse_reservation(name, version, body)
    if committed:
        objects.release(remote, name, version)
        raise VersionExistsError(
            f"{name}:{version} already exists; versions are immutable",
            name=name,
            version=str(version),
        )
    return held


def _reserve(remote: Repository, name: str, version: Version, publisher: Publisher) -> Reservation:
    try:
        return reserve(remote, name, version, publisher.pushed_by)
    except ReservedError:
        held = objects.reservation(remote, name, version)
        if held is None:  # released meanwhile: try once more
            return reserve(remote, name, version, publisher.pushed_by)
        reason = why_reclaimable(held, older_than=publisher.reclaim_after)
        if reason is None:
            raise ReservedError(busy_message(held), name=name, version=str(version)) from None
        log.warning(
            "%s: reclaiming a stale reservation (%s; %s)", held.spec, held.describe(), reason
        )
        reclaim(remote, held, takeover_after=publisher.takeover_after)
        return reserve(remote, name, version, publisher.pushed_by)


def busy_message(held: Reservation) -> str:
    """Why a push of ``held``'s version cannot go ahead, and what to do about it: a
    young reservation is a push under way, which nobody should reclaim."""
    age = held.age_seconds()
    text = f"{held.spec} is {held.describe()}"
    if age is not None and age < YOUNG_SECONDS:
        return f"{text}: another push of it is under way; wait for it, or push another version"
    limit = int(age) if age is not None else int(YOUNG_SECONDS)
    return (
        f"{text}; if that push died, run 'assetstore repair --older-than {limit}' or push "
        f"again with --reclaim-after {limit}"
    )


def _decided(remote: Repository, held: Reservation) -> bool:
    """Whether a decision was made on ``held`` (before its push made one: an abort)."""
    try:
        return remote.exists(outcome_path(remote, held))
    except AssetStoreError:
        return False


def _reclaimed(held: Reservation) -> VersionExistsError:
    return VersionExistsError(
        f"the reservation of {held.spec} was reclaimed while this push ran (it outlived "
        "the reservation timeout); nothing was committed",
        name=held.name,
        version=str(held.version),
    )


def _undo(remote: Repository, held: Reservation, publisher: Publisher) -> None:
    """A failed push removes what it wrote — under an abort decision, so a push whose
    reservation another process decided on never deletes anything."""
    try:
        reclaim(remote, held, takeover_after=publisher.takeover_after,
                pushed_by=publisher.pushed_by, own=True)  # fmt: skip
    except Exception as exc:
        log.warning("%s: could not clean up the failed push: %s", held.spec, exc)


def _withdraw(remote: Repository, name: str, version: Version, body: bytes) -> None:
    """Best effort: delete the reservation of ``name:version`` if it is ``body``, before
    any byte was uploaded under it."""
    try:
        held = objects.reservation(remote, name, version)
        if held is not None and held.body == body:
            objects.release(remote, name, version)
    except AssetStoreError as exc:
        log.warning("%s:%s: could not withdraw its reservation: %s", name, version, exc)


# -- deciding ----------------------------------------------------------------------------
def _decide(
    remote: Repository, held: Reservation, kind: str, manifest: bytes, pushed_by: str
) -> tuple[Outcome | None, bool]:
    """Make the decision on ``held``, or find the one already made; and whether this
    call made it. None: the decision is gone, so the reservation was finished."""
    header = {"outcome": kind, "decided_by": owner_record(pushed_by, uuid.uuid4().hex)}
    body = json.dumps(header, sort_keys=True).encode() + b"\n" + manifest
    path = outcome_path(remote, held)
    if remote.create_once(path, body, doing=f"deciding on {held.spec} at"):
        return parse_outcome(body), True
    found = remote.read_optional(path, doing=f"reading the decision on {held.spec} at")
    return (None if found is None else parse_outcome(found)), False


def outcome_path(remote: Repository, held: Reservation) -> str:
    return remote.outcome_path(held.name, held.version, reservation_id(held))


def reservation_id(held: Reservation) -> str:
    """The reservation's random id, or for a body without one, a digest of the body."""
    nonce = held.owner.get("nonce")
    if isinstance(nonce, str) and _HEX32.fullmatch(nonce):
        return nonce
    return hashlib.sha256(held.body).hexdigest()[:32]


def parse_outcome(body: bytes) -> Outcome:
    """A decision as stored. One that cannot be read counts as "abort" by an unknown
    reclaimer: an unreadable object is never committed."""
    head, _, manifest = body.partition(b"\n")
    try:
        header = json.loads(head)
    except (ValueError, RecursionError):
        header = None
    if not isinstance(header, dict) or header.get("outcome") not in ("commit", "abort"):
        return Outcome("abort", {}, b"", body)
    decided_by = header.get("decided_by")
    owner = decided_by if isinstance(decided_by, dict) else {}
    return Outcome(header["outcome"], owner, manifest, body)


def _as_reservation(outcome: Outcome) -> Reservation:
    """The decision's author, as a reservation (for the staleness rule)."""
    return Reservation("", Version(0, 0), outcome.body, outcome.decided_by)


# -- reclaiming ----------------------------------------------------------------------------
def reclaim(
    remote: Repository,
    held: Reservation,
    *,
    takeover_after: float,
    pushed_by: str = "repair",
    own: bool = False,
) -> bool:
    """Give back the version ``held`` reserves, if it is still reserved so: roll a
    commit decision forward, or decide "abort", delete the data, then the reservation.
    False when there was nothing to do (the reservation changed or went).

    An "abort" another reclaimer decided is left to it, unless it is gone: its process
    ended on this host, or its decision is older than ``takeover_after`` seconds.
    ``own``: the reclaimer is the push itself, failed, with no write left under way."""
    if objects.reservation(remote, held.name, held.version) != held:
        return False
    path = outcome_path(remote, held)
    found = remote.read_optional(path, doing=f"reading the decision on {held.spec} at")
    if found is None and _committed(remote, held):
        objects.release(remote, held.name, held.version)  # committed; only the release was lost
        return True
    if found is None:
        decided, made = _decide(remote, held, "abort", b"", pushed_by)
    else:
        decided, made = parse_outcome(found), False
    if decided is None:
        return False
    if decided.kind == "commit":
        _roll_forward(remote, held, decided)
        return True
    if not made and not decided.stale(takeover_after):
        raise ReservedError(
            f"{held.spec} is being reclaimed by another process "
            f"({_as_reservation(decided).describe().removeprefix('reserved ')})",
            name=held.name,
            version=str(held.version),
        )
    # The reservation is deleted before its decision, whoever finishes it: one still
    # here is the one decided on, and its files may go.
    if objects.reservation(remote, held.name, held.version) != held or _committed(remote, held):
        remote.delete_quietly(path)
        return False
    objects.discard(remote, held.name, held.version, settle=0.0 if own else SETTLE_SECONDS,
                    settled=lambda: pusher_gone(held))  # fmt: skip
    objects.release(remote, held.name, held.version)
    remote.delete_quietly(path)
    return True


def _committed(remote: Repository, held: Reservation) -> bool:
    return remote.exists(remote.manifest_path(held.name, held.version))


def _roll_forward(remote: Repository, held: Reservation, decided: Outcome) -> None:
    """Finish a push that decided to commit and did not write its manifest."""
    from ..model.manifest import parse_manifest

    manifest = parse_manifest(decided.manifest, name=held.name, version=held.version)
    objects.commit(remote, manifest, decided.manifest)
    log.info("%s: committed the manifest its push had decided on", held.spec)
    _finish(remote, held)


def _finish(remote: Repository, held: Reservation) -> None:
    """The version is committed: remove its reservation, then the decision (in this
    order: see ``reclaim``)."""
    try:
        objects.release(remote, held.name, held.version)
        remote.delete_quietly(outcome_path(remote, held))
    except Exception as exc:  # the version is committed; a leftover reservation is harmless
        log.warning("%s: could not remove its reservation: %s", held.spec, exc)
