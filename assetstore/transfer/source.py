"""What a push takes from a local path: a file as it is, or a directory tree minus what
its ignore rules exclude (gitignore syntax, through ``pathspec``).

The rules of a tree, in the order they apply (a later ``!pattern`` re-includes): the
built-in defaults (``DEFAULT_EXCLUDES``, unless turned off), the lines of
``.assetstoreignore`` at the root of the tree, then the patterns given to the push.
"""

from __future__ import annotations

import os
import stat
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
    """A push source as scanned: its kind, its files (relative POSIX path, file), its
    empty folders, and what the rules left out (a folder as ``dir/``)."""

    kind: Kind
    files: list[tuple[str, Path]]
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
        return Source("file", [(source.resolve().name, source)], [], [])
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
    files: list[tuple[str, Path]] = []
    empty: list[str] = []
    skipped: list[str] = []
    for folder, dirs, names in os.walk(source):
        here = Path(folder)
        base = "" if here == source else f"{_relative(here, source)}/"
        left_out = {d for d in dirs if spec.match_file(f"{base}{d}/")}
        left_out |= {n for n in names if spec.match_file(f"{base}{n}")}
        skipped += sorted(f"{base}{d}/" for d in dirs if d in left_out)
        skipped += sorted(f"{base}{n}" for n in names if n in left_out)
        if not dirs and not names and here != source:
            empty.append(base.rstrip("/"))
        dirs[:] = sorted(d for d in dirs if d not in left_out)  # os.walk skips the rest
        kept = sorted(n for n in names if n not in left_out)
        for entry in [*dirs, *kept]:
            _check_entry(here / entry, source)
        files.extend((_relative(here / n, source), here / n) for n in kept)
    if not files and not empty:
        why = "every file in it is excluded" if skipped else "the directory is empty"
        raise PushSourceError(f"cannot push {source}: {why}")
    return Source("dir", files, empty, skipped)


def _check_entry(path: Path, root: Path) -> None:
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        raise PushSourceError(
            f"cannot push {root}: {path} is a symlink (to {os.readlink(path)}); symlinks "
            "inside a pushed tree are refused — replace it with the file it points to, or "
            "exclude it"
        )
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise PushSourceError(f"cannot push {root}: {path} is not a regular file or folder")


def _relative(path: Path, root: Path) -> str:
    return check_relpath(path.relative_to(root).as_posix(), what="path in the pushed tree")
