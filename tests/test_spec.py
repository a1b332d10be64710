from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assetstore import InvalidSpecError, Spec, Version, parse_spec
from assetstore.model.spec import check_name, parse_target


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("models/bert", Spec("models/bert")),
        ("models/bert:1", Spec("models/bert", 1)),
        ("models/bert:1.2", Spec("models/bert", 1, 2)),
        ("models/bert:1.2[vocab.txt]", Spec("models/bert", 1, 2, "vocab.txt")),
        ("models/bert[vocab/en.txt]", Spec("models/bert", None, None, "vocab/en.txt")),
        ("a:0.10[.hidden/x]", Spec("a", 0, 10, ".hidden/x")),
        ("A-b_c.d/e", Spec("A-b_c.d/e")),
        ("datasets/2024", Spec("datasets/2024")),
    ],
)
def test_valid_specs_parse(text: str, expected: Spec) -> None:
    assert parse_spec(text) == expected
    assert str(parse_spec(text)) == text


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("/models", "empty segment"),
        ("models/", "empty segment"),
        ("models//bert", "empty segment"),
        ("models/../etc", "must start with a letter or digit"),
        ("models\\bert", "backslash"),
        ("models/1.2", "looks like a version"),
        ("a/1.2.json", "looks like a version"),
        (".hidden", "must start with a letter or digit"),
        ("models/bert:1.2.3", "MAJOR or MAJOR.MINOR"),
        ("models/bert:v1", "MAJOR or MAJOR.MINOR"),
        ("models/bert:01", "MAJOR or MAJOR.MINOR"),
        ("models/bert:", "MAJOR or MAJOR.MINOR"),
        ("models/bert:1[../x]", "'..' segments"),
        ("models/bert:1[/etc/passwd]", "must be relative"),
        ("models/bert:1[a\\b]", "backslash"),
        ("models/bert:1[C:x]", "must be relative"),
        ("models/bert:1[a//b]", "empty or '.'"),
        ("models/bert:1[]", "empty"),
        ("models/bert:1[a", "unbalanced"),
        ("models/bert]", "expected name"),
        ("models bert", "must start with a letter or digit"),
    ],
)
def test_invalid_specs_are_refused_with_a_reason(text: str, fragment: str) -> None:
    with pytest.raises(InvalidSpecError) as info:
        parse_spec(text)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


def test_versions_order_numerically() -> None:
    versions = [Version.parse(t) for t in ["1.9", "1.10", "0.99", "10.0", "2.0"]]
    assert [str(v) for v in sorted(versions)] == ["0.99", "1.9", "1.10", "2.0", "10.0"]


def test_partial_major_never_matches_a_longer_major() -> None:
    versions = [Version(1, 2), Version(1, 10), Version(10, 0), Version(11, 3)]
    assert parse_spec("a:1").best(versions) == Version(1, 10)
    assert parse_spec("a:1.2").best(versions) == Version(1, 2)
    assert parse_spec("a").best(versions) == Version(11, 3)
    assert parse_spec("a:2").best(versions) is None


def test_push_target_takes_a_full_version_or_none() -> None:
    assert parse_target("models/bert") == ("models/bert", None)
    assert parse_target("models/bert:2.0") == ("models/bert", Version(2, 0))
    with pytest.raises(InvalidSpecError):
        parse_target("models/bert:2")


@given(st.text(max_size=40))
def test_parser_raises_only_invalid_spec_errors(text: str) -> None:
    try:
        spec = parse_spec(text)
    except InvalidSpecError:
        return
    assert parse_spec(str(spec)) == spec
    assert ".." not in spec.name.split("/")


@given(
    st.lists(st.from_regex(r"[A-Za-z][A-Za-z0-9._-]{0,8}", fullmatch=True), min_size=1, max_size=4),
    st.integers(0, 10_000),
    st.integers(0, 10_000),
)
def test_generated_specs_round_trip(segments: list[str], major: int, minor: int) -> None:
    name = "/".join(segments)
    check_name(name)
    spec = parse_spec(f"{name}:{major}.{minor}")
    assert spec.pinned == Version(major, minor)
    assert str(spec) == f"{name}:{major}.{minor}"
