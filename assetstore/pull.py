"""Pull: download a version's files into staging, verify each against the manifest
while it streams, then install the whole version with one rename."""

from __future__ import annotations

from pathlib import Path

from .cache import Cache, Heartbeat
from .errors import IntegrityError
from .hashing import Callback
from .manifest import FileEntry, Manifest
from .remote import Remote
from .transfer import SharedProgress, run_all

# Files this large download into .assetstore/partial/<sha256>, which outlives a killed
# pull, so the next pull fetches only the bytes still missing (a ranged read).
RESUMABLE_SIZE = 16 * 1024 * 1024


def fetch_version(
    remote: Remote,
    cache: Cache,
    manifest: Manifest,
    *,
    workers: int,
    callback: Callback,
    heartbeat: Heartbeat | None = None,
    replace: bool = False,
) -> Path:
    """Download, verify and install ``manifest``'s version; return its folder."""
    progress = SharedProgress(callback, heartbeat)
    progress.set_size(manifest.total_size)
    with cache.staging() as staging:
        root = staging / "version"
        root.mkdir()
        for folder in manifest.empty_dirs:
            (root / folder).mkdir(parents=True, exist_ok=True)

        def fetch(entry: FileEntry) -> None:
            target = root / entry.path
            target.parent.mkdir(parents=True, exist_ok=True)
            source = remote.data_path(manifest.name, manifest.version, entry.path)
            if entry.size < RESUMABLE_SIZE:
                _download(remote, source, target, entry, manifest, progress)
                return
            with cache.partial(entry.sha256) as partial:
                _download(remote, source, partial or target, entry, manifest, progress)
                if partial is not None:
                    partial.rename(target)

        run_all(fetch, manifest.files, workers=workers)
        return cache.install(root, manifest, replace=replace)


def _download(
    remote: Remote,
    source: str,
    target: Path,
    entry: FileEntry,
    manifest: Manifest,
    progress: Callback,
) -> None:
    held = target.stat().st_size if target.exists() else 0
    if held > entry.size:
        target.unlink()
    sha256, size = remote.download(source, target, callback=progress, size=entry.size)
    if (sha256, size) != (entry.sha256, entry.size):
        target.unlink(missing_ok=True)  # never resume from bytes that do not match
        if 0 < held <= entry.size:  # the kept bytes were bad: once more, from scratch
            _download(remote, source, target, entry, manifest, progress)
            return
        raise IntegrityError(
            f"{manifest.spec}: {entry.path} does not match its manifest "
            f"(got {size} bytes, {sha256}; expected {entry.size} bytes, {entry.sha256})",
            name=manifest.name,
            version=str(manifest.version),
        )
