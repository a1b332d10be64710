"""Property-based tests (hypothesis) of what parses untrusted text: versions and their
order, push targets, relative paths, manifests, and the config file (``substitute``,
``load_config``). No input may raise anything but the documented error type, and what
is accepted must be safe to use. (Specs: see tests/test_spec.py.)"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from assetstore import ConfigError, IntegrityError, InvalidSpecError, Version
from assetstore.config.file import load_config, substitute
from assetstore.model.manifest import parse_manifest
from assetstore.model.paths import check_relpath
from assetstore.model.spec import next_version, parse_spec, parse_target

from .conftest import FULL

EXAMPLES = 1000 if FULL else 150
fast = settings(max_examples=EXAMPLES, deadline=None)
versions = st.builds(Version, st.integers(0, 10**6), st.integers(0, 10**6))


# -- versions and their order ---------------------------------------------------------
@fast
@given(st.lists(versions, min_size=1, max_size=30))
def test_versions_order_numerically_and_round_trip(found: list[Version]) -> None:
    assert sorted(found) == sorted(found, key=lambda v: (v.major, v.minor))
    for v in found:
        assert Version.parse(str(v)) == v
    newest = max(found)
    assert next_version(found, "minor") > newest
    assert next_version(found, "major") > next_version(found, "minor")
    assert next_version(found, "major").minor == 0
    major = newest.major
    assert parse_spec(f"a:{major}").best(found) == max(v for v in found if v.major == major)


@fast
@given(st.text(st.characters(max_codepoint=127), max_size=30) | st.from_regex(r"\d{1,3}\.\d{1,3}"))
@example("01.2")
@example("1.2.3")
@example("1.2\n")
def test_version_parse_raises_only_invalid_spec_errors(text: str) -> None:
    try:
        parsed = Version.parse(text)
    except InvalidSpecError:
        return
    assert str(parsed) == text  # only the canonical form is a version


@pytest.mark.parametrize("text", ["1\uff11.2", "1.2\u0660", "1\u0661.0"])
def test_versions_are_ascii_digits_only(text: str) -> None:
    with pytest.raises(InvalidSpecError):
        Version.parse(text)
    with pytest.raises(InvalidSpecError):
        parse_spec(f"m:{text}")


@fast
@given(st.text(max_size=40))
def test_push_targets_raise_only_invalid_spec_errors(text: str) -> None:
    try:
        name, version = parse_target(text)
    except InvalidSpecError:
        return
    assert parse_spec(name).name == name
    assert version is None or f"{name}:{version}" == text


# -- relative paths: whatever is accepted stays inside ---------------------------------
@fast
@given(st.lists(st.sampled_from([*"ab./\\\x00:C~ ", "..", "é"]), max_size=20).map("".join))
def test_accepted_relative_paths_never_leave_their_folder(text: str) -> None:
    try:
        path = check_relpath(text)
    except InvalidSpecError:
        return
    base = PurePosixPath("/base")
    joined = base / path
    parts: list[str] = []
    for part in joined.parts[1:]:  # resolve "..": none may climb above /base
        assert part not in ("..", ".", "")
        parts.append(part)
    assert joined.parts[:2] == ("/", "base") and len(parts) >= 2


# -- manifests: untrusted JSON ------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
SHA = "sha256:" + "ab" * 32
VALID: dict[str, Any] = {
    "format": 1, "name": "m", "version": "0.0", "kind": "dir", "metadata": {"k": "v"},
    "pushed_at": "2026-01-01T00:00:00+00:00", "pushed_by": "me", "empty_dirs": ["e"],
    "files": [{"path": "a/b", "size": 3, "sha256": SHA}, {"path": "c", "size": 0, "sha256": SHA}],
}  # fmt: skip


@fast
@given(
    st.sampled_from([*VALID, "files.0", "files.0.path", "files.0.size", "empty_dirs.0"]),
    json_values,
)
def test_a_manifest_with_any_field_replaced_is_parsed_or_refused(field: str, value: Any) -> None:
    raw = json.loads(json.dumps(VALID))
    node: Any = raw
    *parents, last = field.split(".")
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    node[int(last) if last.isdigit() else last] = value
    _parsed_or_refused(json.dumps(raw).encode())


@fast
@given(st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_bytes_are_a_manifest_or_refused(data: bytes) -> None:
    _parsed_or_refused(data)


def _parsed_or_refused(data: bytes) -> None:
    try:
        manifest = parse_manifest(data, name="m", version=Version(0, 0))
    except IntegrityError:
        return
    for path in [*(entry.path for entry in manifest.files), *manifest.empty_dirs]:
        assert isinstance(path, str) and check_relpath(path) == path
    for entry in manifest.files:
        assert isinstance(entry.size, int) and entry.size >= 0
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in manifest.metadata.items())


# -- the config file ------------------------------------------------------------------------
references = st.sampled_from(
    ["${env.A}", "${env.B:=b}", "${env.EMPTY:=}", "${env.UNSET}", "${env.UNSET:=d}", "${", "}",
     "${env.}", "${env.A:=${env.B}}", "$", "${ENV.A}", "${env.A-b}", "x"]
)  # fmt: skip
config_text = st.lists(references | st.text(max_size=6), max_size=6).map("".join)
config_values = st.recursive(
    st.none() | st.booleans() | st.integers() | config_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(config_text, inner, max_size=3),
    max_leaves=10,
)
ENVIRON = {"A": "a", "B": "", "EMPTY": ""}


@fast
@given(config_values)
def test_substitute_raises_only_config_errors(value: Any) -> None:
    try:
        result = substitute(value, ENVIRON, where="cfg")
    except ConfigError as exc:
        assert "cfg" in str(exc)
        return
    assert not any("${env." in text for text in _strings(result))  # every one replaced


def _strings(value: Any) -> list[str]:
    """The string values (not the keys: they are never substituted) in ``value``."""
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


@st.composite
def config_documents(draw: st.DrawFn) -> Any:
    """A config document: mostly the right shape, with any value anywhere (keys too)."""
    types = st.sampled_from(["s3", "gcs", "az", "local", "memory", "sql_sqlite", "sql_postgres"])
    option = st.sampled_from(["bucket", "path", "region", "endpoint_url", "password", "host",
                              "retry_attempts", "prefix", "container", "typo"])  # fmt: skip
    keys = st.none() | st.booleans() | st.integers() | st.floats() | config_text
    anything = types | st.recursive(
        st.none() | st.booleans() | st.integers() | config_text,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
        max_leaves=10,
    )
    backend = st.dictionaries(option | keys, anything, max_size=4) | anything
    backends = st.dictionaries(st.sampled_from(["prod", "dev", "db", "x", 1]), backend, max_size=3)
    store_keys = st.sampled_from(["backend", "prefix", "table_prefix", "typo"])
    store = st.dictionaries(store_keys, anything | st.sampled_from(["prod", "dev"]), max_size=3)
    stores = st.dictionaries(st.sampled_from(["assets", "catalog", "other"]), store, max_size=3)
    backend_docs = draw(backends)
    for spec in backend_docs.values():
        if isinstance(spec, dict) and draw(st.booleans()):
            spec["type"] = draw(types)
    storage = {"backends": backend_docs, "stores": draw(stores)}
    return {"storage": storage} if draw(st.booleans()) else draw(anything | st.just(storage))


# YAML's own syntax, in pieces: anchors and aliases, merges, tags, flow and block nesting,
# control characters, bytes that are not UTF-8.
YAML_PIECES = [
    "storage:", "backends:", "stores:", "assets:", "catalog:", "a:", "type:", "s3", "local",
    "sql_sqlite", "backend:", "path:", "bucket:", "prefix:", "port:", "password:", "&x", "*x",
    "&y", "*y", "<<:", "!!int", "!!str", "!!binary", "!!timestamp", "!!float", "!!bool",
    "!!set", "!!python/tuple", "!foo", "?", ":", "-", "[", "]", "{", "}", ",", "\n", "\n  ",
    "\n    ", " ", "'", '"', "\\0", "#", "2024-13-45", "1e999", "0x" + "f" * 40, "~", "yes",
    "${env.A}", "${env.UNSET}", "---", "%YAML 1.1", "\t", "\x00", "\x85", "\udcff", "\ufeff",
    "|", "1", "a",
]  # fmt: skip
yaml_pieces = st.lists(st.sampled_from(YAML_PIECES), max_size=40)
yaml_text = yaml_pieces.map(" ".join) | yaml_pieces.map("".join)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.one_of(
        config_documents().map(lambda d: yaml.safe_dump(d, sort_keys=False)),
        yaml_text,
        st.text(max_size=80),
    )
)
@example("storage:\n  backends:\n    a: {type: s3, bucket: ${env.UNSET}}\n")
@example("storage: [1, 2]\n")
@example("storage:\n  stores:\n    assets: {backend: nowhere}\n")
@example(": : :\n\t- ]")
def test_load_config_raises_only_config_errors(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    _load(tmp_path_factory.mktemp("cfg") / "assetstore.yaml", text)


def _load(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    try:
        loaded = load_config(path, ENVIRON)
    except ConfigError as exc:
        assert str(path) in str(exc)  # says which file
        assert "\n" not in str(exc)  # on one line, without PyYAML's snippet of the file
        return
    for store in loaded.stores.values():
        assert store.backend in loaded.backends
        assert all(p is None or isinstance(p, str) for p in (store.prefix, store.table_prefix))
    for backend in loaded.backends.values():
        assert isinstance(backend.type, str)
        assert not any(isinstance(v, (dict, list)) for v in backend.options.values())


# Malformed files that once crashed load_config (TypeError, RecursionError,
# UnicodeDecodeError, ValueError...), and what the ConfigError must say instead.
LAUGHS = "".join(
    f"    l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10)
)  # 9**9 values once expanded
MALFORMED = {
    "list-as-type": ("storage:\n  backends:\n    a: {type: [1]}\n",
                     "storage.backends.a.type: a list is not a backend type"),
    "mapping-as-backend": ("storage:\n  backends:\n    a: {type: s3}\n"
                           "  stores:\n    assets: {backend: {x: 1}}\n",
                           "storage.stores.assets.backend: a mapping is not a declared"),
    "list-as-option": ("storage:\n  backends:\n    a: {type: s3, bucket: [b]}\n",
                       "storage.backends.a.bucket: expected a single value, got a list"),
    "mapping-as-prefix": ("storage:\n  backends:\n    a: {type: s3}\n"
                          "  stores:\n    assets: {backend: a, prefix: {x: 1}}\n",
                          "storage.stores.assets.prefix: expected a single value"),
    "keys-of-mixed-types": ("1: 2\na: 3\n", "top level: key 1 is not a string"),
    "mixed-option-keys": ("storage:\n  backends:\n    a: {type: s3, 1: 2, zz: 3}\n",
                          "storage.backends.a: key 1 is not a string"),
    "null-key": ("storage:\n  backends:\n    ~: {type: s3}\n",
                 "storage.backends: key None is not a string"),
    "deep-nesting": ("storage: " + "[" * 3000 + "]" * 3000 + "\n",
                     "line 1, column 41: nested more than 32 levels deep"),
    "deep-through-aliases": ("storage:\n  x: &a [" + "[" * 20 + "]" * 20 + "]\n"
                             "  y: &b [*a, *a]\n  z: [[[[[[[[[[[*b]]]]]]]]]]]\n",
                             "storage.z[0][0][0][0][0][0][0][0][0][0][0][0][0][0]"),
    "self-referencing-alias": ("storage: &s {backends: *s}\n",
                               "storage.backends: an alias refers to a mapping or list that "
                               "contains it"),
    "self-referencing-list": ("storage:\n  backends:\n    a: &l [*l]\n",
                              "storage.backends.a[0]: an alias refers"),
    "billion-laughs": ("storage:\n  backends:\n    l0: &l0 [lol]\n" + LAUGHS,
                       "more than 100000 values once aliases are expanded"),
    "merge-bomb": ("storage:\n  m0: &m0 {a: 1}\n" + "".join(
                   f"  m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}]}}\n" for i in range(1, 40)),
                   # PyYAML >= 6.0.4 merges each key once, which defuses the bomb itself
                   ("more than 100000 keys once merges (<<) are expanded",
                    "storage: unknown key 'm0'")),
    "not-utf-8": ("storage: \udcff\n", "line 1: not UTF-8 (byte 9)"),
    "control-character": ("storage:\n  x: \x00\n", "line 2: unacceptable character #x0000"),
    "escaped-nul": ('storage:\n  backends:\n    a: {type: local, path: "a\\0b"}\n',
                    "storage.backends.a.path: a NUL character"),
    "invalid-date": ("storage:\n  backends:\n    a: {type: s3, bucket: 2024-13-45}\n",
                     "line 3, column 27: cannot read this value as timestamp"),
    "tagged-non-number": ("storage:\n  backends:\n    a: {type: s3, port: !!int abc}\n",
                          "line 3, column 25: cannot read this value as int"),
    "tagged-non-boolean": ("storage: !!bool maybe\n", "cannot read this value as bool"),
    "tagged-non-date": ("storage: !!timestamp soon\n", "cannot read this value as timestamp"),
    "int-too-long": ("storage:\n  x: " + "9" * 5000 + "\n", "cannot read this value as int"),
    "int-too-large": ("storage:\n  backends:\n    a: {type: 0x" + "f" * 5000 + "}\n",
                      "storage.backends.a.type: a number too large"),
    "unknown-tag": ("storage: !!python/object:os.system {}\n", "could not determine a constructor"),
    "top-level-list": ("[]\n", "the top level must be a mapping"),
}  # fmt: skip


@pytest.mark.parametrize(("text", "fragment"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_config_files_are_config_errors(
    tmp_path: Path, text: str, fragment: str | tuple[str, ...]
) -> None:
    path = tmp_path / "assetstore.yaml"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(ConfigError) as info:
        load_config(path, ENVIRON)
    message = str(info.value)
    fragments = (fragment,) if isinstance(fragment, str) else fragment
    assert str(path) in message and "\n" not in message
    assert any(f in message for f in fragments), message
    assert len(message) < 300
