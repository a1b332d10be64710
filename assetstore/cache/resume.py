"""Where a pull assembles a version: a fresh staging folder, or — for a version whose
packs hold 16 MiB or more (``pull.RESUMABLE_SIZE``) — ``partial/version-<hash>/version``, which
outlives a killed or failed pull, so that the next pull of the version keeps the files
already there and reads only the ranges of the others.

That folder is the cache's own but comes from an earlier process, so it is trusted no
further than a download: a file stays only if the manifest lists it, it is a regular
file of this user's that no other path links to, and its size and sha256 (read through
a descriptor that refused links) are the manifest's. Anything else in it is deleted.
The folder is held under a lock; where locks do not hold (some network filesystems),
``check_complete`` keeps a folder another pull emptied meanwhile from being installed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from ..errors import CacheError
from ..io.stream import CHUNK, digest, open_no_follow
from ..model.manifest import FileEntry, Manifest
from .cache import Cache
from .locks import is_folder, remove

log = logging.getLogger("assetstore")
PREFIX = "version-"  # partial/ also holds the resumable files of large downloads
# Mode bits a file this cache wrote never has (set-id, sticky, group or other write).
_FOREIGN_MODE = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX | stat.S_IWGRP | stat.S_IWOTH


def key(manifest: Manifest) -> str:
    """The folder's name: one per version. A partial pull of it shares the folder with a
    whole one, to either's gain: a file in it stays only if the manifest at hand lists
    it with that size and sha256."""
    return PREFIX + hashlib.sha256(manifest.spec.encode()).hexdigest()[:40]


@contextmanager
def workspace(
    cache: Cache, manifest: Manifest, *, resumable: bool, beat: Callable[[], None]
) -> Iterator[tuple[Path, set[str]]]:
    """A folder to assemble ``manifest``'s version in (``Cache.install`` moves it away),
    and the files an earlier attempt left in it that pass the module's rule (``beat``
    is called as each is checked). A resumable folder is left in place when the pull
    fails; without its lock, when not ``resumable``, or when the folder cannot be used
    (another user's, say), a fresh staging folder is, and nothing is kept."""
    with cache.resumable(key(manifest)) if resumable else nullcontext() as folder:
        prepared = None if folder is None else _prepared(folder, manifest, beat)
        if folder is None or prepared is None:
            with cache.staging() as staging:
                (staging / "version").mkdir()
                yield staging / "version", set()
            return
        yield prepared
        remove(folder)  # installed: what is left is another process's install, or nothing


def _prepared(
    folder: Path, manifest: Manifest, beat: Callable[[], None]
) -> tuple[Path, set[str]] | None:
    root = folder / "version"
    try:
        if not is_folder(root):
            remove(root)
            root.mkdir()
        return root, _kept(root, manifest, beat)
    except OSError as exc:
        log.warning("not resuming from %s (%s): downloading afresh", folder, exc)
        return None


def _kept(root: Path, manifest: Manifest, beat: Callable[[], None]) -> set[str]:
    """The files of ``manifest`` an earlier attempt left in ``root`` that pass the
    module's rule; everything else in ``root`` but its folders is deleted."""
    entries = {entry.path: entry for entry in manifest.files}
    found = set()
    for top_text, folders, files in os.walk(root):
        top = Path(top_text)
        for name in [*folders, *files]:
            path = top / name
            info = path.lstat()
            if stat.S_ISDIR(info.st_mode):
                continue
            entry = entries.get(path.relative_to(root).as_posix())
            if entry is not None and _sound(path, info, entry):
                found.add(entry.path)
                beat()
            else:
                path.unlink()
        folders[:] = [f for f in folders if is_folder(top / f)]
    return found


def check_complete(root: Path, manifest: Manifest) -> None:
    """Refuse to install ``root`` unless every file of ``manifest`` is there, a regular
    file of its size."""
    for entry in manifest.files:
        try:
            info = (root / entry.path).lstat()
        except FileNotFoundError:
            info = None
        if info is None or not stat.S_ISREG(info.st_mode) or info.st_size != entry.size:
            raise CacheError(
                f"{manifest.spec}: {root} lost {entry.path} while it was being pulled (another "
                "pull used the folder at once: are locks working on this filesystem?)"
            )


def _sound(path: Path, info: os.stat_result, entry: FileEntry) -> bool:
    if not stat.S_ISREG(info.st_mode) or info.st_size != entry.size or info.st_nlink != 1:
        return False
    if info.st_mode & _FOREIGN_MODE or info.st_uid != getattr(os, "geteuid", lambda: 0)():
        return False
    hasher = hashlib.sha256()
    try:
        with open_no_follow(path, "rb") as stream:
            opened = os.fstat(stream.fileno())
            while block := stream.read(CHUNK):
                hasher.update(block)
    except OSError:
        return False
    same = (opened.st_dev, opened.st_ino) == (info.st_dev, info.st_ino)
    return same and digest(hasher) == entry.sha256
