"""Helpers shared by the reliability tests: a fault proxy that is safe for HEAD
requests, the environment of an S3 store on moto (optionally behind that proxy), and
invariant checks that read the bucket through a clean, non-proxied client."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    from tests import servers
    from tests.faultproxy import FaultProxy, _Handler
except ImportError:  # tests/ is not a package: pytest put tests/ itself on sys.path
    import servers  # type: ignore[no-redef]
    from faultproxy import FaultProxy, _Handler  # type: ignore[no-redef]

from assetstore.errors import EXIT_CODES
from assetstore.model.manifest import Manifest
from assetstore.model.shards import assemble, read_top
from assetstore.model.spec import Version

# Read at import: the suite's autouse fixture clears ASSETSTORE_* before each test.
REPORT_DIR = os.environ.get("ASSETSTORE_TEST_RELIABILITY_REPORT_DIR")
# connect 1 s + read 1 s: a request that moves little is cut after ~2 s; no attempt
# starts after 3 s. A command makes a few such calls in a row at most.
QUICK_TIMEOUTS = {
    "ASSETSTORE_CONNECT_TIMEOUT_SECONDS": "1",
    "ASSETSTORE_READ_TIMEOUT_SECONDS": "1",
    "ASSETSTORE_RETRY_DEADLINE_SECONDS": "3",
    "ASSETSTORE_RETRY_ATTEMPTS": "3",
}
__all__ = ["EXIT_CODES", "QUICK_TIMEOUTS", "S3", "HeadSafeFaultProxy", "servers"]


class _HeadSafeHandler(_Handler):
    """``tests/faultproxy.py`` as is answers HEAD requests with ``Content-Length: 0``
    (the length of the body it read, which a HEAD never has), so s3fs sees every object
    as empty; and its injected errors carry an XML body even for HEAD, which the client
    never reads, so the next response on that keep-alive connection starts with stray
    bytes ("Bad status line"). Real S3 does neither; these two fixes make the proxy
    faithful apart from the faults it injects on purpose."""

    def _send_head(self, status: int, headers: list[tuple[str, str]], length: int) -> None:
        if self.command == "HEAD":
            upstream = next((v for k, v in headers if k.lower() == "content-length"), None)
            if upstream is not None:
                length = int(upstream)
        super()._send_head(status, headers, length)

    def _error(self, status: int, code: str, message: str) -> None:
        if self.command == "HEAD":
            self._send_head(status, [("Content-Type", "application/xml")], 0)
            return
        super()._error(status, code, message)


class HeadSafeFaultProxy(FaultProxy):
    """``FaultProxy`` with HEAD answered as S3 does, and quiet about the broken pipes
    its own faults cause (a client that timed out on a stall has gone)."""

    def __init__(self, upstream: str, **kwargs: Any) -> None:
        super().__init__(upstream, **kwargs)
        self._server.handle_error = lambda request, address: None  # type: ignore[method-assign]

    def _handler_class(self) -> type[_Handler]:
        proxy = self

        class Handler(_HeadSafeHandler):
            owner = proxy

        return Handler


@dataclass
class S3:
    """One moto server: its credentials, and a clean client to look at buckets with."""

    server: Any
    raw: Any = field(init=False)

    def __post_init__(self) -> None:
        import s3fs

        self.raw = s3fs.S3FileSystem(
            key=self.server.key,
            secret=self.server.secret,
            client_kwargs={"endpoint_url": self.server.endpoint_url},
            config_kwargs={"signature_version": "s3v4"},
            skip_instance_cache=True,
            use_listings_cache=False,
        )

    @property
    def endpoint_url(self) -> str:
        return str(self.server.endpoint_url)

    def bucket(self, name: str) -> str:
        """A new, empty bucket named after ``name`` (made unique)."""
        unique = f"{name[:40]}-{uuid.uuid4().hex[:8]}".lower()
        self.raw.mkdir(unique)
        return unique

    def env(self, bucket: str, *, endpoint: str | None = None, **extra: str) -> dict[str, str]:
        """What a store (or a CLI process) needs to use ``bucket``, through ``endpoint``
        (a proxy) or straight to moto."""
        return {
            "ASSETSTORE_STORAGE_PROVIDER": "s3",
            "ASSETSTORE_STORAGE_BUCKET": bucket,
            "AWS_ACCESS_KEY_ID": self.server.key,
            "AWS_SECRET_ACCESS_KEY": self.server.secret,
            "S3_ENDPOINT": endpoint or self.endpoint_url,
            **extra,
        }


# -- invariants, read behind assetstore's back ------------------------------------------
def sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class BucketAudit:
    """What a bucket holds: committed versions (checked byte for byte against their
    manifests), reservations, and data folders that no manifest covers."""

    manifests: dict[tuple[str, Version], Manifest]
    contents: dict[tuple[str, Version], dict[str, bytes]]
    reservations: list[tuple[str, Version]]
    orphans: list[tuple[str, Version]]
    problems: list[str]
    # reserved versions whose push decided to commit and did not write its manifest:
    # ``repair`` finishes those commits (see assetstore/commit.py)
    decided: set[tuple[str, Version]] = field(default_factory=set)

    def to_dict(self) -> dict[str, Any]:
        return {
            "committed_versions": len(self.manifests),
            "reservations_left": len(self.reservations),
            "orphan_data_folders": len(self.orphans),
            "problems": self.problems,
        }


def audit_bucket(raw: Any, root: str) -> BucketAudit:
    """Read every object under ``root`` (``bucket/prefix``) with ``raw`` and check that
    each committed version's folder holds exactly the files its manifest stores there,
    and that every file — there, or in the earlier committed version it refers to —
    has its sizes and sha256."""
    objects = sorted(_find(raw, root))
    top = root.strip("/") + "/"
    manifests: dict[tuple[str, Version], Manifest] = {}
    reservations: list[tuple[str, Version]] = []
    problems: list[str] = []
    data_folders: dict[tuple[str, Version], list[str]] = {}
    decided: set[tuple[str, Version]] = set()
    for path in objects:
        relative = path.strip("/").removeprefix(top)
        if relative.startswith(".manifests/"):
            name, _, base = relative.removeprefix(".manifests/").rpartition("/")
            stem, _, suffix = base.rpartition(".")
            if suffix == "json":
                version = Version.parse(stem)
                manifests[(name, version)] = _read_manifest(raw, root, path, name, version)
            elif suffix == "reserved":
                reservations.append((name, Version.parse(stem)))
            elif suffix == "outcome" and raw.cat_file(path).startswith(b'{"decided_by"'):
                major, minor, _ = stem.split(".", 2)
                if b'"outcome": "commit"' in raw.cat_file(path).partition(b"\n")[0]:
                    decided.add((name, Version(int(major), int(minor))))
            continue
        head, version_text, inner = _split_version(relative)
        if head is None:
            problems.append(f"an object outside any version folder: {relative}")
            continue
        data_folders.setdefault((head, Version.parse(version_text)), []).append(inner)
    contents: dict[tuple[str, Version], dict[str, bytes]] = {}
    for key, manifest in manifests.items():
        own = sorted(_own_objects(manifest))
        found = sorted(data_folders.get(key, []))
        if own != found:
            problems.append(f"{manifest.spec}: objects {found} != manifest {own}")
            continue
        contents[key] = _read_files(raw, root, manifest, manifests.keys(), problems)
    orphans = sorted(key for key in data_folders if key not in manifests)
    decided -= set(manifests)
    return BucketAudit(manifests, contents, sorted(reservations), orphans, problems, decided)


def _read_files(
    raw: Any,
    root: str,
    manifest: Manifest,
    committed: Collection[tuple[str, Version]],
    problems: list[str],
) -> dict[str, bytes]:
    """The bytes of each file of ``manifest``, where it is stored (its version's folder,
    or the earlier committed version it refers to), checked against the manifest."""
    files = {}
    for entry in manifest.files:
        version, relpath = entry.location(manifest.version)
        if (manifest.name, version) not in committed:
            problems.append(f"{manifest.spec}: {entry.path} refers to uncommitted {version}")
            continue
        data = raw.cat_file(f"{root}/{manifest.name}/{version}/{relpath}")
        if entry.pack is not None:  # a range of a pack
            data = data[entry.offset : entry.offset + entry.size]
        if (len(data), sha256_bytes(data)) != (entry.size, entry.sha256):
            problems.append(f"{manifest.spec}: {entry.path} does not match its manifest")
        files[entry.path] = data
    return files


def _read_manifest(raw: Any, root: str, path: str, name: str, version: Version) -> Manifest:
    """The manifest at ``path``, with the entries of its shards if it has any."""
    top = read_top(raw.cat_file(path), name=name, version=version)
    if isinstance(top, Manifest):
        return top
    folder = f"{root.rstrip('/')}/{name}/{version}"
    found = [(shard, raw.cat_file(f"{folder}/{shard.object}")) for shard in top.shards]
    return assemble(top, found, name=name, version=version)


def _own_objects(manifest: Manifest) -> set[str]:
    """The objects ``manifest`` keeps in its own version's folder: its files of their
    own, its packs there and its shards."""
    own = {e.path for e in manifest.files if e.stored_at is None and e.pack is None}
    own |= set(manifest.shard_objects)
    here = f"{manifest.version}/"
    return own | {p.removeprefix(here) for p in manifest.packs if p.startswith(here)}


def _find(raw: Any, root: str) -> list[str]:
    try:
        return list(raw.find(root))
    except FileNotFoundError:
        return []


def _split_version(relative: str) -> tuple[str | None, str, str]:
    """``a/b/1.2/x/y`` -> (``a/b``, ``1.2``, ``x/y``): the first segment that is a
    version (names never have one, see docs/concepts.md)."""
    parts = relative.split("/")
    for i, part in enumerate(parts):
        if i and _is_version(part) and i + 1 < len(parts):
            return "/".join(parts[:i]), part, "/".join(parts[i + 1 :])
    return None, "", ""


def _is_version(text: str) -> bool:
    try:
        Version.parse(text)
    except ValueError:
        return False
    return True


def cache_files(version_dir: Path) -> dict[str, bytes]:
    return {
        p.relative_to(version_dir).as_posix(): p.read_bytes()
        for p in sorted(version_dir.rglob("*"))
        if p.is_file()
    }


def write_report(name: str, report: dict[str, Any], tmp_path: Path) -> Path:
    """Write the figures of a run as JSON into the test's tmp dir, and also into
    ``$ASSETSTORE_TEST_RELIABILITY_REPORT_DIR`` when it is set (where the docs' figures
    come from); print a one-line summary (shown with ``pytest -s`` or ``-rP``)."""
    text = json.dumps(report, indent=2, sort_keys=True)
    path = tmp_path / f"{name}.json"
    path.write_text(text)
    extra = REPORT_DIR
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        (Path(extra) / f"{name}.json").write_text(text)
    print(f"\n{name}: {json.dumps(report, sort_keys=True)}\n(written to {path})")
    return path


def walk_files(root: Path) -> Iterator[Path]:
    yield from (p for p in root.rglob("*") if p.is_file() or p.is_symlink())


def kill_after(proc: subprocess.Popen[bytes], delay: float) -> bool:
    """SIGKILL ``proc`` after ``delay`` s; True when it was still running."""
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True
