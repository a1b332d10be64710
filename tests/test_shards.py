"""Sharded manifests as pure functions: what is stored round-trips to the same manifest
in the same bytes, a sub-path finds every shard that can hold its files, and a manifest
or shard someone else wrote that lies is refused (docs/reliability.md)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from assetstore.errors import IntegrityError
from assetstore.model.manifest import FileEntry, Manifest, parse_manifest
from assetstore.model.shards import SHARD_ABOVE, Shard, Top, assemble, read_top, split, stored
from assetstore.model.spec import Version

V = Version(1, 2)
SHA = "sha256:" + "ab" * 32


def manifest_of(paths: list[str]) -> Manifest:
    files = tuple(FileEntry(p, 3, SHA, pack="1.1/pack-0000-00000000.tar", offset=512 * i)
                  for i, p in enumerate(paths))  # fmt: skip
    return Manifest("m", V, "dir", files, "2026-12-07T10:00:00+00:00", "me", {"k": "v"},
                    empty_dirs=("empty/inside",))  # fmt: skip


def many(count: int = SHARD_ABOVE + 300) -> Manifest:
    return manifest_of(sorted(f"d{i % 7}/f{i:05d}" for i in range(count)))  # as pushes list them


def stored_pair(manifest: Manifest) -> tuple[Top, dict[str, bytes]]:
    top, parts = split(manifest)
    found = read_top(top, name="m", version=V)
    assert isinstance(found, Top)
    return found, dict(parts)


def whole(top: Top, parts: dict[str, bytes], **kwargs: Any) -> Manifest:
    return assemble(top, [(s, parts[s.object]) for s in top.shards], name="m", version=V, **kwargs)


def test_a_small_version_is_one_manifest_as_before() -> None:
    small = manifest_of([f"f{i}" for i in range(SHARD_ABOVE)])
    top, parts = split(small)
    assert parts == [] and top == small.to_json() == stored(small)
    assert read_top(top, name="m", version=V) == small


def test_a_large_version_round_trips_in_the_same_bytes() -> None:
    manifest = many()
    top, parts = stored_pair(manifest)
    assert split(manifest) == split(many())  # the same manifest, the same bytes
    assert len(top.shards) == 11 and all(s.files == 128 for s in top.shards[:-1])
    assert {s.object for s in top.shards} == set(parts)
    for shard in top.shards:
        assert shard.sha256 == "sha256:" + hashlib.sha256(parts[shard.object]).hexdigest()
    rebuilt = whole(top, parts)
    assert rebuilt == manifest and rebuilt.total_size == manifest.total_size
    assert rebuilt.shard_objects == tuple(s.object for s in top.shards)
    with pytest.raises(IntegrityError, match="unsupported format 4"):
        parse_manifest(split(manifest)[0], name="m", version=V)  # as readers before it say


def test_a_sub_path_reads_the_shards_that_can_hold_it_and_keeps_what_is_under_it() -> None:
    # "a/b" sorts before "a/b.txt", which sorts before "a/b/…": a sub-path's files are a
    # range with strangers in it, which the scope leaves out.
    paths = sorted([f"a/b/{i:05d}" for i in range(600)] + [f"a/a{i:04d}" for i in range(600)]
                   + ["a/b.txt", "a/b0", "a/c"])  # fmt: skip
    top, parts = stored_pair(manifest_of(paths))
    held = [s for s in top.shards if s.may_hold("a/b")]
    assert 0 < len(held) < len(top.shards)
    assert {p for s in held for p in _paths(parts[s.object])} >= {
        p for p in paths if p.startswith("a/b")
    }
    scoped = assemble(top, [(s, parts[s.object]) for s in held], name="m", version=V, scope="a/b")
    assert [e.path for e in scoped.files] == [p for p in paths if p.startswith("a/b/")]
    assert scoped.scope == "a/b" and scoped.require("a/b") == "dir"
    one = [s for s in top.shards if s.may_hold("a/c")]
    assert len(one) == 1 and one[0] == top.shards[-1]


def test_the_shard_folder_avoids_a_folder_of_the_version_s_own_files() -> None:
    paths = [".manifest/x"] + [f"f{i:05d}" for i in range(SHARD_ABOVE + 1)]
    files = tuple(FileEntry(p, 1, SHA) for p in paths)  # objects of their own, in its folder
    manifest = Manifest("m", V, "dir", files, "2026-12-07T10:00:00+00:00", "me")
    top, parts = stored_pair(manifest)
    assert {p.partition("/")[0] for p in parts} == {".manifest-2"}
    assert whole(top, parts) == manifest


def _paths(data: bytes) -> list[str]:
    return [e["path"] for e in json.loads(data)["files"]]


def _top_raw(manifest: Manifest) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(split(manifest)[0])
    return raw


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda raw: raw.update(files=[]), "keeps its files in shards"),
        (lambda raw: raw.update(shards=[]), "1 to 10000 shards"),
        (lambda raw: raw["shards"][0].update(object="../../etc/x.json"), "'..' segments"),
        (lambda raw: raw["shards"][0].update(sha256="md5:1"), "sha256 of shard"),
        (lambda raw: raw["shards"][0].update(files=0), "must hold 1 to"),
        (lambda raw: raw["shards"][0].update(files=2_000_000), "must hold 1 to"),
        (lambda raw: raw["shards"][1].update(object=raw["shards"][0]["object"]), "one object"),
        (lambda raw: raw["shards"][1].update(first="a"), "do not follow"),
        (lambda raw: raw["shards"][0].update(first="zzz"), "begins after it ends"),
        (lambda raw: raw["shards"].reverse(), "do not follow"),
    ],
)
def test_a_top_that_lies_is_malformed(change: Any, reason: str) -> None:
    raw = _top_raw(many())
    change(raw)
    with pytest.raises(IntegrityError, match=f"manifest of m:1.2 is malformed: .*{reason}"):
        read_top(json.dumps(raw).encode(), name="m", version=V)


def _lying_shard(edit: Any) -> tuple[Top, dict[str, bytes]]:
    """A manifest whose first shard is edited by ``edit`` and named with the sha256 of
    the result: every check but the digest's passes unless the shard's contents lie."""
    top, parts = stored_pair(many())
    first = top.shards[0]
    raw = json.loads(parts[first.object])
    edit(raw["files"])
    data = json.dumps(raw).encode()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    shards = (Shard(first.object, first.first, first.last, first.files, digest), *top.shards[1:])
    return Top(top.raw, shards), {**parts, first.object: data}


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda files: files.pop(), "must list 128 files"),
        (lambda files: files.reverse(), "not the run from"),
        (lambda files: files[5].update(path="zzz/outside"), "not the run from"),
        (lambda files: files[1].update(path="d0/f00000/../../x"), "'..' segments"),
        (lambda files: files[3].update(path=files[2]["path"]), "not the run from"),
        (lambda files: files[3].update(size=-1), "non-negative"),
    ],
)
def test_a_shard_that_lies_is_malformed(edit: Any, reason: str) -> None:
    top, parts = _lying_shard(edit)
    with pytest.raises(IntegrityError, match=reason):
        whole(top, parts)


def test_a_gzip_shard_is_refused_unread() -> None:
    import gzip

    top, parts = _lying_shard(lambda files: None)
    name = top.shards[0].object
    data = gzip.compress(parts[name])
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    first = top.shards[0]
    shards = (Shard(first.object, first.first, first.last, first.files, digest), *top.shards[1:])
    with pytest.raises(IntegrityError, match="malformed: gzip"):
        whole(Top(top.raw, shards), {**parts, name: data})


def test_a_shard_that_is_not_the_one_named_is_refused() -> None:
    top, parts = stored_pair(many())
    name = top.shards[2].object
    swapped = {**parts, name: parts[top.shards[3].object]}  # valid, but another shard
    with pytest.raises(IntegrityError, match="does not match the sha256"):
        whole(top, swapped)
