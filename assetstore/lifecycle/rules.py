"""The rules that choose versions to delete: retention (``delete NAME --keep-last N
[--older-than D]``) and expiry (``push --expires-in D``, carried out by gc). Neither
ever deletes a protected version, and retention never the newest."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..errors import AssetNotFoundError, InvalidSpecError
from ..model.lifecycle import now, parse_time
from ..model.spec import Version
from ..repository.repository import Repository
from .deleting import Report, delete


def retain(
    repo: Repository, name: str, *, keep_last: int, older_than: timedelta | None, by: str,
    dry_run: bool = False,
) -> Report:  # fmt: skip
    """Delete the versions of ``name`` beyond the newest ``keep_last`` (with
    ``older_than``: only those pushed longer ago than that)."""
    if keep_last < 1:
        raise InvalidSpecError("--keep-last must be at least 1: a rule never deletes the newest")
    versions = sorted(repo.scan(name).committed)
    if not versions:
        raise AssetNotFoundError(f"no asset named {name} in {repo.url}", name=name)
    chosen = versions[:-keep_last]
    if older_than is not None:
        cutoff = now() - older_than
        chosen = [v for v in chosen if _pushed_at(repo, name, v) < cutoff]
    rule = f"retention: the newest {keep_last}" + (f", or pushed since {older_than}"
                                                    if older_than else "")  # fmt: skip
    return delete(repo, name, chosen, by=by, reason=rule, strict=False, dry_run=dry_run)


def expired(repo: Repository, name: str, at: datetime) -> list[Version]:
    """The committed versions of ``name`` whose expiry is past at ``at``."""
    found = []
    for version in sorted(repo.scan(name).committed):
        expires = repo.manifest(name, version).expires_at
        if expires is not None and parse_time(expires) <= at:
            found.append(version)
    return found


def _pushed_at(repo: Repository, name: str, version: Version) -> datetime:
    return parse_time(repo.manifest(name, version).pushed_at)
