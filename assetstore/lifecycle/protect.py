"""What protects a version from deletion: an alias pointing at it (``--force``
overrides that), a registered lockfile naming it (nothing does: unregister it first)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..model.spec import Version
from ..release.lockfile import Locked, parse
from ..repository import journal, marks
from ..repository.repository import Repository


@dataclass
class Guards:
    """The aliases and registered services that need one version."""

    aliases: list[str] = field(default_factory=list)  # NAME@ALIAS
    services: list[str] = field(default_factory=list)

    def why(self, *, force: bool = False) -> str | None:
        """Why the version may not be deleted (None: it may); ``force`` overrides an
        alias, never a registered lockfile."""
        reasons = []
        if self.services:
            reasons.append("the registered lockfile of " + ", ".join(self.services) +
                           " pins it (assetstore lock --unregister SERVICE first)")  # fmt: skip
        if self.aliases and not force:
            reasons.append(", ".join(self.aliases) + " points at it (--force overrides an alias)")
        return "; ".join(reasons) or None


def registered_locks(repo: Repository) -> dict[str, list[Locked]]:
    """service -> the entries of its registered lockfile."""
    return {service: parse(text, repo.url_of(repo.lock_path(service)))
            for service, text in marks.registered(repo).items()}  # fmt: skip


def guards(repo: Repository, name: str) -> dict[Version, Guards]:
    """Each version of ``name`` that an alias or a registered lockfile needs."""
    found: dict[Version, Guards] = {}
    for alias in journal.aliases(repo, name):
        last = journal.moves(repo, name, alias, last=1)
        if last and last[-1].version is not None:
            found.setdefault(last[-1].version, Guards()).aliases.append(f"{name}@{alias}")
    for service, entries in registered_locks(repo).items():
        for version in {e.version for e in entries if e.name == name}:
            found.setdefault(version, Guards()).services.append(service)
    return found
