"""The objects of the version protocol (``commit.py``) in the bucket, read and written
through a repository: reservations and decisions, the manifest's write, and the removal
of the data of a push that will never commit."""

from __future__ import annotations

import time
from collections.abc import Callable

from ..errors import VersionExistsError
from ..io import pool
from ..model import shards
from ..model.manifest import Manifest
from ..model.spec import Version
from .layout import OUTCOME_FILE, RESERVED_FILE
from .repository import Repository
from .reservations import Reservation, parse_reservation

SHARDS_AT_ONCE = 32


def _wait(seconds: float, settled: Callable[[], bool]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not settled():
        time.sleep(0.05)


def _emptied(repo: Repository, path: str) -> bool:
    """Delete what is listed under ``path``; whether nothing is listed there then."""
    entries = repo.listed(path)
    if not entries:
        return True
    paths = [e.path for e in entries]
    repo.run(lambda: repo.backend.delete(paths))
    return not repo.listed(path)


def reservation(repo: Repository, name: str, version: Version) -> Reservation | None:
    path = repo.reservation_path(name, version)
    found = repo.read_optional(path, doing="reading the reservation")
    return None if found is None else parse_reservation(name, version, found)


def reservations(repo: Repository) -> list[Reservation]:
    """Every reservation in the store: pushes under way, or that died."""
    held = []
    for name, base in repo.manifest_objects():
        match = RESERVED_FILE.fullmatch(base)
        if match:
            found = reservation(repo, name, Version.parse(match[1]))
            if found is not None:
                held.append(found)
    return sorted(held, key=lambda r: (r.name, r.version))


def outcomes(repo: Repository) -> list[tuple[str, Version, str]]:
    """Every decision on a reservation: (name, version, reservation id)."""
    found = []
    for name, base in repo.manifest_objects():
        match = OUTCOME_FILE.fullmatch(base)
        if match:
            found.append((name, Version.parse(match[1]), match[2]))
    return sorted(found)


def release(repo: Repository, name: str, version: Version) -> None:
    """Delete the reservation of ``name:version`` (none there is no error)."""
    repo.delete(repo.reservation_path(name, version))


def commit(repo: Repository, manifest: Manifest, data: bytes) -> None:
    """Write the manifest ``data`` (plain JSON), create-if-absent: the version now
    exists. No timestamp: the same manifest is the same bytes, which a retried
    write, and a commit rolled forward by another process, rely on. A version of many
    files has its entries written first, in shards, and a manifest that names them
    (``model/shards.py``): they are the same bytes each time too."""
    top, parts = shards.split(manifest)
    if parts:

        async def write(part: tuple[str, bytes]) -> None:
            path = repo.data_path(manifest.name, manifest.version, part[0])
            await repo.write_async(path, part[1])

        repo.run(lambda: pool.for_each(write, parts, SHARDS_AT_ONCE))
        data = top
    path = repo.manifest_path(manifest.name, manifest.version)
    if not repo.create_once(path, data, doing=f"committing {manifest.spec} at"):
        raise VersionExistsError(f"{manifest.spec} already exists", name=manifest.name)


def discard(
    repo: Repository, name: str, version: Version, *, settle: float = 0.0,
    settled: Callable[[], bool] = lambda: False,
) -> None:  # fmt: skip
    """Remove the data of a push that will never commit (see commit.py). Fails while
    objects remain, so the reservation that guards the folder is kept until then.
    ``settle``: seconds to wait before the last look, for a push still running (it
    learns of the decision within a second, and may have a write under way), or until
    ``settled()`` says that push has ended."""
    remove_tree(repo, repo.data_path(name, version), settle=settle, settled=settled)


def remove_tree(
    repo: Repository, path: str, *, settle: float = 0.0,
    settled: Callable[[], bool] = lambda: False,
) -> None:  # fmt: skip
    """Delete every object under ``path``. A push that does not know yet that it
    was reclaimed may still be adding some (it looks every second): delete again, a
    few times, before giving up — and with ``settle``, look once more that long after
    the folder was first found empty."""

    with repo.errors("removing the files of a failed push at", path=path):
        repo.check_inside(path)
        for wait in (0.5, 1.0, 2.0, 4.0, None):
            if _emptied(repo, path):
                if not settle:
                    return
                _wait(settle, settled)
                settle = 0.0
            elif wait is not None:
                time.sleep(wait)
        if not repo.listed(path):
            return
        raise OSError(
            f"objects remain under {path} after deleting them (a push may still be "
            "writing there: run 'assetstore repair' again once it has ended)"
        )
