"""Copy a version between two stores, keeping its number, metadata and pusher.

Inside one backend the bytes are copied server-side; across backends they stream from
one to the other (no local round trip) and are verified against the manifest's sha256
on the way. The copy is self-contained: each file goes into the version's own folder in
the target, and its manifest there refers to no earlier version (those may be absent).
"""

from __future__ import annotations

import dataclasses

from .commit import Publisher, Watch, publish
from .errors import IntegrityError
from .hashing import Callback, copy_hashing
from .manifest import FileEntry, Manifest
from .remote import Remote
from .transfer import SharedProgress, run_all


def same_backend(a: Remote, b: Remote) -> bool:
    """Whether ``b`` can copy objects of ``a`` itself (same provider and credentials)."""
    return a.provider == b.provider and a.fs.storage_options == b.fs.storage_options


def copy_version(
    source: Remote, target: Remote, manifest: Manifest, publisher: Publisher, *, callback: Callback
) -> Manifest:
    """Publish ``manifest``'s version in ``target`` with the bytes of ``source``."""
    progress = SharedProgress(callback)
    progress.set_size(manifest.total_size)
    server_side = same_backend(source, target)

    def one(entry: FileEntry, watch: Watch) -> None:
        watch.check()
        src = source.file_path(manifest, entry)
        dst = target.data_path(manifest.name, manifest.version, entry.path)
        if server_side:
            target.copy(src, dst)
            progress.relative_update(entry.size)
            return
        with target.errors(f"copying {src} to"):
            sha256, size = target.retry.call(_stream, source, target, src, dst, progress)
        if (sha256, size) != (entry.sha256, entry.size):
            raise IntegrityError(f"{manifest.spec}: {entry.path} in {source.url} does not "
                                 "match its manifest; nothing was copied")  # fmt: skip

    def transfer(watch: Watch) -> Manifest:
        run_all(lambda entry: one(entry, watch), manifest.files, workers=publisher.workers)
        own = tuple(dataclasses.replace(entry, stored_at=None) for entry in manifest.files)
        return dataclasses.replace(manifest, files=own)

    return publish(target, manifest.name, manifest.version, publisher, transfer)


def _stream(
    source: Remote, target: Remote, src: str, dst: str, progress: Callback
) -> tuple[str, int]:
    with source.fs.open(src, "rb") as reader, target.fs.open(dst, "wb") as writer:
        return copy_hashing(reader, writer, callback=progress)
