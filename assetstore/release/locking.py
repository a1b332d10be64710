"""Lock, check and sync: resolve specs to exact versions pinned by the sha256 of their
manifests as stored, and later install exactly those — or fail closed.

A lockfile pins a manifest, and a manifest pins every file's sha256: a version that
was replaced or tampered with in the bucket after the lock no longer hashes to
``manifest_sha256``, and nothing of that asset is installed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AssetNotFoundError, AssetStoreError, IntegrityError
from ..model.manifest import Manifest
from ..model.spec import Spec, parse_spec
from ..reading import verified_manifest
from .lockfile import Locked

if TYPE_CHECKING:
    from ..store import AssetStore


def lock(store: AssetStore, specs: Iterable[str]) -> list[Locked]:
    """Each spec resolved now, in the bucket (aliases, partial versions, sub-paths)."""
    return [_locked(store, text) for text in dict.fromkeys(specs)]


def _locked(store: AssetStore, text: str) -> Locked:
    spec = parse_spec(text)
    version = store.resolve(spec)
    manifest, digest = store.remote.manifest_and_digest(spec.name, version)
    if spec.sub_path is not None and manifest.lookup(spec.sub_path) is None:
        raise AssetNotFoundError(f"{manifest.spec} has no file or folder {spec.sub_path!r}")
    alias_at = None
    if spec.alias is not None:
        from ..repository import journal

        move = journal.moves(store.remote, spec.name, spec.alias, last=spec.back + 1)[0]
        alias_at = move.at.isoformat(timespec="seconds")
    return Locked(
        spec=text, name=spec.name, version=version, manifest_sha256=digest,
        size=manifest.total_size, sub_path=spec.sub_path, alias=spec.alias, alias_at=alias_at,
    )  # fmt: skip


def changes(old: list[Locked], new: list[Locked]) -> list[str]:
    """What differs between two locks, one line per spec (empty: the same lock)."""
    before, after = {e.spec: e for e in old}, {e.spec: e for e in new}
    lines = [f"- {spec}: no longer requested" for spec in sorted(set(before) - set(after))]
    lines += [f"+ {spec}: {after[spec].version}" for spec in sorted(set(after) - set(before))]
    for spec in sorted(set(before) & set(after)):
        was, now = before[spec], after[spec]
        if was.version != now.version:
            lines.append(f"~ {spec}: {was.version} -> {now.version}")
        elif was.fields() != now.fields():
            lines.append(f"~ {spec}: {now.version}, its manifest changed")
    return lines


@dataclass
class SyncResult:
    paths: list[tuple[Locked, Path]] = field(default_factory=list)
    failed: dict[str, AssetStoreError] = field(default_factory=dict)


def sync(store: AssetStore, entries: list[Locked]) -> SyncResult:
    """Install exactly what ``entries`` pin. One that fails (its manifest changed, its
    bytes do not verify) installs nothing and does not stop the others."""
    result = SyncResult()
    for entry in entries:
        try:
            result.paths.append((entry, _install(store, entry)))
        except AssetStoreError as exc:
            result.failed[entry.spec] = exc
    return result


def _install(store: AssetStore, entry: Locked) -> Path:
    manifest = verified_manifest(store.remote, entry)
    cache = store.cache
    same = (
        cache.has(entry.name, entry.version)
        and cache.manifest(entry.name, entry.version) == manifest
    )
    if not same:
        from ..io.stream import NoProgress
        from ..transfer.pull import download

        download(
            store.remote, cache, entry.name, entry.version, manifest=lambda _n, _v: manifest,
            workers=store.settings.workers, force=cache.has(entry.name, entry.version),
            callback=NoProgress(),
        )  # fmt: skip
    return _path(store, entry, manifest)


def check(store: AssetStore, entries: list[Locked]) -> dict[str, AssetStoreError]:
    """Without the network: every locked version in the assets dir, its manifest the
    locked one and its files verified. What is wrong, by spec."""
    from ..cache.verify import problems
    from ..model import shards

    wrong: dict[str, AssetStoreError] = {}
    for entry in entries:
        where = f"{entry.name}:{entry.version} in the assets dir {store.cache.root}"
        if not store.cache.has(entry.name, entry.version):
            wrong[entry.spec] = AssetNotFoundError(f"{where} is missing")
            continue
        manifest = store.cache.manifest(entry.name, entry.version)
        stored = shards.stored_forms(manifest)  # the bytes its manifest may have in the bucket
        if entry.manifest_sha256 not in {"sha256:" + hashlib.sha256(b).hexdigest() for b in stored}:
            wrong[entry.spec] = IntegrityError(f"{where} is another version than the one locked")
            continue
        found = list(problems(store.cache, manifest))
        if found:
            wrong[entry.spec] = IntegrityError(f"{where}: {'; '.join(found)}")
    return wrong


def _path(store: AssetStore, entry: Locked, manifest: Manifest) -> Path:
    spec = Spec(entry.name, entry.version.major, entry.version.minor, entry.sub_path)
    return store._reader.local_path(manifest, spec)
