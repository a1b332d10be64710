"""Verifying a cached version against its manifest: every file there with its size
and sha256, nothing more (no extra file, folder or link of any kind)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AssetNotFoundError
from ..io.stream import sha256_file
from ..model.manifest import Manifest
from .fileid import FileIdentity, identity_of

if TYPE_CHECKING:
    from .cache import Cache


def problems(cache: Cache, manifest: Manifest) -> list[str]:
    """What differs between the cached copy and its manifest (empty when intact).

    A prune or ``pull --force`` may swap the folder out (one rename) while it is being
    read: that is no corruption. The folder read is then checked again if a new copy
    took its place, and ``AssetNotFoundError`` says so if none did."""
    root = cache.version_dir(manifest.name, manifest.version)
    before = _identity(root)
    try:
        found: list[str] | None = _differences(manifest, root)
    except (FileNotFoundError, NotADirectoryError):
        found = None  # a file went between looking and reading it
    if found is not None and (not found or (before is not None and _identity(root) == before)):
        return found  # intact, or the same folder throughout: what it holds is wrong
    partial = cache.partial_record(manifest.name, manifest.version).is_file()
    if not (cache.has(manifest.name, manifest.version) or partial):
        raise AssetNotFoundError(
            f"{manifest.spec} was removed from the assets dir {cache.root} while it was "
            "being verified (by a concurrent prune or pull --force)",
            name=manifest.name,
            version=str(manifest.version),
        )
    return _differences(manifest, root)


def _differences(manifest: Manifest, root: Path) -> list[str]:
    found = []
    for entry in manifest.files:
        path = root / entry.path
        if path.is_symlink() or not path.is_file():
            found.append(f"{entry.path}: missing")
        elif path.stat().st_size != entry.size:
            found.append(f"{entry.path}: size {path.stat().st_size}, expected {entry.size}")
        elif sha256_file(path) != entry.sha256:
            found.append(f"{entry.path}: sha256 mismatch")
    found.extend(_extras(manifest, root))
    return found


def _extras(manifest: Manifest, root: Path) -> list[str]:
    """What the cached folder holds beyond the manifest: files, folders and links of
    any kind (a link is never part of a version), none of them followed."""
    files = {entry.path for entry in manifest.files}
    found = []
    for here, dirs, names in os.walk(root):
        rel = Path(here).relative_to(root).as_posix()
        prefix = "" if rel == "." else f"{rel}/"
        for name in sorted(dirs):
            path = prefix + name
            if Path(here, name).is_symlink():
                found.append(f"{path}: a symlink, not in the manifest")
            elif path not in manifest.folders:
                found.append(f"{path}/: a folder not in the manifest")
        dirs[:] = [d for d in dirs if prefix + d in manifest.folders]
        found.extend(
            f"{prefix + name}: not in the manifest" for name in sorted(names)
            if prefix + name not in files
        )  # fmt: skip
    return sorted(found)


def _identity(path: Path) -> FileIdentity | None:
    """Which folder is at ``path`` now: a rename in or out changes this."""
    try:
        return identity_of(path.stat())
    except OSError:
        return None
