"""Names, versions and specs: ``name[:version][[sub/path]]``. Pure functions only."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InvalidSpecError
from .paths import MAX_SEGMENT_BYTES, check_relpath

_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# A segment may not start like a version ("1.2", "1.2.json"): on disk a version is a
# folder under its name and its manifest is "<version>.json", so such a segment would
# collide with another asset's version.
# ASCII digits only: \d would match every Unicode digit, and int() would read them.
_VERSION_LIKE = re.compile(r"[0-9]+\.[0-9]+(\..*)?")
# The one canonical form of a version, ASCII digits only: neither "01.2" nor "1.2" in
# other digits names a version (a folder, a manifest, a listing entry).
VERSION_TEXT = r"((?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*))"
_VERSION = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
_PARTIAL = re.compile(r"(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*))?")
_MAX_NAME = 512
_ALIAS = re.compile(r"[a-z][a-z0-9-]{0,62}")
_BACK = re.compile(r"0|[1-9][0-9]{0,5}")
LATEST = "latest"  # reserved: the newest version, never an alias one can set


@dataclass(frozen=True, order=True)
class Version:
    """An immutable ``MAJOR.MINOR`` version, ordered numerically (1.10 > 1.9).

    >>> sorted([Version.parse("1.10"), Version.parse("1.9")])[-1]
    Version(major=1, minor=10)
    >>> str(Version(2, 0).bump("minor"))
    '2.1'
    """

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> Version:
        match = _VERSION.fullmatch(text)
        if not match:
            raise InvalidSpecError(
                f"invalid version {text!r}: expected MAJOR.MINOR, two non-negative integers"
            )
        return cls(int(match[1]), int(match[2]))

    def bump(self, part: str) -> Version:
        if part == "major":
            return Version(self.major + 1, 0)
        if part == "minor":
            return Version(self.major, self.minor + 1)
        raise InvalidSpecError(f"invalid bump {part!r}: expected 'major' or 'minor'")

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


@dataclass(frozen=True)
class Spec:
    """A parsed spec. ``major``/``minor`` are None where the spec leaves them open."""

    name: str
    major: int | None = None
    minor: int | None = None
    sub_path: str | None = None
    alias: str | None = None  # NAME@ALIAS: resolved through the alias's journal
    back: int = 0  # NAME@ALIAS~N: the value the alias had N moves ago

    @property
    def pinned(self) -> Version | None:
        """The exact version, when the spec names one."""
        if self.major is None or self.minor is None:
            return None
        return Version(self.major, self.minor)

    def matches(self, version: Version) -> bool:
        """Whether ``version`` satisfies this spec (``:1`` is any 1.x, never 10.x)."""
        if self.major is not None and version.major != self.major:
            return False
        return self.minor is None or version.minor == self.minor

    def best(self, versions: list[Version]) -> Version | None:
        """The newest of ``versions`` this spec matches."""
        candidates = [v for v in versions if self.matches(v)]
        return max(candidates) if candidates else None

    def with_version(self, version: Version) -> Spec:
        return Spec(self.name, version.major, version.minor, self.sub_path)

    def __str__(self) -> str:
        text = self.name
        if self.alias is not None:
            text += f"@{self.alias}" + (f"~{self.back}" if self.back else "")
        if self.major is not None:
            text += f":{self.major}" + ("" if self.minor is None else f".{self.minor}")
        if self.sub_path is not None:
            text += f"[{self.sub_path}]"
        return text


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid asset name, else raise ``InvalidSpecError``.

    >>> check_name("models/bert")
    'models/bert'
    >>> check_name("models/1.2")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    assetstore.errors.InvalidSpecError: invalid name 'models/1.2': segment '1.2' looks like a ...
    """
    problem = _name_problem(name)
    if problem:
        raise InvalidSpecError(f"invalid name {name!r}: {problem}")
    return name


def _name_problem(name: str) -> str | None:
    if not name:
        return "it is empty"
    if len(name) > _MAX_NAME:
        return f"longer than {_MAX_NAME} characters"
    if "\\" in name:
        return "backslashes are not allowed"
    for segment in name.split("/"):
        if segment == "":
            return "empty segment (leading, trailing or double '/')"
        if _VERSION_LIKE.fullmatch(segment):
            return f"segment {segment!r} looks like a version"
        if len(segment) > MAX_SEGMENT_BYTES:  # ASCII: characters are bytes
            return (
                f"a segment is longer than {MAX_SEGMENT_BYTES} characters (the filesystem's limit)"
            )
        if not _SEGMENT.fullmatch(segment):
            return (
                f"segment {segment!r} must start with a letter or digit and contain only "
                "letters, digits, '.', '_' and '-'"
            )
    return None


def parse_spec(text: str) -> Spec:
    """Parse ``name[:version][[sub/path]]`` or ``name@alias[~N][[sub/path]]``.

    >>> parse_spec("models/bert:1.2[vocab/en.txt]")
    Spec(name='models/bert', major=1, minor=2, sub_path='vocab/en.txt', alias=None, back=0)
    >>> parse_spec("models/bert@prod~1")
    Spec(name='models/bert', major=None, minor=None, sub_path=None, alias='prod', back=1)
    """
    rest, sub_path = _split_sub_path(text)
    if "@" in rest:
        return _alias_spec(text, rest, sub_path)
    name, sep, version = rest.partition(":")
    check_name(name)
    if not sep:
        return Spec(name, sub_path=sub_path)
    match = _PARTIAL.fullmatch(version)
    if not match:
        raise InvalidSpecError(
            f"invalid spec {text!r}: version {version!r} must be MAJOR or MAJOR.MINOR"
        )
    minor = None if match[2] is None else int(match[2])
    return Spec(name, int(match[1]), minor, sub_path)


def _alias_spec(text: str, rest: str, sub_path: str | None) -> Spec:
    name, _, alias = rest.partition("@")
    if ":" in name or ":" in alias:
        raise InvalidSpecError(
            f"invalid spec {text!r}: a spec names a :VERSION or an @ALIAS, not both"
        )
    check_name(name)
    alias, tilde, back = alias.partition("~")
    check_alias(alias)
    if tilde and not _BACK.fullmatch(back):
        raise InvalidSpecError(f"invalid spec {text!r}: ~N takes a number of moves, such as ~1")
    if alias == LATEST:
        if tilde:
            raise InvalidSpecError(
                f"invalid spec {text!r}: @latest is the newest version; it has no moves"
            )
        return Spec(name, sub_path=sub_path)
    return Spec(name, sub_path=sub_path, alias=alias, back=int(back or 0))


def check_alias(alias: str, *, to_set: bool = False) -> str:
    """``alias`` if it is a valid alias name (``latest`` too, unless ``to_set``)."""
    if not _ALIAS.fullmatch(alias):
        raise InvalidSpecError(
            f"invalid alias {alias!r}: it must match [a-z][a-z0-9-]{{0,62}} (a lowercase "
            "letter, then lowercase letters, digits and '-')"
        )
    if to_set and alias == LATEST:
        raise InvalidSpecError(
            "'latest' is reserved (it means the newest version): choose another alias"
        )
    return alias


def _split_sub_path(text: str) -> tuple[str, str | None]:
    """The sub-path runs from the first ``[`` to the final ``]``. A name never holds a
    bracket, so a file name may: ``data:1.0[bracket[1].txt]`` needs no escape.

    >>> _split_sub_path("data:1.0[bracket[1].txt]")
    ('data:1.0', 'bracket[1].txt')
    """
    if not text.endswith("]"):
        if "[" in text or "]" in text:
            raise InvalidSpecError(f"invalid spec {text!r}: unbalanced '[' or ']'")
        return text, None
    head, bracket, inner = text[:-1].partition("[")
    if not bracket or "]" in head:
        raise InvalidSpecError(f"invalid spec {text!r}: expected name[:version][sub/path]")
    return head, check_relpath(inner, what="sub-path")


def next_version(taken: list[Version], bump: str) -> Version:
    """The version an unpinned push takes: 0.0 first, then a minor or major bump.

    >>> str(next_version([], "minor")), str(next_version([Version(1, 9)], "minor"))
    ('0.0', '1.10')
    >>> str(next_version([Version(0, 3), Version(1, 2)], "major"))
    '2.0'
    """
    if not taken:
        return Version(0, 0)
    return max(taken).bump(bump)


def parse_target(text: str) -> tuple[str, Version | None]:
    """Parse the ``NAME[:MAJOR.MINOR]`` that push takes: a full version or none."""
    name, sep, version = text.partition(":")
    check_name(name)
    return name, (Version.parse(version) if sep else None)
