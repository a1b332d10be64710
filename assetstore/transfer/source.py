"""What a push takes from a local path: a file as it is, or a directory tree minus what
its ignore rules exclude (gitignore syntax, through ``pathspec``).

The rules of a tree, in the order they apply (a later ``!pattern`` re-includes): the
built-in defaults (``DEFAULT_EXCLUDES``, unless turned off), the lines of
``.assetstoreignore`` at the root of the tree, then the patterns given to the push.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import PushSourceError
from ..model.manifest import Kind
from ..model.paths import check_relpath

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec

IGNORE_FILE = ".assetstoreignore"
# What nobody wants in an asset (docs/cli.md lists them); the ignore file itself is a
# rule of the push, not part of the asset.
DEFAULT_EXCLUDES = (".git/", ".DS_Store", "__pycache__/", "*.pyc", IGNORE_FILE)


@dataclass(frozen=True)
class Rules:
    """How to filter a pushed tree."""

    excludes: tuple[str, ...] = ()  # patterns given to the push (--exclude)
    default_excludes: bool = True

    def patterns(self, root: Path) -> list[str]:
        found = list(DEFAULT_EXCLUDES) if self.default_excludes else []
        ignore_file = root / IGNORE_FILE
        if ignore_file.is_file():
            try:
                found += ignore_file.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeError) as exc:
                raise PushSourceError(f"cannot read {ignore_file}: {exc}") from None
        return found + list(self.excludes)


@dataclass(frozen=True)
class Source:
    """A push source as scanned: its kind, its files (relative POSIX path, and the
    file's local path as text: a pathlib object per file cost 6 µs), its empty folders,
    and what the rules left out (a folder as ``dir/``)."""

    kind: Kind
    files: list[tuple[str, str]]
    empty_dirs: list[str]
    skipped: list[str]


def scan_source(source: Path, rules: Rules | None = None) -> Source:
    """What a push of ``source`` would send.

    Symlinks inside a tree are refused (never followed), unless the rules leave them
    out; a symlink named as the source itself is the user's explicit choice and is
    followed. The rules apply to trees: a file named as the source is always sent.
    """
    if not source.exists():
        raise PushSourceError(f"cannot push {source}: no such file or directory")
    if source.is_file():
        check_relpath(source.resolve().name, what="file name")
        return Source("file", [(source.resolve().name, str(source))], [], [])
    if not source.is_dir():
        raise PushSourceError(f"cannot push {source}: not a regular file or directory")
    return _scan_tree(source, _spec((rules or Rules()).patterns(source), source))


def _spec(patterns: Sequence[str], root: Path) -> GitIgnoreSpec:
    from pathspec import GitIgnoreSpec

    try:
        return GitIgnoreSpec.from_lines(patterns)
    except ValueError as exc:  # pathspec's error for a malformed pattern
        raise PushSourceError(f"cannot push {root}: bad ignore pattern: {exc}") from None


def _scan_tree(source: Path, spec: GitIgnoreSpec) -> Source:
    """Walk ``source`` depth first, folders and files in name order (as ``os.walk``
    top-down with sorted folders), from ``os.scandir``'s entries: their types come with
    the listing, so a file costs no ``lstat`` and no ``pathlib`` arithmetic."""
    scan = _Scan(source, spec)
    pending = [(source, "")]
    while pending:
        folder, base = pending.pop()
        pending += reversed(scan.folder(folder, base))
    if not scan.files and not scan.empty:
        why = "every file in it is excluded" if scan.skipped else "the directory is empty"
        raise PushSourceError(f"cannot push {source}: {why}")
    return Source("dir", scan.files, scan.empty, scan.skipped)


class _Scan:
    def __init__(self, root: Path, spec: GitIgnoreSpec) -> None:
        self.root = root
        self.spec = spec
        self.files: list[tuple[str, str]] = []
        self.empty: list[str] = []
        self.skipped: list[str] = []

    def folder(self, folder: Path, base: str) -> list[tuple[Path, str]]:
        """Take in the files of ``folder`` (``base``: its path in the tree, ``""`` or
        ending in ``/``); return its subfolders to walk, in name order."""
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            raise PushSourceError(f"cannot push {self.root}: cannot list {folder}: "
                                  f"{exc.strerror or exc}") from None  # fmt: skip
        if not entries and base:
            self.empty.append(_checked(base.rstrip("/")))
        dirs = [e for e in entries if e.is_dir()]  # a symlink to a folder is matched as one
        names = [e for e in entries if not e.is_dir()]
        left_dirs = {e.name for e in dirs if self.spec.match_file(f"{base}{e.name}/")}
        left_names = {e.name for e in names if self.spec.match_file(f"{base}{e.name}")}
        self.skipped += [f"{base}{e.name}/" for e in dirs if e.name in left_dirs]
        self.skipped += [f"{base}{e.name}" for e in names if e.name in left_names]
        walked = [e for e in dirs if e.name not in left_dirs]
        kept = [e for e in names if e.name not in left_names]
        for entry in [*walked, *kept]:
            self._check_entry(entry)
        self.files += [(_checked(f"{base}{e.name}"), e.path) for e in kept]
        return [(Path(e.path), f"{base}{e.name}/") for e in walked]

    def _check_entry(self, entry: os.DirEntry[str]) -> None:
        if entry.is_symlink():
            raise PushSourceError(
                f"cannot push {self.root}: {entry.path} is a symlink (to "
                f"{os.readlink(entry.path)}); symlinks inside a pushed tree are refused — "
                "replace it with the file it points to, or exclude it"
            )
        if not (entry.is_file(follow_symlinks=False) or entry.is_dir(follow_symlinks=False)):
            raise PushSourceError(
                f"cannot push {self.root}: {entry.path} is not a regular file or folder"
            )


def _checked(relpath: str) -> str:
    return check_relpath(relpath, what="path in the pushed tree")
