"""Aliases: set, list, history, rollback, rm — each move one entry of the alias's
journal in the bucket (``repository/journal.py``); resolving ``NAME@ALIAS`` is the
reader's (``reading.py``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from .errors import AssetNotFoundError, AssetStoreError, InvalidSpecError, ProtectedError
from .model.alias import Move
from .model.lifecycle import check_reason
from .model.spec import Spec, Version, check_alias, parse_spec
from .reading import Reader
from .repository import journal

if TYPE_CHECKING:
    from .catalog.sql import Catalog

log = logging.getLogger("assetstore")


@dataclass(frozen=True)
class AliasValue:
    """An alias and what it is (or was, ``as_of``)."""

    alias: str
    version: Version
    move: Move  # the move that gave it that value

    def to_dict(self) -> dict[str, str]:
        return {
            "alias": self.alias,
            "version": str(self.version),
            "set_at": self.move.at.isoformat(timespec="seconds"),
            "set_by": self.move.by,
        }


class Aliases:
    """The aliases of one store, as ``AssetStore.aliases``."""

    def __init__(self, reader: Reader, pushed_by: str, catalog: Callable[[], Catalog]) -> None:
        self._reader = reader
        self._by = pushed_by
        self._catalog = catalog  # opened on first use

    def set(self, spec: str, version: str, *, reason: str | None = None) -> Move:
        """Point ``NAME@ALIAS`` at ``version`` (``MAJOR.MINOR``, or a partial one resolved
        now: ``1`` is the newest 1.x), which must exist."""
        name, alias = _target(spec)
        wanted = parse_spec(f"{name}:{version}") if version != "latest" else Spec(name)
        scan = self._reader.remote.scan(name)
        # a partial version skips yanked ones; an exact one is refused below if yanked
        found = sorted(scan.committed) if wanted.pinned else scan.offered
        chosen = wanted.best(found)
        if chosen is None:
            listed = ", ".join(str(v) for v in sorted(found, reverse=True)[:10]) or "none"
            raise AssetNotFoundError(
                f"no version of {name} matches {version!r} in {self._reader.remote.url} "
                f"(versions: {listed})",
                name=name,
                backend=self._reader.remote.url,
            )
        return self._move(name, alias, "set", lambda _newest: chosen, reason)

    def rollback(self, spec: str, *, reason: str | None = None) -> Move:
        """Move ``NAME@ALIAS`` back to the value it had before its last move (one move
        more: the journal is never rewritten)."""
        name, alias = _target(spec)

        def previous(newest: Move | None) -> Version | None:
            if newest is None or newest.previous is None:
                raise AssetNotFoundError(f"{name}@{alias} has no earlier value to roll back to")
            return newest.previous

        return self._move(name, alias, "rollback", previous, reason)

    def remove(self, spec: str, *, reason: str | None = None) -> Move:
        """Remove ``NAME@ALIAS`` (a move too: its history stays)."""
        name, alias = _target(spec)

        def removed(newest: Move | None) -> Version | None:
            if newest is None or newest.version is None:
                raise AssetNotFoundError(f"{name} has no alias {alias!r}", name=name)
            return None

        return self._move(name, alias, "rm", removed, reason)

    def values(self, name: str, *, as_of: datetime | None = None) -> list[AliasValue]:
        """Every alias of ``name`` that has a value (had one, ``as_of``), by alias."""
        repo = self._reader.remote
        found = []
        for alias in journal.aliases(repo, name):
            moves = journal.moves(repo, name, alias, last=None if as_of else 1)
            if as_of is not None:
                moves = [m for m in moves if m.at <= as_of]
            if moves and moves[-1].version is not None:
                found.append(AliasValue(alias, moves[-1].version, moves[-1]))
        return found

    def history(self, spec: str) -> list[Move]:
        """Every move of ``NAME@ALIAS``, newest first."""
        name, alias = _target(spec, to_set=False)
        moves = journal.moves(self._reader.remote, name, alias)
        if not moves:
            raise AssetNotFoundError(f"{name} has no alias {alias!r} in {self._reader.remote.url}")
        return moves[::-1]

    def _move(
        self, name: str, alias: str, action: str, decide: journal.Decide, reason: str | None
    ) -> Move:
        check_reason(reason)
        repo = self._reader.remote
        repo.require_bucket()

        def unyanked(newest: Move | None) -> Version | None:
            version = decide(newest)
            if version is not None and version in repo.scan(name).yanked:
                raise ProtectedError(
                    f"{name}:{version} is yanked: an alias may not point at it "
                    f"(assetstore unyank {name}:{version} first)"
                )
            return version

        move = journal.append(
            repo, name, alias, action=action, decide=unyanked, by=self._by, reason=reason
        )
        self._index(move)
        return move

    def _index(self, move: Move) -> None:
        """Index the move in the catalog; a failure is a warning (the journal in the
        bucket is the record: ``catalog sync`` indexes what was missed)."""
        try:
            self._catalog().record_moves(self._reader.remote.url, [move])
        except Exception as exc:
            why = exc if isinstance(exc, AssetStoreError) else type(exc).__name__
            log.warning(
                "%s@%s moved, but the catalog was not updated (%s); run 'assetstore catalog sync'",
                move.name, move.alias, why,
            )  # fmt: skip


def _target(spec: str, *, to_set: bool = True) -> tuple[str, str]:
    """``NAME@ALIAS`` as a move's target: no ``~N``, no sub-path, not ``latest``."""
    parsed = parse_spec(spec)
    if "@" not in spec or parsed.back or parsed.sub_path is not None:
        raise InvalidSpecError(f"{spec!r}: expected NAME@ALIAS (no version, ~N or sub-path)")
    alias = spec.partition("@")[2]
    check_alias(alias, to_set=to_set)
    return parsed.name, alias
