"""The aliases' journals in the bucket: ``.aliases/{name}/{alias}/{move}.json``, one
plain-JSON object per move, never rewritten.

A move is written create-if-absent (the primitive reservations use) under the number
after the newest one. A writer that finds that number taken — another move landed
first — reads the journal again and takes the next number. Two concurrent moves thus
both land, one after the other, and neither is lost; the alias's value is the last
in that order. No lock, and no read-modify-write of a shared object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone

from ..errors import BackendError, IntegrityError
from ..model.alias import Move
from ..model.spec import Version
from .layout import MOVE_FILE
from .repository import Repository

MAX_MOVE_BYTES = 64 * 2**10  # a move is a few hundred bytes; its reason is the user's
_ATTEMPTS = 50  # moves lost to concurrent ones before giving up (each is one round trip)
Decide = Callable[[Move | None], Version | None]


def numbers(repo: Repository, name: str, alias: str) -> list[int]:
    """The move numbers of the alias's journal, oldest first."""
    folder = repo.alias_folder(name, alias)
    with repo.errors("listing the journal of", path=folder):
        entries = repo.listed(folder, recursive=False)
    found = (MOVE_FILE.fullmatch(repo.under(folder, e.path)) for e in entries)
    return sorted(int(match[1]) for match in found if match)


def moves(repo: Repository, name: str, alias: str, *, last: int | None = None) -> list[Move]:
    """The alias's moves, oldest first (only the ``last`` newest ones, when given)."""
    chosen = numbers(repo, name, alias)
    if last is not None:
        chosen = chosen[-last:] if last else []
    return [read(repo, name, alias, number) for number in chosen]


def read(repo: Repository, name: str, alias: str, number: int) -> Move:
    """One move, checked against the place it is stored at (a hostile bucket could put
    another alias's entry there)."""
    path = repo.move_path(name, alias, number)
    move = Move.from_json(repo.read_small(path, MAX_MOVE_BYTES), repo.url_of(path))
    if (move.name, move.alias, move.number) != (name, alias, number):
        raise IntegrityError(
            f"alias journal entry {repo.url_of(path)} is move {move.number} of "
            f"{move.name}@{move.alias}, not move {number} of {name}@{alias}"
        )
    return move


def aliases(repo: Repository, name: str) -> list[str]:
    """The aliases ``name`` has a journal for (removed ones too)."""
    folder = repo.alias_folder(name)
    with repo.errors("listing the aliases of", path=folder):
        entries = repo.listed(folder)
    found = set()
    for entry in entries:
        alias, _, base = repo.under(folder, entry.path).partition("/")
        if MOVE_FILE.fullmatch(base):
            found.add(alias)
    return sorted(found)


def every_move(repo: Repository) -> Iterator[Move]:
    """Every move of every alias in the bucket (what ``catalog sync`` indexes)."""
    for name in repo.names():
        for alias in aliases(repo, name):
            yield from moves(repo, name, alias)


def append(
    repo: Repository, name: str, alias: str, *, action: str, decide: Decide, by: str,
    reason: str | None,
) -> Move:  # fmt: skip
    """Add one move. ``decide`` gives its version from the newest move so far (None
    to remove the alias); it is asked again when a concurrent move landed first."""
    for _ in range(_ATTEMPTS):
        taken = numbers(repo, name, alias)
        newest = read(repo, name, alias, taken[-1]) if taken else None
        move = Move(
            number=(taken[-1] if taken else 0) + 1, name=name, alias=alias, action=action,
            version=decide(newest), previous=newest.version if newest else None,
            at=datetime.now(timezone.utc).replace(microsecond=0), by=by, reason=reason,
        )  # fmt: skip
        path = repo.move_path(name, alias, move.number)
        if repo.create_once(path, move.to_json(), doing=f"recording {name}@{alias} at"):
            return move
    raise BackendError(
        f"{name}@{alias}: {_ATTEMPTS} concurrent moves landed first; try again",
        backend=repo.url,
        unreachable=False,
    )
