"""Reading a manifest whose entries are in shards (``model/shards.py``): with all its
entries, or for a pull of one sub-path, with those of the shards that may hold it."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from ..backends import faults
from ..errors import IntegrityError
from ..model.manifest import Manifest
from ..model.shards import Shard, Top, assemble, read_top
from ..model.spec import Version

if TYPE_CHECKING:
    from .repository import Repository


def complete(repo: Repository, name: str, version: Version, data: bytes) -> Manifest:
    """The manifest stored as ``data``, with the entries of its shards if it has any."""
    top = read_top(data, name=name, version=version)
    return top if isinstance(top, Manifest) else _assembled(repo, name, version, top)


def within(repo: Repository, name: str, version: Version, sub_path: str) -> Manifest:
    """The manifest of ``name:version`` for a pull of ``sub_path``: when its entries are
    in shards, listing only the files at or under it (just the shards that may hold them
    are read); else, or when no file is there, the whole manifest."""
    top = read_top(repo.manifest_bytes(name, version), name=name, version=version)
    if isinstance(top, Manifest):
        return top
    held = [shard for shard in top.shards if shard.may_hold(sub_path)]
    if len(held) == len(top.shards):  # it may select every file: the whole version
        return _assembled(repo, name, version, top)
    found = _read(repo, name, version, held)
    scoped = assemble(top, found, name=name, version=version, scope=sub_path)
    return scoped if scoped.files else _assembled(repo, name, version, top)


def _assembled(repo: Repository, name: str, version: Version, top: Top) -> Manifest:
    found = _read(repo, name, version, list(top.shards))
    return assemble(top, found, name=name, version=version)


def _read(
    repo: Repository, name: str, version: Version, shards: list[Shard]
) -> list[tuple[Shard, bytes]]:
    """Each of ``shards`` with its bytes, read a batch at once; a missing one is damage."""
    paths = [repo.data_path(name, version, shard.object) for shard in shards]
    found = repo.read_all(paths)
    for shard, path, data in zip(shards, paths, found, strict=True):
        if isinstance(data, Exception) and faults.is_not_found(data):
            raise IntegrityError(
                f"the manifest of {name}:{version} names the shard {shard.object}, which "
                f"is not at {repo.url_of(path)}: the version is damaged", name=name,
            )  # fmt: skip
        if isinstance(data, Exception):
            with repo.errors(f"reading a shard of the manifest of {name}:{version} at",
                             path=path):  # fmt: skip
                raise data
    return [(shard, cast("bytes", data)) for shard, data in zip(shards, found, strict=True)]
