"""Export: the files of a cached version copied into a plain folder — no ``.assetstore/``,
no version folders — as ``huggingface_hub``'s ``local_dir`` gives them.

Every file is hashed while it is copied and must match its manifest before it takes
its place (by rename, so a reader of the folder never sees half a file). A file already
there with the same bytes is left alone; one that differs is never overwritten unless
``force``, and then nothing is written until every file has been checked. A symlink
in the folder that would lead a write out of it is refused.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cache.cache import Cache
from ..errors import CacheError, ExportConflictError, IntegrityError
from ..io.stream import CHUNK, digest, sha256_file
from ..model.manifest import FileEntry, Manifest


@dataclass(frozen=True)
class ExportReport:
    spec: str
    target: Path
    written: tuple[str, ...]  # paths inside the version
    unchanged: tuple[str, ...]  # already there with the same bytes

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.spec, "target": str(self.target),
                "written": list(self.written), "unchanged": list(self.unchanged)}  # fmt: skip


def export_version(
    cache: Cache, manifest: Manifest, target: Path, *, sub_path: str | None, force: bool
) -> ExportReport:
    """Copy ``manifest``'s files (those under ``sub_path``, if given) from the cache
    into ``target``."""
    entries = [e for e in manifest.files if _under(e.path, sub_path)]
    source = cache.version_dir(manifest.name, manifest.version)
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    plan = [(entry, _destination(root, entry.path)) for entry in entries]
    unchanged = {e.path for e, path in plan if _same(path, e)}
    differing = [e.path for e, path in plan if e.path not in unchanged and os.path.lexists(path)]
    if differing and not force:
        more = f" and {len(differing) - 3} more" if differing[3:] else ""
        listed = ", ".join(differing[:3]) + more
        raise ExportConflictError(
            f"{target} already holds other files at {listed}: nothing exported "
            "(--force replaces them)"
        )
    for folder in manifest.empty_dirs:
        if _under(folder, sub_path):
            _destination(root, folder + "/x").parent.mkdir(parents=True, exist_ok=True)
    for entry, path in plan:
        if entry.path not in unchanged:
            _copy_verified(source / entry.path, path, entry, manifest.spec)
    written = tuple(e.path for e in entries if e.path not in unchanged)
    return ExportReport(manifest.spec, target, written, tuple(sorted(unchanged)))


def _under(path: str, sub_path: str | None) -> bool:
    return sub_path is None or path == sub_path or path.startswith(sub_path.rstrip("/") + "/")


def _destination(root: Path, rel: str) -> Path:
    """Where ``rel`` goes in ``root``, once sure no symlink leads it out of ``root``."""
    path = root / rel
    real = path.parent.resolve()
    if real != root and root not in real.parents:
        raise CacheError(f"refusing to export to {path}: a symlink leads it out of {root}")
    return path


def _same(path: Path, entry: FileEntry) -> bool:
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size != entry.size:
            return False
    except OSError:
        return False
    return sha256_file(path) == entry.sha256


def _copy_verified(source: Path, path: Path, entry: FileEntry, spec: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir() and not path.is_symlink():
        raise ExportConflictError(f"{path} is a folder; {spec} has a file there")
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, source.stat().st_mode & 0o777 | 0o200)  # mkstemp makes 0600
        hasher, size = hashlib.sha256(), 0
        with source.open("rb") as reader, os.fdopen(fd, "wb") as writer:
            while block := reader.read(CHUNK):
                hasher.update(block)
                writer.write(block)
                size += len(block)
        if (digest(hasher), size) != (entry.sha256, entry.size):
            raise IntegrityError(
                f"{spec}: the cached {entry.path} does not match its manifest; nothing of it "
                "exported (repair the cache with pull --force)",
                path=entry.path, expected=entry.sha256, actual=digest(hasher),
            )  # fmt: skip
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
