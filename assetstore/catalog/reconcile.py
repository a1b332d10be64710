"""What a ``catalog sync`` changes, decided once for both of its writers: SQLAlchemy's
(``sql.py``) and plain sqlite3's (``fast.py``).

A version is immutable, so one indexed already is never read again: the sync lists
the bucket's manifests, reads only those of versions the catalog lacks, and compares
the two lists for the rest (1,000 versions indexed: no manifest read at all).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Set
from dataclasses import dataclass, field

from ..errors import IntegrityError
from ..model.manifest import Manifest
from ..model.spec import Version
from .results import SyncReport

Key = tuple[str, Version]


@dataclass
class Changes:
    """The rows a sync updates: flags to clear, flags to set, versions to delete."""

    restore: list[Key] = field(default_factory=list)
    flag: list[Key] = field(default_factory=list)
    forget: list[Key] = field(default_factory=list)


def present_in(committed: Mapping[str, Iterable[Version]]) -> frozenset[Key]:
    """The (name, version) of every committed version of a listing by name."""
    return frozenset((name, v) for name, versions in committed.items() for v in versions)


def unindexed(indexed: Mapping[Key, bool], present: Set[Key]) -> list[Key]:
    """The committed versions the catalog has no row for, by name then version."""
    return sorted(present - indexed.keys())


def add_read(
    report: SyncReport,
    manifests: Iterable[Manifest | IntegrityError],
    add: Callable[[Manifest], bool],
) -> None:
    """Index each manifest read (``add``: False when another writer indexed it first);
    one that cannot be read is reported, neither added nor flagged."""
    for manifest in manifests:
        if isinstance(manifest, IntegrityError):
            report.malformed[f"{manifest.name}:{manifest.version}"] = str(manifest)
        elif add(manifest):
            report.added.append(manifest.spec)
        else:
            report.unchanged += 1


def reconcile(
    indexed: Mapping[Key, bool], present: Set[Key], forget: bool, report: SyncReport
) -> Changes:
    """Compare the catalog's rows (key -> flagged missing) with the bucket's committed
    versions: a row whose manifest is back is unflagged, one whose manifest is gone is
    flagged once (deleted, with ``forget``)."""
    changes = Changes()
    for key in sorted(indexed):
        spec = f"{key[0]}:{key[1]}"
        missing = indexed[key]
        if key in present and missing:
            changes.restore.append(key)
            report.restored.append(spec)
        elif key in present or (missing and not forget):
            report.unchanged += 1
        elif forget:
            changes.forget.append(key)
            report.forgotten.append(spec)
        else:
            changes.flag.append(key)
            report.flagged_missing.append(spec)
    return changes
