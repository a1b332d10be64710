"""Relative paths from outside (sub-paths, manifest entries, pushed trees), validated
before they touch a disk or a bucket."""

from __future__ import annotations

import re

from ..errors import InvalidSpecError

_DRIVE = re.compile(r"^[A-Za-z]:")
# C0 and C1 controls, and the line and paragraph separators: any of them would let a
# one-line error message read as two. Lone surrogates are no text at all.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Exactly the characters _relpath_problem finds nothing wrong with, in one C-level
# match (a manifest holds up to a million paths): segments of anything but "/", "\\",
# controls, separators and surrogates, none of them "." or "..", no drive letter first.
_SEGMENT = "(?!\\.\\.?(?:/|\\Z))[^/\\\\\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]+"
_CLEAN = re.compile(f"(?![A-Za-z]:){_SEGMENT}(?:/{_SEGMENT})*")
# What a path may take of a Linux filesystem (NAME_MAX 255 bytes a segment, PATH_MAX
# 4096 bytes in all, the assets dir and the version's folder included).
MAX_SEGMENT_BYTES = 255
MAX_PATH_BYTES = 3072
MAX_DEPTH = 128


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
    if _CLEAN.fullmatch(path) and _fits(path):
        return path
    reason = _relpath_problem(path)
    if reason:
        raise InvalidSpecError(f"invalid {what} {path!r}: {reason}")
    return path


def is_under(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or a path inside it, by whole segments.

    >>> is_under("a/b/c", "a/b"), is_under("a/b", "a/b"), is_under("a/bc", "a/b")
    (True, True, False)
    """
    return path == folder or path.startswith(folder + "/")


def _fits(path: str) -> bool:
    """Whether a clean path fits a Linux filesystem (one encode for most paths)."""
    size = len(path.encode("utf-8"))
    if size <= MAX_SEGMENT_BYTES:
        return True
    if size > MAX_PATH_BYTES or path.count("/") >= MAX_DEPTH:
        return False
    return all(len(s.encode("utf-8")) <= MAX_SEGMENT_BYTES for s in path.split("/"))


def _relpath_problem(path: str) -> str | None:
    if not path:
        return "it is empty"
    if path.startswith("/") or _DRIVE.match(path):
        return "it must be relative"
    if "\\" in path:
        return "backslashes are not allowed"
    if _CONTROL.search(path):
        return "control characters and line separators are not allowed"
    if _SURROGATE.search(path):
        return "it is not valid Unicode (a lone surrogate)"
    segments = path.split("/")
    if ".." in segments:
        return "'..' segments are not allowed"
    if "." in segments or "" in segments:
        return "empty or '.' segments are not allowed"
    return _size_problem(path, segments)


def _size_problem(path: str, segments: list[str]) -> str | None:
    if len(segments) > MAX_DEPTH:
        return f"more than {MAX_DEPTH} segments"
    if len(path.encode("utf-8")) > MAX_PATH_BYTES:
        return f"longer than {MAX_PATH_BYTES} bytes"
    if any(len(s.encode("utf-8")) > MAX_SEGMENT_BYTES for s in segments):
        return f"a segment is longer than {MAX_SEGMENT_BYTES} bytes (the filesystem's limit)"
    return None
