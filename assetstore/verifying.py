"""Verifying what the assets dir holds: which cached versions a list of specs names, and
each re-hashed against its manifest."""

from __future__ import annotations

from dataclasses import dataclass

from .cache.cache import Cache
from .errors import AssetNotFoundError
from .model.manifest import Manifest
from .model.spec import Version, parse_spec
from .reading import Reader


@dataclass(frozen=True)
class VerifyResult:
    spec: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(reader: Reader, specs: list[str] | None = None) -> list[VerifyResult]:
    """Re-hash the cached versions ``specs`` name (all cached, by default)."""
    from .cache.verify import problems  # hashing: not part of a warm get's imports

    cache = reader.cache
    results = []
    for name, version in _cached_targets(reader, specs):
        manifest = _held(cache, name, version)
        results.append(VerifyResult(manifest.spec, tuple(problems(cache, manifest))))
    return results


def _held(cache: Cache, name: str, version: Version) -> Manifest:
    """The manifest of what the cache holds of ``name:version``: the whole version's,
    or of a partial version the files it holds."""
    if cache.has(name, version):
        return cache.manifest(name, version)
    from .cache.subset import read_record

    record = read_record(cache, name, version)
    if record is None:  # removed since it was listed
        raise AssetNotFoundError(
            f"{name}:{version} is not in the assets dir {cache.root}: removed while it was "
            "being verified (by a concurrent prune or pull --force)",
            name=name, version=str(version),
        )  # fmt: skip
    return record.held


def _cached_targets(reader: Reader, specs: list[str] | None) -> list[tuple[str, Version]]:
    cache = reader.cache
    if not specs:
        return [(n, v) for n in cache.names(partial=True) for v in _held_versions(cache, n)]
    targets: list[tuple[str, Version]] = []
    for text in specs:
        spec = parse_spec(text)
        if spec.alias is not None:  # the version it names, if cached
            named = reader.resolve(spec)
            matching = [named] if cache.has(spec.name, named) else []
        else:
            matching = [v for v in _held_versions(cache, spec.name) if spec.matches(v)]
        if not matching:
            where = f"the assets dir {cache.root}"
            raise AssetNotFoundError(f"{spec} is not in {where}", spec=str(spec))
        targets.extend((spec.name, v) for v in matching)
    return targets


def _held_versions(cache: Cache, name: str) -> list[Version]:
    return sorted({*cache.versions(name), *cache.partial_versions(name)})
