"""The manifest: what a version is. Written last on push (the commit point), read first
on pull, validated as untrusted input."""

from __future__ import annotations

import functools
import itertools
import re
import zlib
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Literal

from ..errors import AssetNotFoundError, IntegrityError, InvalidSpecError
from .paths import check_relpath
from .spec import Version

# A format 1 reader ignores keys it does not know: given an entry whose bytes live in
# an earlier version's folder ("stored_at"), it would look in this version's folder and
# fail with "not found" (or hand out a URL to nothing). A manifest holding such an
# entry says format 2, which those readers refuse by name ("unsupported format 2");
# any other stays format 1. One holding an entry whose bytes are a range of a pack
# ("pack", "offset") says format 3, for the same reason. One whose entries are in shards
# (``shards.py``) says format 4.
FORMAT = 1
FORMAT_REFERENCES = 2
FORMAT_PACKS = 3
FORMAT_SHARDS = 4
FORMATS = (FORMAT, FORMAT_REFERENCES, FORMAT_PACKS)  # as one object, its entries in it
# Bounds on what a manifest may declare (a bucket someone else writes to must not make
# a pull create millions of folders from a few bytes of JSON, docs/reliability.md):
MAX_FILES = 1_000_000
MAX_EMPTY_DIRS = 100_000
EXTRA_FOLDERS = 10_000  # folders beyond one per file (paths are at most 128 deep)
# Manifests are written as plain JSON; those an earlier release wrote gzip-compressed
# are still read, and a hostile bucket's gzip bomb stops here.
MAX_INFLATED = 256 * 2**20
GZIP_MAGIC = b"\x1f\x8b"
SHA256_TEXT = re.compile(r"sha256:[0-9a-f]{64}")

Kind = Literal["file", "dir"]


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    sha256: str
    # "<version>/<path>": the bytes are those an earlier version of the same asset
    # stored there (reused, never copied); None: in this version's own folder.
    stored_at: str | None = None
    # "<version>/<pack>": the bytes are ``size`` bytes at ``offset`` in that pack (a tar
    # in the folder of this version or of an earlier one); None: an object of their own.
    pack: str | None = None
    offset: int = 0

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"path": self.path, "size": self.size, "sha256": self.sha256}
        if self.stored_at is not None:
            found["stored_at"] = self.stored_at
        if self.pack is not None:
            found |= {"pack": self.pack, "offset": self.offset}
        return found

    def location(self, version: Version) -> tuple[Version, str]:
        """The version whose folder holds the object with the bytes (``version``'s own,
        unless ``stored_at`` or ``pack`` names an earlier one), and its path in it."""
        where = self.pack if self.pack is not None else self.stored_at
        if where is None:
            return version, self.path
        head, _, relpath = where.partition("/")
        return Version.parse(head), relpath

    def stored(self, version: Version) -> FileEntry:
        """This entry as a later version of the asset refers to the same bytes: where
        ``version`` (this entry's own) holds them."""
        if self.pack is not None or self.stored_at is not None:
            return self
        return replace(self, stored_at=f"{version}/{self.path}")


@dataclass(frozen=True)
class Manifest:
    name: str
    version: Version
    kind: Kind
    files: tuple[FileEntry, ...]
    pushed_at: str
    pushed_by: str
    metadata: dict[str, str] = field(default_factory=dict)
    empty_dirs: tuple[str, ...] = ()
    expires_at: str | None = None  # ISO 8601, UTC: gc deletes the version after it
    # None: every file of the version. A sub-path: only the files at or under it are
    # listed (a pull of that sub-path read just the shards holding them, shards.py).
    scope: str | None = None
    # The objects of its version's folder its stored manifest keeps its entries in
    # (shards.py), as that manifest names them: what gc keeps. Not part of the value.
    shard_objects: tuple[str, ...] = field(default=(), compare=False)

    @property
    def total_size(self) -> int:
        return sum(entry.size for entry in self.files)

    @property
    def spec(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def folders(self) -> frozenset[str]:
        """Every folder of the version: the parents of its files, its empty dirs and
        their parents."""
        return self._paths[1]

    def lookup(self, sub_path: str) -> Kind | None:
        """Whether ``sub_path`` is a file or a folder of this version, or neither."""
        files, folders = self._paths
        if sub_path in files:
            return "file"
        return "dir" if sub_path in folders else None

    def require(self, sub_path: str) -> Kind:
        """Whether ``sub_path`` is a file or a folder of this version; not found if neither."""
        found = self.lookup(sub_path)
        if found is None:
            raise AssetNotFoundError(
                f"{self.spec} has no file or folder {sub_path!r}", name=self.name,
                version=str(self.version), spec=f"{self.spec}[{sub_path}]",
            )  # fmt: skip
        return found

    @cached_property
    def _paths(self) -> tuple[frozenset[str], frozenset[str]]:
        """The file paths, and every folder: the parents of each file path, each empty
        dir and its parents (built on the first ``lookup``, kept with the manifest)."""
        files = frozenset(entry.path for entry in self.files)
        folders: set[str] = set()
        heads = [path.rpartition("/")[0] for path in files if "/" in path]
        for head in itertools.chain(heads, self.empty_dirs):
            while head not in folders:
                folders.add(head)
                head, sep, _ = head.rpartition("/")
                if not sep:
                    break
        return files, frozenset(folders)

    @property
    def packs(self) -> frozenset[str]:
        """The packs (``<version>/<pack>``) holding some of this version's bytes."""
        return frozenset(entry.pack for entry in self.files if entry.pack is not None)

    def _format(self) -> int:
        if self.packs:
            return FORMAT_PACKS
        refers = any(entry.stored_at is not None for entry in self.files)
        return FORMAT_REFERENCES if refers else FORMAT

    def to_dict(self, *, files: bool = True) -> dict[str, Any]:
        """The manifest as stored whole (without ``files``: all but its entries)."""
        found = {
            "format": self._format(),
            "name": self.name,
            "version": str(self.version),
            "kind": self.kind,
            "total_size": self.total_size,
            "pushed_at": self.pushed_at,
            "pushed_by": self.pushed_by,
            "metadata": dict(self.metadata),
            "empty_dirs": list(self.empty_dirs),
        } | ({"expires_at": self.expires_at} if self.expires_at else {})
        if files:
            found["files"] = [entry.to_dict() for entry in self.files]
        return found

    def to_json(self) -> bytes:
        import json

        # Compact: a manifest of 10,000 files is sent with every push of them.
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True).encode()


def parse_manifest(data: bytes, *, name: str, version: Version) -> Manifest:
    """Parse and validate a manifest read from ``name:version``'s location: JSON, or
    JSON gzip-compressed (as releases before 0.2 wrote them).

    A manifest comes from a bucket someone else may write to: every path is checked,
    and a manifest that lies about where it lives is refused.
    """
    raw = load_raw(data, where=f"manifest of {name}:{version}", name=name)
    return from_raw(raw, name=name, version=version)


def load_raw(data: bytes, *, where: str, name: str) -> dict[str, Any]:
    """The JSON object ``data`` (gzip-compressed or not) holds; ``where`` is malformed
    if it holds none."""
    import json  # here, not at the top: ``import assetstore`` stays light

    try:
        raw = json.loads(_gunzip(data) if data[:2] == GZIP_MAGIC else data)
    except RecursionError:
        raise IntegrityError(f"{where} is malformed: nested too deeply", name=name) from None
    except ValueError as exc:
        raise IntegrityError(f"{where} is malformed: {exc}", name=name) from None
    if not isinstance(raw, dict):
        raise IntegrityError(f"{where} is malformed: not a JSON object", name=name)
    return raw


def from_raw(
    raw: dict[str, Any], *, name: str, version: Version, shard_objects: tuple[str, ...] = ()
) -> Manifest:
    """The manifest ``raw`` (parsed JSON) describes, validated as ``parse_manifest`` does
    (``shard_objects``: the shards its entries were read from)."""
    where = f"manifest of {name}:{version}"
    try:
        manifest = _from_dict(raw, shard_objects)
    except RecursionError:
        raise IntegrityError(f"{where} is malformed: nested too deeply", name=name) from None
    except (ValueError, TypeError, KeyError, AttributeError, InvalidSpecError) as exc:
        raise IntegrityError(f"{where} is malformed: {exc}", name=name) from None
    if manifest.name != name or manifest.version != version:
        raise IntegrityError(f"{where} names {manifest.spec} instead", name=name)
    return manifest


def _gunzip(data: bytes) -> bytes:
    """``data`` inflated; refused once it passes ``MAX_INFLATED`` bytes (the rest is
    never inflated)."""
    inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip framing only
    try:
        text = inflate.decompress(data, MAX_INFLATED + 1)
    except zlib.error as exc:
        raise ValueError(f"not a valid gzip stream ({exc})") from None
    if len(text) > MAX_INFLATED:
        raise ValueError(f"it inflates to more than {MAX_INFLATED} bytes")
    if not inflate.eof or inflate.unused_data:
        raise ValueError("the gzip stream is truncated, or followed by other bytes")
    return text


def _from_dict(raw: dict[str, Any], shard_objects: tuple[str, ...] = ()) -> Manifest:
    if raw.get("format") not in FORMATS:
        raise ValueError(f"unsupported format {raw.get('format')!r}")
    version = Version.parse(str(raw["version"]))
    files = raw["files"]
    if not isinstance(files, list) or len(files) > MAX_FILES:
        raise ValueError(f"'files' must be a list of at most {MAX_FILES} entries")
    entries = tuple(_entry(item, version) for item in files)
    dirs = raw.get("empty_dirs", [])
    if not isinstance(dirs, list) or len(dirs) > MAX_EMPTY_DIRS:
        raise ValueError(f"'empty_dirs' must be a list of at most {MAX_EMPTY_DIRS} entries")
    empty_dirs = tuple(check_relpath(text_field(d, "an empty dir"), what="folder") for d in dirs)
    kind = raw["kind"]
    _check_layout(kind, entries, empty_dirs)
    metadata = raw.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ValueError("'metadata' must be an object")
    manifest = Manifest(
        name=str(raw["name"]),
        version=version,
        kind=kind,
        files=entries,
        pushed_at=_time(raw["pushed_at"], "pushed_at"),
        pushed_by=str(raw["pushed_by"]),
        metadata={str(k): str(v) for k, v in metadata.items()},
        empty_dirs=empty_dirs,
        expires_at=None
        if raw.get("expires_at") is None
        else _time(raw["expires_at"], "expires_at"),
        shard_objects=shard_objects,
    )
    if len(manifest.folders) > len(entries) + EXTRA_FOLDERS:
        raise ValueError(
            f"it declares {len(manifest.folders)} folders for {len(entries)} files (at most "
            f"{EXTRA_FOLDERS} more folders than files)"
        )
    return manifest


def _time(value: Any, what: str) -> str:
    """A time as stored: ISO 8601 text. One a reader cannot read is refused: an expiry
    would make gc delete at the wrong time, a push time would stop the catalog's sync."""
    from datetime import datetime

    datetime.fromisoformat(text_field(value, what))
    return str(value)


def text_field(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, not {type(value).__name__}")
    return value


def _entry(item: dict[str, Any], version: Version) -> FileEntry:
    if not isinstance(item, dict):
        raise ValueError(f"a file entry must be an object, not {type(item).__name__}")
    path = check_relpath(text_field(item["path"], "a file path"), what="file path")
    size = item["size"]
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError(f"size of {path!r} must be a non-negative integer")
    sha256 = str(item["sha256"])
    if not SHA256_TEXT.fullmatch(sha256):
        raise ValueError(f"sha256 of {path!r} must be 'sha256:<64 hex digits>'")
    stored_at = item.get("stored_at")
    if stored_at is not None:
        stored_at = _stored_at(_named(stored_at, "stored_at", path), version)
    pack, offset = item.get("pack"), item.get("offset", 0)
    if pack is not None:
        if stored_at is not None:
            raise ValueError(f"{path!r} has both a stored_at and a pack")
        pack = _in_pack(_named(pack, "pack", path), version)
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise ValueError(f"offset of {path!r} must be a non-negative integer")
    return FileEntry(path, size, sha256, stored_at, pack, offset)


def _named(value: Any, field: str, path: str) -> str:
    """``text_field`` for a field of the entry of ``path`` (its message is made only
    when it is needed: this runs for every entry of a manifest)."""
    return value if isinstance(value, str) else text_field(value, f"{field} of {path!r}")


@functools.lru_cache(maxsize=1024)  # a manifest names a few packs for many entries
def _in_pack(text: str, version: Version) -> str:
    """``text`` if it names a pack in the folder of ``version`` or an earlier one."""
    head, _, relpath = text.partition("/")
    if Version.parse(head) > version:
        raise ValueError(f"pack {text!r} must be in {version} or an older version")
    check_relpath(relpath, what="pack path")
    return text


@functools.lru_cache(maxsize=4096)
def _stored_at(text: str, version: Version) -> str:
    """``text`` if it names a file of a version older than ``version``: only an
    earlier version can hold the bytes, and nothing outside its folder."""
    head, _, relpath = text.partition("/")
    if Version.parse(head) >= version:
        raise ValueError(f"stored_at {text!r} must name a version older than {version}")
    check_relpath(relpath, what="stored_at path")
    return text


def _check_layout(kind: str, entries: tuple[FileEntry, ...], empty_dirs: tuple[str, ...]) -> None:
    if kind == "file":
        if len(entries) != 1 or "/" in entries[0].path or empty_dirs:
            raise ValueError("a 'file' asset holds exactly one file at its top level")
        return
    if kind != "dir":
        raise ValueError(f"kind must be 'file' or 'dir', not {kind!r}")
    paths = [entry.path for entry in entries]
    if len(set(paths)) != len(paths):
        raise ValueError("duplicate file paths")
    heads = {p.rsplit("/", 1)[0] for p in paths if "/" in p}.union(empty_dirs)
    folders = {"/".join(f.split("/")[:i]) for f in heads for i in range(1, f.count("/") + 2)}
    clash = folders.intersection(paths)
    if clash:
        raise ValueError(f"{sorted(clash)[0]!r} is both a file and a folder")
