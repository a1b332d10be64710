"""The lockfile (``assets.lock``): TOML, meant to be committed and read in diffs.

    version = 1

    [[asset]]
    spec = "models/bert@prod"
    name = "models/bert"
    version = "1.2"
    manifest_sha256 = "sha256:…"
    size = 1234
    alias = "prod"
    alias_at = "2026-12-03T10:00:00+00:00"

One ``[[asset]]`` table per requested spec, sorted by spec, keys in a fixed order: the
same inputs always give the same bytes. Pure code: resolving and syncing are
``locking.py``'s.
"""

from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cache.fileid import FileIdentity, identity_of, settled
from ..errors import ConfigError
from ..model.spec import Spec, Version, parse_spec

FORMAT = 1
DEFAULT = "assets.lock"


@dataclass(frozen=True)
class Locked:
    """One requested spec and the exact version it resolved to."""

    spec: str
    name: str
    version: Version
    manifest_sha256: str
    size: int
    sub_path: str | None = None
    alias: str | None = None
    alias_at: str | None = None

    def covers(self, spec: Spec) -> bool:
        """Whether ``spec`` (as a service asks for it) is this entry: the same alias,
        or a version spec this entry's version matches."""
        if spec.name != self.name:
            return False
        if spec.alias is not None:
            return spec.alias == self.alias and not spec.back
        return spec.matches(self.version)

    def fields(self) -> dict[str, Any]:
        found = {
            "spec": self.spec, "name": self.name, "version": str(self.version),
            "sub_path": self.sub_path, "manifest_sha256": self.manifest_sha256,
            "size": self.size, "alias": self.alias, "alias_at": self.alias_at,
        }  # fmt: skip
        return {key: value for key, value in found.items() if value is not None}


def dumps(entries: list[Locked]) -> str:
    """The lockfile's text: entries by spec, each key on its line."""
    lines = [f"version = {FORMAT}"]
    for entry in sorted({e.spec: e for e in entries}.values(), key=lambda e: e.spec):
        lines += ["", "[[asset]]"]
        lines += [f"{key} = {_value(value)}" for key, value in entry.fields().items()]
    return "\n".join(lines) + "\n"


# Lockfiles parsed in this process, by path: with ASSETSTORE_LOCKFILE every resolution
# reads the lock, so a warm get costs a stat, not a parse (the manifest memo's rule:
# reused while the file's identity stands, and only once the file has settled).
_PARSED: dict[str, tuple[FileIdentity, tuple[Locked, ...]]] = {}


def load(path: Path) -> list[Locked]:
    """The entries of the lockfile at ``path``; a ConfigError saying what is wrong."""
    try:
        info = path.stat()
    except OSError:
        info = None  # the read below says why
    kept = _PARSED.get(str(path))
    if info is not None and kept is not None and kept[0] == identity_of(info):
        return list(kept[1])
    entries = _parse(path)
    if info is not None and settled(info, time.time_ns()):
        _PARSED[str(path)] = (identity_of(info), tuple(entries))
    return entries


def _parse(path: Path) -> list[Locked]:
    try:
        return parse(path.read_bytes(), str(path))
    except FileNotFoundError:
        raise ConfigError(f"lockfile {path} not found (write one with 'assetstore lock')") from None
    except OSError as exc:
        raise ConfigError(f"lockfile {path} cannot be read: {exc}") from None


def parse(data: bytes, where: str) -> list[Locked]:
    """The entries of a lockfile's bytes (``where``: the file or object, for errors)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        parsed = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"lockfile {where} cannot be read: {exc}") from None
    if parsed.get("version") != FORMAT:
        raise ConfigError(
            f"lockfile {where}: version = {parsed.get('version')!r}, expected {FORMAT}"
        )
    try:
        return [_entry(raw) for raw in parsed.get("asset", [])]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"lockfile {where}: malformed [[asset]]: {exc}") from None


def read_specs(path: Path) -> list[str]:
    """Specs one per line, as ``pip -r`` reads requirements: ``#`` comments and blank
    lines ignored."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read specs from {path}: {exc.strerror or exc}") from None
    specs = [line.partition("#")[0].strip() for line in text.splitlines()]
    return [spec for spec in specs if spec]


def _entry(raw: dict[str, Any]) -> Locked:
    spec = str(raw["spec"])
    parsed = parse_spec(spec)  # a lockfile is input too: its fields must say what its spec says
    if str(raw["name"]) != parsed.name or raw.get("sub_path") != parsed.sub_path:
        raise ValueError(f"{spec}: name or sub_path is not the spec's")
    if raw.get("alias") != parsed.alias:
        raise ValueError(f"{spec}: alias is not the spec's")
    sha = str(raw["manifest_sha256"])
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", sha):
        raise ValueError(f"manifest_sha256 {sha!r} of {spec} is no sha256")
    return Locked(
        spec=spec, name=str(raw["name"]), version=Version.parse(str(raw["version"])),
        manifest_sha256=sha, size=int(raw["size"]), sub_path=raw.get("sub_path"),
        alias=raw.get("alias"), alias_at=raw.get("alias_at"),
    )  # fmt: skip


def _value(value: Any) -> str:
    """A TOML value: an integer, or a basic string (JSON's escapes are TOML's)."""
    return str(value) if isinstance(value, int) else json.dumps(str(value), ensure_ascii=False)
