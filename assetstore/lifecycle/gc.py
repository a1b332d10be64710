"""``gc``: delete the expired versions that nothing protects, then every object under
the store's prefix that no committed version needs — the leftovers of deletes, data of
pushes that never committed, marks of versions that are gone, objects in the aliases'
journals that are no journal entry. Never an object a committed manifest names, never
anything of a name while a push of it holds a reservation, never outside the prefix.
The reservations of pushes that died are ``repair``'s, which gc runs first."""

from __future__ import annotations

from ..model.lifecycle import now
from ..repository.layout import MOVE_FILE, valid_name
from ..repository.repository import Repository
from .deleting import Report, delete, remove, sweep
from .rules import expired


def collect(repo: Repository, *, by: str, dry_run: bool = False) -> Report:
    report = Report(dry_run=dry_run)
    for name in sorted({name for name, _ in repo.manifest_objects()}):
        gone = expired(repo, name, now())
        if gone:
            delete(repo, name, gone, by=by, reason="expired", strict=False, dry_run=dry_run,
                   report=report, orphans=True)  # fmt: skip
        else:
            sweep(repo, name, report, orphans=True)
    _journal_garbage(repo, report)
    return report


def _journal_garbage(repo: Repository, report: Report) -> None:
    folder = repo.alias_folder("").rstrip("/")
    with repo.errors("listing the aliases' journals in", path=folder):
        entries = repo.listed(folder)
    stray = []
    for entry in entries:
        head, _, base = repo.under(folder, entry.path).rpartition("/")
        name, _, alias = head.rpartition("/")
        if not (MOVE_FILE.fullmatch(base) and alias and valid_name(name)):
            stray.append((entry.path, entry.size))
    remove(stray, "no alias journal entry", repo, report)
