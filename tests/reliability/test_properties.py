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
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from assetstore import ConfigError, IntegrityError, InvalidSpecError, Version
from assetstore.config_file import load_config, substitute
from assetstore.manifest import parse_manifest
from assetstore.paths import check_relpath
from assetstore.push import next_version
from assetstore.spec import parse_spec, parse_target

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
    assume(text.isascii())  # other digits: see test_versions_are_ascii_digits_only
    try:
        parsed = Version.parse(text)
    except InvalidSpecError:
        return
    assert str(parsed) == text  # only the canonical form is a version


@pytest.mark.xfail(
    strict=True,
    reason="spec.py's version patterns use \\d, which matches "
    "every Unicode digit, and int() reads them: '1\\uff11.2' parses as 11.2",
)
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
    """A config document: mostly the right shape, with any value anywhere."""
    types = st.sampled_from(["s3", "gcs", "az", "local", "memory", "sql_sqlite", "sql_postgres"])
    option = st.sampled_from(["bucket", "path", "region", "endpoint_url", "password", "host",
                              "retry_attempts", "prefix", "container", "typo"])  # fmt: skip
    anything = config_values | types
    backend = st.dictionaries(option, anything, max_size=4) | anything
    backends = st.dictionaries(st.sampled_from(["prod", "dev", "db", "x"]), backend, max_size=3)
    keys = st.sampled_from(["backend", "prefix", "table_prefix", "typo"])
    store = st.dictionaries(keys, anything | st.sampled_from(["prod", "dev"]), max_size=3)
    stores = st.dictionaries(st.sampled_from(["assets", "catalog", "other"]), store, max_size=3)
    backend_docs = draw(backends)
    for spec in backend_docs.values():
        if isinstance(spec, dict) and draw(st.booleans()):
            spec["type"] = draw(types)
    storage = {"backends": backend_docs, "stores": draw(stores)}
    return {"storage": storage} if draw(st.booleans()) else draw(anything | st.just(storage))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(config_documents().map(yaml.safe_dump), st.text(max_size=80)))
@example("storage:\n  backends:\n    a: {type: s3, bucket: ${env.UNSET}}\n")
@example("storage: [1, 2]\n")
@example("storage:\n  stores:\n    assets: {backend: nowhere}\n")
@example(": : :\n\t- ]")
def test_load_config_raises_only_config_errors(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        document = None
    assume(not _crashes(document))  # known crashes: see test_known_config_crashes
    _load(tmp_path_factory.mktemp("cfg") / "assetstore.yaml", text)


def _load(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    try:
        loaded = load_config(path, ENVIRON)
    except ConfigError as exc:
        assert str(path) in str(exc)  # says which file
        return
    for store in loaded.stores.values():
        assert store.backend in loaded.backends


def _crashes(document: Any) -> bool:
    """Whether ``document`` has what KNOWN_CRASHES lists: a key that is not a string,
    or a list or mapping where a backend type or a store's backend name goes."""
    if isinstance(document, dict):
        if any(not isinstance(key, str) for key in document):
            return True
        if any(isinstance(document.get(k), (list, dict)) for k in ("type", "backend")):
            return True
        return any(_crashes(value) for value in document.values())
    if isinstance(document, list):
        return any(_crashes(value) for value in document)
    return False


# Crashes of load_config (config_file.py) that the tests above found: each should be a
# ConfigError naming the file and the key. Strict: once one is fixed, its mark must go.
KNOWN_CRASHES = {
    "list-as-type": "storage:\n  backends:\n    a: {type: [1]}\n",
    "mapping-as-backend": "storage:\n  backends:\n    a: {type: s3}\n"
    "  stores:\n    assets: {backend: {x: 1}}\n",
    "keys-of-mixed-types": "1: 2\na: 3\n",
    "mixed-option-keys": "storage:\n  backends:\n    a: {type: s3, 1: 2, zz: 3}\n",
    "deep-nesting": "storage: " + "[" * 3000 + "]" * 3000 + "\n",
    "not-utf-8": "storage: \udcff\n",
}


@pytest.mark.xfail(
    strict=True,
    raises=(TypeError, RecursionError, UnicodeDecodeError),
    reason="config_file.load_config lets TypeError, RecursionError or UnicodeDecodeError "
    "out for these malformed files instead of a ConfigError",
)
@pytest.mark.parametrize("text", KNOWN_CRASHES.values(), ids=KNOWN_CRASHES.keys())
def test_known_config_crashes(tmp_path: Path, text: str) -> None:
    _load(tmp_path / "assetstore.yaml", text)
