"""Where a pull assembles a version: a fresh staging folder, or — for a version whose
packs hold ``RESUMABLE_SIZE`` bytes or more — ``partial/version-<digest>/``, which
outlives a killed or failed pull, so that the next pull of the same files keeps those
already written (``pull.py`` links each in again once its sha256 matches) and reads
only the ranges of the others.

That folder is the cache's own but comes from an earlier process: before anything in
it is used, every link and special file is deleted from it, and each file it keeps is
hashed like a download.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from ..model.manifest import Manifest
from .cache import Cache

PREFIX = "version-"  # partial/ also holds the resumable files of large downloads


def key(manifest: Manifest) -> str:
    """The folder's name: one per version. A partial pull of it shares the folder with a
    whole one, to either's gain: each file in it is used only if the manifest at hand
    lists it with that size and sha256."""
    return PREFIX + hashlib.sha256(manifest.spec.encode()).hexdigest()[:40]


@contextmanager
def workspace(
    cache: Cache, manifest: Manifest, *, resumable: bool
) -> Iterator[tuple[Path, Path | None]]:
    """A new, empty folder to assemble ``manifest``'s version in (``Cache.install``
    moves it away), and the files an earlier attempt left, if any (deleted once this
    attempt ends). A resumable folder is held under its lock; without the lock, or
    when not ``resumable``, a staging folder is used and nothing is resumed."""
    with cache.resumable(key(manifest)) if resumable else nullcontext() as folder:
        if folder is None:
            with cache.staging() as staging:
                (staging / "version").mkdir()
                yield staging / "version", None
            return
        earlier = _earlier(folder)
        root = folder / "version"
        root.mkdir()
        try:
            yield root, earlier
        finally:
            _remove(folder / "earlier")
        _remove(folder)  # installed: what is left is another process's install, or nothing


def _earlier(folder: Path) -> Path | None:
    """The last attempt's files, moved to ``folder/earlier``, with no link or special
    file left among them; None when there are none."""
    current, earlier = folder / "version", folder / "earlier"
    if _is_folder(current):
        _remove(earlier)
        os.rename(current, earlier)
    else:
        _remove(current)
    if not _is_folder(earlier):
        _remove(earlier)
        return None
    for top_text, folders, files in os.walk(earlier):
        top = Path(top_text)
        for name in [*folders, *files]:
            mode = (top / name).lstat().st_mode
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):  # a link, a FIFO...
                (top / name).unlink()
        folders[:] = [f for f in folders if _is_folder(top / f)]
    return earlier


def _is_folder(path: Path) -> bool:
    try:
        return stat.S_ISDIR(path.lstat().st_mode)
    except FileNotFoundError:
        return False


def _remove(path: Path) -> None:
    """Delete whatever is at ``path`` (a folder with all it holds; a link, not what it
    leads to)."""
    if _is_folder(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        path.unlink()
