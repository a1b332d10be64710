"""``assetstore config check``: connect to the configured backend and report what works.

Each check runs on its own and records ``ok``, ``failed`` (with the translated,
secret-free error) or ``skipped`` (with why), so one report shows everything at once:
whether the bucket exists, and whether listing, writing (create-if-absent, and
refusing a second such write), reading and deleting work. The write check puts one
small object under ``{prefix}/.assetstore-check/`` and deletes it.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import AssetStoreError
from .repository import Repository

Status = Literal["ok", "failed", "skipped"]
CHECK_FOLDER = ".assetstore-check"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str


@dataclass(frozen=True)
class CheckReport:
    backend: str
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.status != "failed" for c in self.checks)

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.checks if c.status == "failed"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "ok": self.ok,
            "checks": [{"check": c.name, "status": c.status, "detail": c.detail}
                       for c in self.checks],
        }  # fmt: skip

    def lines(self) -> list[str]:
        width = max(len(c.name) for c in self.checks)
        rows = [f"{c.name:<{width}}  {c.status:<7}  {c.detail}" for c in self.checks]
        return [f"backend  {self.backend}", *rows]


def _run(name: str, action: Callable[[], str]) -> Check:
    try:
        return Check(name, "ok", action())
    except AssetStoreError as exc:
        return Check(name, "failed", str(exc))


def check_backend(remote: Repository) -> CheckReport:
    """Check the bucket, then list; write one small object (create-if-absent), check
    that a second create-if-absent write is refused, read it back and delete it."""
    bucket, go_on = _check_bucket(remote)
    if not go_on:
        return CheckReport(remote.url, (bucket, *_skipped(_OBJECT_CHECKS, bucket.name)))
    listing = _run("list", lambda: _list(remote))
    probe = f"{remote.root}/{CHECK_FOLDER}/{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex}"
    data = f"assetstore config check {uuid.uuid4().hex}\n".encode()
    write = _run("write", lambda: _write(remote, probe, data))
    if write.status != "ok":
        skipped = _skipped(_OBJECT_CHECKS[2:], "write")
        return CheckReport(remote.url, (bucket, listing, write, *skipped))
    exclusive = _run("exclusive", lambda: _exclusive(remote, probe))
    expected = data if exclusive.status == "ok" else None
    read = _run("read", lambda: _read(remote, probe, expected))
    delete = _run("delete", lambda: _delete(remote, probe))
    return CheckReport(remote.url, (bucket, listing, write, exclusive, read, delete))


_OBJECT_CHECKS = ("list", "write", "exclusive", "read", "delete")


def _skipped(names: tuple[str, ...], after: str) -> list[Check]:
    return [Check(name, "skipped", f"skipped: see {after}") for name in names]


def _check_bucket(remote: Repository) -> tuple[Check, bool]:
    """The bucket check, and whether the object checks are worth running after it.

    A denied bucket probe says little (some roles may use the objects but not look at
    the bucket), so it is skipped and the object checks decide; a missing or
    unreachable bucket says it all. A missing
    bucket is not created here, even with auto_create_bucket: a check changes nothing
    but its own probe object."""
    word, where = remote.bucket_word, remote.url_of(remote.bucket)
    if not remote.backend.provider.object_store:
        return Check(word, "ok", f"{where} (a folder: the first push creates it)"), True
    try:
        exists = remote.bucket_exists()
    except AssetStoreError as exc:
        if "permission denied" in str(exc):
            return Check(word, "skipped", f"cannot tell whether it exists: {exc}"), True
        return Check(word, "failed", str(exc)), False
    if exists:
        return Check(word, "ok", f"{where} exists"), True
    if remote.auto_create_bucket:
        detail = f"{where} does not exist yet; the first push creates it (auto_create_bucket)"
        return Check(word, "ok", detail), False
    return Check(word, "failed", str(remote.missing_bucket())), False


def _list(remote: Repository) -> str:
    names = remote.names()
    return f"{len(names)} asset{'s' if len(names) != 1 else ''} under {remote.url}"


def _write(remote: Repository, path: str, data: bytes) -> str:
    if not remote.create_bytes(path, data):
        raise AssetStoreError(f"{remote.url_of(path)} exists already: run the check again")
    return f"wrote {remote.url_of(path)} ({len(data)} bytes)"


def _exclusive(remote: Repository, path: str) -> str:
    """Versions are reserved and committed with create-if-absent writes: the store
    must refuse the second one, or two pushes of one version are not kept apart."""
    if remote.create_bytes(path, b"a second create-if-absent write\n"):
        raise AssetStoreError(
            "a second create-if-absent write replaced the object: this store ignores "
            "conditional writes, so two pushes of one version at once are not kept apart"
        )
    return "a second create-if-absent write was refused"


def _read(remote: Repository, path: str, data: bytes | None) -> str:
    got = remote.read_bytes(path)
    if data is None:
        return f"read it back ({len(got)} bytes)"
    if got != data:
        raise AssetStoreError(f"read back {len(got)} bytes that differ from what was written")
    return "read it back, bytes match"


def _delete(remote: Repository, path: str) -> str:
    remote.delete(path)
    return "deleted it"
