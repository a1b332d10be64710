"""Sharded manifests: the entries of a version of many files, in a few objects.

A manifest lists every file's path, size, sha256 and location: 1.8 MB for 10,000
files, which a pull of one of them would read whole. A version of more than
``SHARD_ABOVE`` files keeps its entries in shards instead — JSON objects in its own
folder, each holding the entries of one run of paths, in path order — and its manifest
(format 4) keeps everything else, and for each shard its object, the first and last
path of its run, its number of entries and its sha256::

    .manifests/{name}/{version}.json   {"format": 4, ..., "shards": [{"object":
                                        ".manifest/0000-5c1f0e2a9b3d7e41.json", "first":
                                        "a/0.txt", "last": "b/7.txt", "files": 128,
                                        "sha256": ...}]}
    {name}/{version}/.manifest/0000-5c1f0e2a9b3d7e41.json   {"files": [{"path": ...}]}

The manifest stays the commit point and the one object a lockfile pins: the shards are
written before it, and each is held to the sha256 the manifest gives it, so a shard can
no more change than the manifest. A pull of a sub-path reads the manifest and the
shards whose runs can hold its paths — about √n entries each: for 10,000 files two
objects of about 20 KB instead of 1.8 MB. Pure functions only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
from dataclasses import dataclass
from typing import Any

from ..errors import IntegrityError, InvalidSpecError
from .manifest import (
    FORMAT_PACKS,
    FORMAT_SHARDS,
    GZIP_MAGIC,
    MAX_FILES,
    SHA256_TEXT,
    Manifest,
    from_raw,
    load_raw,
    text_field,
)
from .paths import check_relpath, is_under
from .spec import Version

SHARD_ABOVE = 1024  # files; a manifest of 1,024 entries is about 180 KB
MIN_PER_SHARD = 128
MAX_SHARDS = 10_000  # a million files make 1,000 shards of 1,000
FOLDER = ".manifest"  # in the version's folder (another name if the version has files there)


@dataclass(frozen=True)
class Shard:
    """One shard as the manifest names it."""

    object: str  # its path in the version's folder
    first: str  # the first and last path of its entries
    last: str
    files: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def may_hold(self, sub_path: str) -> bool:
        """Whether its run of paths can hold ``sub_path`` or a path under it (every path
        under ``a/b/`` sorts before ``a/b0``: ``0`` follows ``/``)."""
        return self.first < sub_path + "0" and self.last >= sub_path


@dataclass(frozen=True)
class Top:
    """A sharded manifest as stored: its fields but its shards, and its shards."""

    raw: dict[str, Any]
    shards: tuple[Shard, ...]


def split(manifest: Manifest) -> tuple[bytes, list[tuple[str, bytes]]]:
    """What is stored for ``manifest``: the bytes at its manifest path, and the shards
    (path in its version's folder, bytes) to write before them — none for a version of
    at most ``SHARD_ABOVE`` files, whose manifest lists them all. The same manifest
    always gives the same bytes."""
    files = sorted(manifest.files, key=lambda entry: entry.path)
    if len(files) <= SHARD_ABOVE:
        return manifest.to_json(), []
    per_shard = max(MIN_PER_SHARD, math.isqrt(len(files)))
    folder = _folder(manifest)
    parts, shards = [], []
    for number, start in enumerate(range(0, len(files), per_shard)):
        run = files[start : start + per_shard]
        data = _json({"files": [entry.to_dict() for entry in run]})
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        # Named by its bytes too: a committer that would write other bytes (another
        # release's shards) writes other objects, never over a committed version's.
        relpath = f"{folder}/{number:04d}-{digest[7:23]}.json"
        parts.append((relpath, data))
        shards.append(Shard(relpath, run[0].path, run[-1].path, len(run), digest).to_dict())
    raw = manifest.to_dict(files=False)
    return _json(raw | {"format": FORMAT_SHARDS, "shards": shards}), parts


def stored(manifest: Manifest) -> bytes:
    """The bytes at ``manifest``'s manifest path (what a lockfile pins the sha256 of)."""
    return split(manifest)[0]


def stored_forms(manifest: Manifest) -> tuple[bytes, ...]:
    """Every form a bucket may hold ``manifest`` in: whole, and for more than
    ``SHARD_ABOVE`` files also sharded (releases before shards stored it whole)."""
    whole = manifest.to_json()
    return (whole,) if len(manifest.files) <= SHARD_ABOVE else (whole, stored(manifest))


def read_top(data: bytes, *, name: str, version: Version) -> Manifest | Top:
    """The manifest ``data`` holds, or when its entries are in shards, the rest of it."""
    where = f"manifest of {name}:{version}"
    raw = load_raw(data, where=where, name=name)
    if raw.get("format") != FORMAT_SHARDS:
        return from_raw(raw, name=name, version=version)
    try:
        return Top({k: v for k, v in raw.items() if k != "shards"}, _shards(raw))
    except (ValueError, TypeError, KeyError, InvalidSpecError) as exc:
        raise IntegrityError(f"{where} is malformed: {exc}", name=name) from None


def assemble(
    top: Top, found: list[tuple[Shard, bytes]], *, name: str, version: Version,
    scope: str | None = None,
) -> Manifest:  # fmt: skip
    """The manifest of ``top`` with the entries of the shards ``found`` (each with its
    bytes as read): all of them, or with ``scope``, those that may hold that sub-path,
    of whose entries only those at or under it are kept."""
    where = f"manifest of {name}:{version}"
    items = [item for shard, data in found for item in _entries(shard, data, where, name)]
    # With its entries in it, it is a manifest as format 3 (or an earlier one) writes it.
    raw = top.raw | {"files": items, "format": FORMAT_PACKS}
    if scope is not None and isinstance(raw.get("empty_dirs"), list):
        raw["empty_dirs"] = [
            d for d in raw["empty_dirs"] if isinstance(d, str) and is_under(d, scope)
        ]
    objects = tuple(shard.object for shard in top.shards)
    manifest = from_raw(raw, name=name, version=version, shard_objects=objects)
    if scope is None:
        return manifest
    files = tuple(entry for entry in manifest.files if is_under(entry.path, scope))
    return dataclasses.replace(manifest, files=files, scope=scope)


def _shards(raw: dict[str, Any]) -> tuple[Shard, ...]:
    if "files" in raw:
        raise ValueError("a format 4 manifest keeps its files in shards, not in 'files'")
    listed = raw["shards"]
    if not isinstance(listed, list) or not 0 < len(listed) <= MAX_SHARDS:
        raise ValueError(f"'shards' must be a list of 1 to {MAX_SHARDS} shards")
    shards = tuple(_shard(item) for item in listed)
    if sum(shard.files for shard in shards) > MAX_FILES:
        raise ValueError(f"its shards hold more than {MAX_FILES} files")
    if len({shard.object for shard in shards}) != len(shards):
        raise ValueError("two shards are one object")
    for before, after in itertools.pairwise(shards):
        if not before.last < after.first:
            raise ValueError(f"the paths of shard {after.object!r} do not follow those before it")
    return shards


def _shard(item: Any) -> Shard:
    if not isinstance(item, dict):
        raise ValueError(f"a shard must be an object, not {type(item).__name__}")
    relpath = check_relpath(text_field(item["object"], "a shard's object"), what="shard path")
    first, last = (
        text_field(item["first"], "a shard's first path"),
        text_field(item["last"], "a shard's last path"),
    )
    files, sha256 = item["files"], text_field(item["sha256"], "a shard's sha256")
    if not isinstance(files, int) or isinstance(files, bool) or not 0 < files <= MAX_FILES:
        raise ValueError(f"shard {relpath!r} must hold 1 to {MAX_FILES} files")
    if not SHA256_TEXT.fullmatch(sha256):
        raise ValueError(f"sha256 of shard {relpath!r} must be 'sha256:<64 hex digits>'")
    if first > last:
        raise ValueError(f"shard {relpath!r} begins after it ends")
    return Shard(relpath, first, last, files, sha256)


def _entries(shard: Shard, data: bytes, where: str, name: str) -> list[Any]:
    """The entries of ``shard`` (each still to be validated as a manifest's), once its
    bytes match its sha256 and hold its run of paths, in order."""
    if "sha256:" + hashlib.sha256(data).hexdigest() != shard.sha256:
        raise IntegrityError(
            f"{where}: its shard {shard.object} does not match the sha256 the manifest "
            "gives it: damaged or tampered with", name=name,
        )  # fmt: skip
    if data[:2] == GZIP_MAGIC:  # never written so: a gzip bomb's way past the bounds
        raise IntegrityError(f"shard {shard.object} of the {where} is malformed: gzip", name=name)
    raw = load_raw(data, where=f"shard {shard.object} of the {where}", name=name)
    items = raw.get("files")
    try:
        if not isinstance(items, list) or len(items) != shard.files:
            raise ValueError(f"it must list {shard.files} files")
        paths = [text_field(item["path"], "a file path") for item in items]
    except (ValueError, TypeError, KeyError) as exc:
        raise IntegrityError(
            f"shard {shard.object} of the {where} is malformed: {exc}", name=name
        ) from None
    ordered = all(a < b for a, b in itertools.pairwise(paths))
    if not ordered or paths[0] != shard.first or paths[-1] != shard.last:
        raise IntegrityError(
            f"shard {shard.object} of the {where} is malformed: its paths are not the "
            f"run from {shard.first!r} to {shard.last!r} in order", name=name,
        )  # fmt: skip
    return items


def _folder(manifest: Manifest) -> str:
    """Where the shards go in the version's folder: ``.manifest``, unless the version
    stores a file of its own there (then ``.manifest-2``, and so on)."""
    own = set()
    for entry in manifest.files:
        # Only an object whose name has FOLDER in it can be in the way (most are packs).
        if FOLDER not in (entry.pack or entry.stored_at or entry.path):
            continue
        version, relpath = entry.location(manifest.version)
        if version == manifest.version:
            own.add(relpath.partition("/")[0])
    number = 1
    while (folder := FOLDER if number == 1 else f"{FOLDER}-{number}") in own:
        number += 1
    return folder


def _json(raw: dict[str, Any]) -> bytes:
    return json.dumps(raw, separators=(",", ":"), sort_keys=True).encode()
