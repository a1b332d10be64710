"""What the catalog answers: versions as it knows them, and what a sync did."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..model.spec import Version


@dataclass(frozen=True)
class CatalogEntry:
    """One version as the catalog knows it."""

    name: str
    version: Version
    kind: str
    total_size: int
    file_count: int
    pushed_at: datetime
    pushed_by: str
    metadata: dict[str, str]
    missing_since: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": str(self.version),
            "kind": self.kind,
            "total_size": self.total_size,
            "file_count": self.file_count,
            "pushed_at": self.pushed_at.isoformat(),
            "pushed_by": self.pushed_by,
            "metadata": self.metadata,
            "missing_since": self.missing_since.isoformat() if self.missing_since else None,
        }


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    flagged_missing: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)
    unchanged: int = 0
    malformed: dict[str, str] = field(default_factory=dict)  # spec -> why it was skipped
    alias_moves_added: int = 0  # moves of the aliases' journals newly indexed
    lifecycle_events_added: int = 0  # yanks and deletions newly indexed

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "flagged_missing": self.flagged_missing,
            "restored": self.restored,
            "forgotten": self.forgotten,
            "unchanged": self.unchanged,
            "malformed": [{"spec": s, "problem": why} for s, why in self.malformed.items()],
            "alias_moves_added": self.alias_moves_added,
            "lifecycle_events_added": self.lifecycle_events_added,
        }
