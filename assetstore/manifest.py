"""The manifest: what a version is. Written last on push (the commit point), read first
on pull, validated as untrusted input."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from .errors import IntegrityError, InvalidSpecError
from .paths import check_relpath
from .spec import Version

FORMAT = 1
MAX_FILES = 1_000_000
_SHA256 = re.compile(r"sha256:[0-9a-f]{64}")

Kind = Literal["file", "dir"]


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}


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

    @property
    def total_size(self) -> int:
        return sum(entry.size for entry in self.files)

    @property
    def spec(self) -> str:
        return f"{self.name}:{self.version}"

    def lookup(self, sub_path: str) -> Kind | None:
        """Whether ``sub_path`` is a file or a folder of this version, or neither."""
        files, folders = self._paths
        if sub_path in files:
            return "file"
        return "dir" if sub_path in folders else None

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

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "name": self.name,
            "version": str(self.version),
            "kind": self.kind,
            "total_size": self.total_size,
            "pushed_at": self.pushed_at,
            "pushed_by": self.pushed_by,
            "metadata": dict(self.metadata),
            "files": [entry.to_dict() for entry in self.files],
            "empty_dirs": list(self.empty_dirs),
        }

    def to_json(self) -> bytes:
        import json

        # Compact: a manifest of 10,000 files is sent with every push of them.
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True).encode()


def parse_manifest(data: bytes, *, name: str, version: Version) -> Manifest:
    """Parse and validate a manifest read from ``name:version``'s location.

    A manifest comes from a bucket someone else may write to: every path is checked,
    and a manifest that lies about where it lives is refused.
    """
    import json  # here, not at the top: ``import assetstore`` stays light

    where = f"manifest of {name}:{version}"
    try:
        raw = json.loads(data)
        manifest = _from_dict(raw)
    except (ValueError, TypeError, KeyError, AttributeError, InvalidSpecError) as exc:
        raise IntegrityError(f"{where} is malformed: {exc}", name=name) from None
    if manifest.name != name or manifest.version != version:
        raise IntegrityError(f"{where} names {manifest.spec} instead", name=name)
    return manifest


def _from_dict(raw: dict[str, Any]) -> Manifest:
    if raw.get("format") != FORMAT:
        raise ValueError(f"unsupported format {raw.get('format')!r}")
    files = raw["files"]
    if not isinstance(files, list) or len(files) > MAX_FILES:
        raise ValueError(f"'files' must be a list of at most {MAX_FILES} entries")
    entries = tuple(_entry(item) for item in files)
    dirs = raw.get("empty_dirs", [])
    if not isinstance(dirs, list) or len(dirs) > MAX_FILES:
        raise ValueError(f"'empty_dirs' must be a list of at most {MAX_FILES} entries")
    empty_dirs = tuple(check_relpath(_text(d, "an empty dir"), what="folder") for d in dirs)
    kind = raw["kind"]
    _check_layout(kind, entries, empty_dirs)
    metadata = raw.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ValueError("'metadata' must be an object")
    return Manifest(
        name=str(raw["name"]),
        version=Version.parse(str(raw["version"])),
        kind=kind,
        files=entries,
        pushed_at=str(raw["pushed_at"]),
        pushed_by=str(raw["pushed_by"]),
        metadata={str(k): str(v) for k, v in metadata.items()},
        empty_dirs=empty_dirs,
    )


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, not {type(value).__name__}")
    return value


def _entry(item: dict[str, Any]) -> FileEntry:
    if not isinstance(item, dict):
        raise ValueError(f"a file entry must be an object, not {type(item).__name__}")
    path = check_relpath(_text(item["path"], "a file path"), what="file path")
    size = item["size"]
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError(f"size of {path!r} must be a non-negative integer")
    sha256 = str(item["sha256"])
    if not _SHA256.fullmatch(sha256):
        raise ValueError(f"sha256 of {path!r} must be 'sha256:<64 hex digits>'")
    return FileEntry(path, size, sha256)


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
    folders = {p.rsplit("/", 1)[0] for p in paths if "/" in p}
    parents = {"/".join(f.split("/")[:i]) for f in folders for i in range(1, f.count("/") + 2)}
    clash = parents.union(empty_dirs).intersection(paths)
    if clash:
        raise ValueError(f"{sorted(clash)[0]!r} is both a file and a folder")
