"""Reading a config file's YAML safely: every way of failing is a one-line ConfigError
naming the file (and the line), never quoting a value, which may be a secret; bounds on
nesting, on merges and aliases ("billion laughs"), and on numbers."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    import yaml

MAX_DEPTH = 32  # nesting levels; a real file needs 5
MAX_VALUES = 100_000  # values once aliases are expanded: bounds a "billion laughs"
_MAX_INT_BITS = 63  # larger numbers are mistakes, and some cannot even be printed


def check_document(path: Path, document: Any) -> None:
    """Refuse a loaded document that breaks a bound (see ``_Walk``)."""
    _Walk(path).check(document, "", 0)


def read_yaml(path: Path) -> Any:
    """The YAML document in ``path``; every way of failing is a one-line ConfigError
    that quotes no text of the file."""
    import yaml

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"cannot read config file {path}: line {line}: not UTF-8 (byte {exc.start})"
        ) from None
    try:
        loader = _loader_class()(text)  # refuses control characters already
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot read config file {path}: {_yaml_problem(exc, text)}") from None


def _yaml_problem(exc: yaml.YAMLError, text: str) -> str:
    """What PyYAML says, on one line and without its snippet of the file (a secret may
    be on that line)."""
    import yaml

    if isinstance(exc, yaml.MarkedYAMLError):
        mark, context = exc.problem_mark or exc.context_mark, exc.context
        if context and exc.context_mark and mark and exc.context_mark.line != mark.line:
            context += f" (line {exc.context_mark.line + 1})"
        what = ", ".join(part for part in (context, exc.problem) if part)
        return f"line {mark.line + 1}, column {mark.column + 1}: {what}" if mark else what
    if isinstance(exc, yaml.reader.ReaderError):
        line = text[: exc.position].count("\n") + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return f"line {line}: unacceptable character #x{code:04x}"
    return str(exc).splitlines()[0]


@functools.cache
def _loader_class() -> type[yaml.SafeLoader]:
    """yaml.SafeLoader with bounds on nesting and on merges (``<<``), and values it
    cannot construct (an invalid date, ``!!int abc``) refused as YAML errors.

    The second is a narrow safety net: PyYAML's scalar constructors let ValueError,
    TypeError, AttributeError or KeyError out for such tagged or date-like scalars, and
    the node's position is only known here."""
    import yaml
    from yaml.composer import ComposerError
    from yaml.constructor import ConstructorError
    from yaml.nodes import MappingNode, Node

    class Loader(yaml.SafeLoader):
        depth = 0

        def compose_node(self, parent: Node | None, index: int) -> Node | None:
            if self.depth >= MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep", mark)
            self.depth += 1
            try:
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

        def flatten_mapping(self, node: MappingNode) -> None:
            super().flatten_mapping(node)  # calls this one for the merged mappings
            if len(node.value) > MAX_VALUES:  # merges of merges double at each level
                problem = f"more than {MAX_VALUES} keys once merges (<<) are expanded"
                raise ConstructorError(None, None, problem, node.start_mark)

        def construct_object(self, node: Node, deep: bool = False) -> Any:
            try:
                return super().construct_object(node, deep)
            except (ValueError, TypeError, AttributeError, LookupError, OverflowError):
                tag = node.tag.rsplit(":", 1)[-1]
                problem = f"cannot read this value as {tag}"
                raise ConstructorError(None, None, problem, node.start_mark) from None

    return Loader


@dataclass
class _Walk:
    """Checks a loaded document before anything else reads it: every key a string, no
    alias that contains itself, at most MAX_DEPTH levels and MAX_VALUES values (counted
    with aliases expanded), no NUL character and no huge number."""

    path: Path
    left: int = MAX_VALUES
    open: set[int] = field(default_factory=set)  # the mappings and lists being checked

    def check(self, value: Any, where: str, depth: int) -> None:
        self._scalar(value, where)
        if not isinstance(value, (dict, list)):
            return
        if id(value) in self.open:
            raise self._error(where, "an alias refers to a mapping or list that contains it")
        if depth >= MAX_DEPTH:
            raise self._error(where, f"nested more than {MAX_DEPTH} levels deep")
        self.open.add(id(value))
        for child_where, child in self._children(value, where):
            self.check(child, child_where, depth + 1)
        self.open.discard(id(value))

    def _children(self, value: dict[Any, Any] | list[Any], where: str) -> Iterator[tuple[str, Any]]:
        if isinstance(value, list):
            yield from ((f"{where}[{i}]", child) for i, child in enumerate(value))
            return
        for key, child in value.items():
            self._scalar(key, where)
            if not isinstance(key, str):
                raise self._error(where, f"key {shown(key)} is not a string; quote it")
            yield (f"{where}.{key}" if where else key), child

    def _scalar(self, value: Any, where: str) -> None:
        self.left -= 1
        if self.left < 0:
            raise self._error(where, f"more than {MAX_VALUES} values once aliases are expanded")
        if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
            raise self._error(where, "a number too large")
        if isinstance(value, str) and "\x00" in value:
            raise self._error(where, "a NUL character (\\0)")

    def _error(self, where: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}: {where or 'top level'}: {problem}")


def shown(value: Any) -> str:
    """A value for a message, only where it is never a secret (a type, a backend name,
    a key); a mapping or a list by its kind, not its content."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
