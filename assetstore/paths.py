"""Relative paths from outside (sub-paths, manifest entries, pushed trees), validated
before they touch a disk or a bucket."""

from __future__ import annotations

import re

from .errors import InvalidSpecError

_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Exactly the paths _relpath_problem finds nothing wrong with, in one C-level match (a
# manifest holds up to a million of them): segments of anything but "/", "\\" and
# control characters, none of them "." or "..", and no drive letter first.
_SEGMENT = r"(?!\.\.?(?:/|\Z))[^/\\\x00-\x1f\x7f]+"
_CLEAN = re.compile(rf"(?![A-Za-z]:){_SEGMENT}(?:/{_SEGMENT})*")


def check_relpath(path: str, *, what: str = "path") -> str:
    """Return ``path`` if it is a clean relative POSIX path, else raise.

    Clean means: not empty, not absolute, no drive letter, no backslash, no control
    character, no empty, ``.`` or ``..`` segment. It can never name anything outside
    the folder it is joined to.

    >>> check_relpath("vocab/en.txt")
    'vocab/en.txt'
    >>> check_relpath("../etc/passwd")
    Traceback (most recent call last):
    ...
    assetstore.errors.InvalidSpecError: invalid path '../etc/passwd': '..' segments are not allowed
    """
    if _CLEAN.fullmatch(path):
        return path
    reason = _relpath_problem(path)
    if reason:
        raise InvalidSpecError(f"invalid {what} {path!r}: {reason}")
    return path


def _relpath_problem(path: str) -> str | None:
    if not path:
        return "it is empty"
    if path.startswith("/") or _DRIVE.match(path):
        return "it must be relative"
    if "\\" in path:
        return "backslashes are not allowed"
    if _CONTROL.search(path):
        return "control characters are not allowed"
    segments = path.split("/")
    if ".." in segments:
        return "'..' segments are not allowed"
    if "." in segments or "" in segments:
        return "empty or '.' segments are not allowed"
    return None
