"""Push: carry out a plan (``plan.py``). ``execute_push`` reserves the version, sends
the files the plan does not reuse, and writes the manifest last."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import posixpath
import time
import uuid
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from ..cache.hashcache import HashCache
from ..errors import PushSourceError
from ..io import pool
from ..io.pool import SharedProgress
from ..io.progress import COMMIT, describe
from ..io.stream import CHUNK, Callback, digest
from ..model.manifest import FileEntry, Manifest
from ..model.spec import Version
from ..repository.commit import Watch, publish, publish_first_free
from ..repository.repository import Repository
from ..repository.reservations import Publisher
from .packing import PACKS_AT_ONCE, PackJob, build, pack_jobs
from .plan import PushPlan, SourceFile

log = logging.getLogger("assetstore")
# Parts of one large file in flight at once: bounds memory to PARTS times the part size.
PARTS = 4


def execute_push(
    remote: Repository, plan: PushPlan, publisher: Publisher, *, callback: Callback
) -> Manifest:
    """Reserve the version, send the files it does not reuse, commit the manifest."""
    manifest = publish(
        remote,
        plan.name,
        plan.version,
        publisher,
        lambda watch: _transfer(remote, plan, publisher, callback, watch),
    )
    callback.relative_update(COMMIT)
    return manifest


def _transfer(
    remote: Repository, plan: PushPlan, publisher: Publisher, callback: Callback, watch: Watch
) -> Manifest:
    remote.check_inside(remote.data_path(plan.name, plan.version))
    plan = _still_reusable(remote, plan)
    describe(callback, f"{plan.name}:{plan.version}")
    progress = SharedProgress(callback)
    progress.set_size(plan.upload_bytes + COMMIT)
    send = _Send(remote, plan, progress, watch)
    remote.run(lambda: send.all_async(publisher.workers))
    return Manifest(
        name=plan.name,
        version=plan.version,
        kind=plan.kind,
        # in path order, as a sharded manifest is read back (model/shards.py)
        files=tuple(sorted((send.entry(f) for f in plan.files), key=lambda e: e.path)),
        pushed_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        pushed_by=publisher.pushed_by,
        metadata=plan.metadata,
        empty_dirs=plan.empty_dirs,
        expires_at=plan.expires_at,
    )


def _still_reusable(remote: Repository, plan: PushPlan) -> PushPlan:
    """``plan``, or — when the version it reuses files from was deleted since it was
    planned — ``plan`` sending every file. Checked once the reservation is in place: a
    delete's sweep seen after that point defers to this push (lifecycle/deleting.py),
    and one seen before it left its tombstone, which this listing finds."""
    if plan.reused_from is None or plan.reused_from in remote.scan(plan.name).committed:
        return plan
    log.info("%s was deleted since this push was planned: every file is sent", plan.reused_from)
    return replace(plan, reused={}, reused_from=None)


def folder_by_folder(files: list[SourceFile]) -> list[SourceFile]:
    """``files`` in turns across their folders: one from each folder, then the next from
    each, and so on. Uploads under way at once then create their objects in different
    folders. A server that keeps objects as files (rclone, MinIO) creates each one under
    its folder's lock: eight uploads into one folder made rclone spend a third more CPU
    (in the kernel, spinning on that lock) than the same uploads in turns."""
    by_folder: dict[str, list[SourceFile]] = {}
    for item in files:
        by_folder.setdefault(posixpath.dirname(item.path), []).append(item)
    turns = itertools.zip_longest(*by_folder.values())
    return [item for turn in turns for item in turn if item is not None]


class _Send:
    """Sending the files of one plan that no earlier version holds."""

    def __init__(
        self, remote: Repository, plan: PushPlan, progress: Callback, watch: Watch
    ) -> None:
        self.remote = remote
        self.plan = plan
        self.progress = progress
        self.watch = watch
        self._sent: dict[str, str] = {}  # path -> sha256 of the bytes sent
        self._packed: dict[str, tuple[str, int]] = {}  # path -> (its pack, offset in it)

    def entry(self, item: SourceFile) -> FileEntry:
        """``item``'s manifest entry: where an earlier version holds its bytes, or where
        this push sent them."""
        reused = self.plan.reused.get(item.path)
        if reused is not None:
            return replace(reused, path=item.path)
        sha256 = item.sha256 or self._sent[item.path]
        in_pack, offset = self._packed.get(item.path, (None, 0))
        return FileEntry(item.path, item.size, sha256, pack=in_pack, offset=offset)

    def check_sent(self, item: SourceFile, sent: tuple[str, int]) -> None:
        """Record what was sent; fail if the file is not what the plan saw."""
        if sent[1] != item.size or item.sha256 not in (None, sent[0]):
            raise PushSourceError(f"{item.source} changed while it was being pushed")
        self._sent[item.path] = sent[0]

    def target(self, item: SourceFile) -> str:
        return self.target_of(item.path)

    def target_of(self, relpath: str) -> str:
        return self.remote.data_path(self.plan.name, self.plan.version, relpath)

    async def all_async(self, workers: int) -> None:
        """The packs, a few at once; then the other small files as coroutines,
        ``workers`` at once; then large files, each streamed in parts."""
        mtime, tag = int(time.time()), uuid.uuid4().hex[:8]
        await pool.for_each(lambda job: self._pack_async(job, mtime), pack_jobs(self.plan, tag),
                            PACKS_AT_ONCE)  # fmt: skip
        rest = [f for f in self.plan.to_send if f.path not in self._packed]
        small = folder_by_folder([f for f in rest if f.size <= CHUNK])
        await pool.for_each(self._one_async, small, workers)
        large = [f for f in rest if f.size > CHUNK]
        # Where the parts of one file go up in parallel, one file at a time; elsewhere
        # (one part at a time, or a local copy) several files at once.
        files_at_once = 1 if self.remote.backend.parallel_parts else workers
        window = min(workers, PARTS)

        async def upload(item: SourceFile) -> None:
            self.watch.check()
            got = await self.remote.upload_async(
                Path(item.source), self.target(item), callback=self.progress, window=window
            )
            self.check_sent(item, got)

        await pool.for_each(upload, large, files_at_once)

    async def _pack_async(self, job: PackJob, mtime: int) -> None:
        """Build one pack (in a thread: it reads many files), then send it."""
        self.watch.check()
        data = await asyncio.to_thread(build, job, mtime)
        self.watch.check()
        await self.remote.write_async(self.target_of(job.name), data)
        del data  # before the next pack is built
        where = f"{self.plan.version}/{job.name}"
        for member in job.members:
            self.check_sent(member.item, (member.sha256, member.size))
            self._packed[member.item.path] = (where, member.offset)
        self.progress.relative_update(job.size)

    async def _one_async(self, item: SourceFile) -> None:
        self.watch.check()
        data, hasher = await pool.file_io(item.size, _read_source, item)
        self.check_sent(item, (digest(hasher), len(data)))
        await self.remote.write_async(self.target(item), data)
        self.progress.relative_update(len(data))


def _read_source(item: SourceFile) -> tuple[bytes, hashlib._Hash]:
    """The file's bytes (one more than planned, if it grew), hashed."""
    try:
        with open(item.source, "rb") as stream:  # noqa: PTH123 (a path as text)
            data = stream.read(item.size + 1)
    except OSError as exc:
        raise PushSourceError(f"cannot read {item.source}: {exc.strerror or exc}") from exc
    return data, hashlib.sha256(data)


def push_plan(
    remote: Repository,
    state: Path,
    plan: PushPlan,
    publisher: Publisher,
    *,
    callback: Callback,
) -> Manifest:
    """Carry ``plan`` out — for an unpinned push, at the first version still free — then
    remember the hashes computed while sending, for the next push of these files."""

    def at(version: Version) -> Manifest:
        return execute_push(remote, replace(plan, version=version), publisher, callback=callback)

    manifest = publish_first_free(
        remote, plan.name, plan.version, at, bump=plan.bump, explicit=plan.explicit
    )
    hashes = HashCache(state / "hashes.db")
    sent = {entry.path: entry.sha256 for entry in manifest.files}
    for item in plan.files:
        if item.sha256 is None:
            hashes.remember(item.source, item.identity, sent[item.path])
    hashes.save()
    return manifest
