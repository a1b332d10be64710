"""The bucket layout: where each object of a store lives. Pure functions only.

Under ``{bucket}/{prefix}``::

    {name}/{version}/<files this version sent>
    {name}/{version}/.manifest/{n:04d}-{sha}.json  # a version of many files: its entries
    .manifests/{name}/{version}.json               # the commit point (plain JSON)
    .manifests/{name}/{version}.reserved           # create-if-absent, before any byte moves
    .manifests/{name}/{version}.{id}.outcome       # the decision on reservation {id}
    .manifests/{name}/{version}.yanked             # a yank: who, when, why (unyank deletes it)
    .manifests/{name}/{version}.deleted            # a tombstone: deleted, its number never reused
    .aliases/{name}/{alias}/{move:010d}.json       # an alias's journal, one entry per move
    .locks/{service}.toml                          # a registered lockfile: what it pins is kept

A version's files live under its own folder, or — a file an earlier version already
held, reused by a push instead of sent or copied again — under that earlier version's
folder, at the ``<version>/<path>`` its manifest entry names (``stored_at``): always an
earlier, committed version of the same name. So the objects of one version may be read
through any later one: deleting a version (``lifecycle/``) removes only the objects of
its folder that no other committed manifest names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import AssetStoreError
from ..model.manifest import FileEntry, Manifest
from ..model.spec import VERSION_TEXT, Version, check_name

MANIFESTS = ".manifests"
ALIASES = ".aliases"
LOCKS = ".locks"
MOVE_FILE = re.compile(r"([0-9]{10})\.json")
MANIFEST_FILE = re.compile(VERSION_TEXT + r"\.json")
RESERVED_FILE = re.compile(VERSION_TEXT + r"\.reserved")
OUTCOME_FILE = re.compile(VERSION_TEXT + r"\.([0-9a-f]{32})\.outcome")
YANKED_FILE = re.compile(VERSION_TEXT + r"\.yanked")
DELETED_FILE = re.compile(VERSION_TEXT + r"\.deleted")
LOCK_FILE = re.compile(r"([a-z0-9][a-z0-9._-]{0,63})\.toml")


@dataclass(frozen=True)
class Layout:
    """The paths of one store: ``root`` is ``{bucket}/{prefix}`` as the backend names it."""

    root: str

    def asset_folder(self, name: str) -> str:
        """Where the version folders of ``name`` are (beside those of longer names)."""
        return f"{self.root}/{name}"

    def data_path(self, name: str, version: Version, relpath: str = "") -> str:
        base = f"{self.asset_folder(name)}/{version}"
        return f"{base}/{relpath}" if relpath else base

    def file_path(self, manifest: Manifest, entry: FileEntry) -> str:
        """Where the bytes of ``manifest``'s file ``entry`` are: in its version's folder,
        or in the earlier version's folder the entry names."""
        version, relpath = entry.location(manifest.version)
        return self.data_path(manifest.name, version, relpath)

    def shard_paths(self, manifest: Manifest) -> list[str]:
        """Where the shards its stored manifest keeps its entries in are (none if it
        lists them all, ``model/shards.py``)."""
        return [self.data_path(manifest.name, manifest.version, s) for s in manifest.shard_objects]

    @property
    def manifests_folder(self) -> str:
        return f"{self.root}/{MANIFESTS}"

    def manifest_folder(self, name: str) -> str:
        return f"{self.root}/{MANIFESTS}/{name}"

    def manifest_path(self, name: str, version: Version) -> str:
        return f"{self.manifest_folder(name)}/{version}.json"

    def reservation_path(self, name: str, version: Version) -> str:
        return f"{self.manifest_folder(name)}/{version}.reserved"

    def outcome_path(self, name: str, version: Version, reservation_id: str) -> str:
        return f"{self.manifest_folder(name)}/{version}.{reservation_id}.outcome"

    def yank_path(self, name: str, version: Version) -> str:
        return f"{self.manifest_folder(name)}/{version}.yanked"

    def tombstone_path(self, name: str, version: Version) -> str:
        return f"{self.manifest_folder(name)}/{version}.deleted"

    @property
    def locks_folder(self) -> str:
        return f"{self.root}/{LOCKS}"

    def lock_path(self, service: str) -> str:
        return f"{self.locks_folder}/{service}.toml"

    def alias_folder(self, name: str, alias: str | None = None) -> str:
        base = f"{self.root}/{ALIASES}/{name}"
        return f"{base}/{alias}" if alias else base

    def move_path(self, name: str, alias: str, number: int) -> str:
        return f"{self.alias_folder(name, alias)}/{number:010d}.json"

    def under(self, folder: str, path: str) -> str:
        """``path`` relative to ``folder`` (both as the backend names them)."""
        return path.strip("/").removeprefix(folder.strip("/") + "/")


def valid_name(name: str) -> bool:
    try:
        check_name(name)
    except AssetStoreError:
        return False
    return True
