"""Planning a push: scan and hash the source, choose the version, find what the new
version reuses from the newest earlier one (by reference: nothing is copied), and
whether it would be that version again (then an unpinned push creates nothing).

``plan_push`` only reads: ``--dry-run`` is its plan printed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypedDict

from ..cache.hashcache import HashCache, Identity, stat_identity
from ..errors import PushSourceError, VersionExistsError
from ..io.pool import run_all
from ..model.manifest import FileEntry, Kind, Manifest
from ..model.pack import NO_PACKS, PackRules
from ..model.spec import Version, next_version, parse_target
from ..repository.repository import Repository, Scan
from .source import Rules, Source, scan_source


@dataclass(frozen=True)
class SourceFile:
    path: str  # relative, POSIX
    source: str  # its local path
    size: int
    sha256: str | None  # None: not hashed yet; hashed while it is sent
    identity: Identity | None = None  # its stat identity for the hash cache (None: unsettled)


@dataclass(frozen=True)
class PushPlan:
    name: str
    version: Version
    kind: Kind
    files: tuple[SourceFile, ...]
    empty_dirs: tuple[str, ...]
    reused: dict[str, FileEntry] = field(default_factory=dict)  # path -> where its bytes are
    metadata: dict[str, str] = field(default_factory=dict)
    explicit: bool = False
    reused_from: Version | None = None  # the version whose manifest ``reused`` comes from
    expires_at: str | None = None  # ISO 8601, UTC: gc deletes the version after it
    skipped: tuple[str, ...] = ()  # what the ignore rules left out (a folder as ``dir/``)
    unchanged: Manifest | None = None  # the newest version, when this one would equal it
    bump: str = "minor"  # how an unpinned push moves on when its version is taken
    pack: PackRules = NO_PACKS  # which of the files sent go into packs

    @property
    def spec(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def to_send(self) -> list[SourceFile]:
        return [f for f in self.files if f.path not in self.reused]

    @property
    def upload_bytes(self) -> int:
        return sum(f.size for f in self.to_send)

    @property
    def packed(self) -> frozenset[str]:
        """The paths of the files sent in packs (a file asset is never packed)."""
        if self.kind != "dir":
            return frozenset()
        return self.pack.select((f.path, f.size) for f in self.to_send)

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "kind": self.kind,
            "files": len(self.files),
            "total_size": self.total_bytes,
            "upload_size": self.upload_bytes,
            "reused_files": len(self.reused),
            "packed_files": len(self.packed),
            "empty_dirs": list(self.empty_dirs),
            "metadata": self.metadata,
            "send": [{"path": f.path, "size": f.size} for f in self.to_send],
            "reuse": sorted(self.reused),
            "skip": list(self.skipped),
            "unchanged": None if self.unchanged is None else self.unchanged.spec,
        }


class PlanKeywords(TypedDict, total=False):
    """The keywords of ``AssetStore.plan_push``, which ``push`` passes on."""

    bump: str
    pack: bool | None
    metadata: Mapping[str, str] | None
    exclude: Sequence[str]
    default_excludes: bool
    allow_kind_change: bool


@dataclass(frozen=True)
class PushOptions:
    """What a push is asked beyond its source and target."""

    bump: str = "minor"
    metadata: Mapping[str, str] | None = None
    rules: Rules = field(default_factory=Rules)
    allow_kind_change: bool = False
    pack: PackRules = field(default_factory=PackRules)


def plan_files(
    remote: Repository,
    entries: list[tuple[str, str]],
    previous: Manifest | None,
    *,
    workers: int,
    hashes: HashCache | None = None,
) -> tuple[tuple[SourceFile, ...], dict[str, FileEntry]]:
    """The files to push, and which of them ``previous`` (the newest committed version
    below the new one) already holds: path -> the entry of ``previous`` that says where
    those bytes are stored (its own object, or a range of a pack). Only a file the size
    of one in that version can be one of those, so only those are hashed now (or found
    in ``hashes``, unchanged since an earlier push); the others are hashed as they are
    sent (a first push reads each byte once)."""
    by_content = _reusable(remote, previous)
    sizes = {size for _, size in by_content}
    hashes = hashes or HashCache(None)

    def stat(entry: tuple[str, str]) -> SourceFile:
        relpath, path = entry
        st, ident = stat_identity(path)
        known = hashes.known(path, ident) if st.st_size in sizes else None
        return SourceFile(relpath, path, st.st_size, known, ident)

    def hashed(file: SourceFile) -> SourceFile:
        return replace(file, sha256=hashes.sha256(file.source, file.identity))

    # A stat() of a file the scan has just seen, or a look-up in the hash cache, costs
    # less than handing it to a thread: only reading files to hash them goes to threads.
    files = [stat(entry) for entry in entries]
    unknown = [i for i, f in enumerate(files) if f.sha256 is None and f.size in sizes]
    computed = run_all(hashed, [files[i] for i in unknown], workers=workers)
    for i, file in zip(unknown, computed, strict=True):
        files[i] = file
    found = ((f.path, by_content.get((f.sha256 or "", f.size))) for f in files)
    return tuple(files), {path: entry for path, entry in found if entry is not None}


def _reusable(remote: Repository, previous: Manifest | None) -> dict[tuple[str, int], FileEntry]:
    """(sha256, size) -> the entry saying where the bytes are stored, for each file of
    ``previous`` whose object is there and large enough to hold them: a file is only
    referred to where it can be read."""
    if previous is None:
        return {}
    # A file that version itself reused points where its bytes are: no chains to follow.
    found = {(e.sha256, e.size): e.stored(previous.version) for e in previous.files}
    present = _stored_sizes(remote, previous.name, {_object(e) for e in found.values()})
    return {key: e for key, e in found.items() if _holds(present.get(_object(e)), e)}


def _object(entry: FileEntry) -> str:
    """``<version>/<path>`` of the object holding a reused entry's bytes."""
    return entry.pack or entry.stored_at or entry.path


def _holds(size: int | None, entry: FileEntry) -> bool:
    """Whether an object of ``size`` bytes can hold ``entry``'s bytes where it says."""
    if size is None:
        return False
    return size >= entry.offset + entry.size if entry.pack else size == entry.size


def _stored_sizes(remote: Repository, name: str, locations: set[str]) -> dict[str, int]:
    """The size of each object at ``locations`` (``<version>/<path>``) that exists: one
    listing per version folder, not one request per file."""
    sizes: dict[str, int] = {}
    for folder in sorted({at.partition("/")[0] for at in locations}):
        listed = remote.object_sizes(name, Version.parse(folder))
        sizes.update((f"{folder}/{rel}", size) for rel, size in listed.items())
    return sizes


def _check_free(scan: Scan, name: str, version: Version) -> None:
    if version in scan.deleted:
        raise VersionExistsError(
            f"{name}:{version} was deleted; a version number is never given again",
            name=name, version=str(version),
        )  # fmt: skip
    if version in scan.committed:
        raise VersionExistsError(
            f"{name}:{version} already exists; versions are immutable",
            name=name, version=str(version),
        )  # fmt: skip


def _check_kind(previous: Manifest | None, source: Path, kind: Kind, options: PushOptions) -> None:
    """A file asset does not turn into a folder, nor back, unless asked: a service that
    opens the path as a file would get a folder."""
    if previous is None or previous.kind == kind or options.allow_kind_change:
        return
    raise PushSourceError(
        f"cannot push {source} as {previous.name}: it is a {kind}, and {previous.spec} is a "
        f"{previous.kind}; pass --allow-kind-change to change the asset's kind"
    )


def _same(plan: PushPlan, previous: Manifest | None) -> Manifest | None:
    """``previous``, when a version made of ``plan`` would hold the same files (paths,
    sizes, sha256), empty folders, kind and metadata."""
    if previous is None or plan.explicit or len(plan.reused) != len(previous.files):
        return None
    ours = {(f.path, f.size, f.sha256) for f in plan.files}
    theirs = {(e.path, e.size, e.sha256) for e in previous.files}
    alike = (previous.kind, sorted(previous.empty_dirs), previous.metadata) == (
        plan.kind, sorted(plan.empty_dirs), plan.metadata)  # fmt: skip
    return previous if alike and ours == theirs else None


def plan_push(
    remote: Repository,
    state: Path,
    source: Path,
    target: str,
    options: PushOptions,
    *,
    workers: int,
) -> PushPlan:
    """What a push of ``source`` as ``target`` would do (``state``: the assets dir's
    ``.assetstore``, where the hash cache lives)."""
    name, version = parse_target(target)
    scanned: Source = scan_source(source, options.rules)
    scan = remote.scan(name)
    if version is None:
        version = next_version(sorted(scan.taken), options.bump)
    else:
        _check_free(scan, name, version)
    older = [v for v in scan.committed if v < version]
    previous = remote.manifest(name, max(older)) if older else None
    _check_kind(previous, source, scanned.kind, options)
    hashes = HashCache(state / "hashes.db")
    files, reused = plan_files(remote, scanned.files, previous, workers=workers, hashes=hashes)
    hashes.save()
    plan = PushPlan(
        name=name,
        version=version,
        kind=scanned.kind,
        files=files,
        empty_dirs=tuple(scanned.empty_dirs),
        reused=reused,
        reused_from=previous.version if reused and previous else None,
        metadata=dict(options.metadata or {}),
        explicit=":" in target,
        skipped=tuple(scanned.skipped),
        bump=options.bump,
        pack=options.pack,
    )
    unyanked = previous is not None and previous.version not in scan.yanked
    return replace(plan, unchanged=_same(plan, previous) if unyanked else None)
