"""Manifests come from a bucket others can write to: hostile ones are refused."""

from __future__ import annotations

import gzip
import json
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from assetstore import AssetStore, IntegrityError, Version
from assetstore.model.manifest import MAX_INFLATED, FileEntry, Manifest, parse_manifest

SHA = "sha256:" + "0" * 64


def manifest(**changes: Any) -> bytes:
    base: dict[str, Any] = {
        "format": 1, "name": "m", "version": "0.0", "kind": "dir", "metadata": {},
        "pushed_at": "2026-01-01T00:00:00+00:00", "pushed_by": "me",
        "files": [{"path": "a", "size": 1, "sha256": SHA}],
    }  # fmt: skip
    base.update(changes)
    return json.dumps(base).encode()


def entry(stored_at: Any) -> dict[str, Any]:
    return {"path": "a", "size": 1, "sha256": SHA, "stored_at": stored_at}


def packed(pack: Any, **more: Any) -> dict[str, Any]:
    return {"path": "a", "size": 1, "sha256": SHA, "pack": pack, "offset": 512, **more}


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"{not json", "malformed"),
        (b"[]", "malformed"),
        (manifest(format=99), "unsupported format"),
        (manifest(files=[{"path": "../x", "size": 1, "sha256": SHA}]), "'..'"),
        (manifest(files=[{"path": "/etc/passwd", "size": 1, "sha256": SHA}]), "relative"),
        (manifest(files=[{"path": "a\\b", "size": 1, "sha256": SHA}]), "backslash"),
        (manifest(files=[{"path": "a", "size": 1, "sha256": SHA}] * 2), "duplicate"),
        (
            manifest(
                files=[
                    {"path": "a", "size": 1, "sha256": SHA},
                    {"path": "a/b", "size": 1, "sha256": SHA},
                ]
            ),
            "both a file and a folder",
        ),
        (manifest(files=[{"path": "a", "size": -1, "sha256": SHA}]), "non-negative"),
        (manifest(files=[{"path": "a", "size": "1", "sha256": SHA}]), "non-negative"),
        (manifest(files=[{"path": "a", "size": 1, "sha256": "md5:00"}]), "sha256"),
        (
            manifest(kind="file", files=[{"path": "d/a", "size": 1, "sha256": SHA}]),
            "exactly one file",
        ),
        (manifest(kind="link"), "kind"),
        (manifest(name="other"), "names other:0.0 instead"),
        (manifest(version="0.1"), "names m:0.1 instead"),
        (manifest(metadata=[1]), "metadata"),
        (manifest(version="1.0", files=[entry("../x")]), "invalid version '..'"),
        (manifest(version="1.0", files=[entry("0.0/../x")]), "'..'"),
        (manifest(version="1.0", files=[entry("0.0//x")]), "relative"),
        (manifest(version="1.0", files=[entry("0.0/a/./b")]), "'.' segments"),
        (manifest(version="1.0", files=[entry("0.0/C:/x")]), "relative"),
        (manifest(version="1.0", files=[entry("0.0")]), "empty"),
        (manifest(version="1.0", files=[entry("1.0/a")]), "older than 1.0"),
        (manifest(version="1.0", files=[entry("1.1/a")]), "older than 1.0"),
        (manifest(version="1.0", files=[entry("01.0/a")]), "invalid version"),
        (manifest(version="1.0", files=[entry("garbage")]), "invalid version"),
        (manifest(version="1.0", files=[entry(["0.0/a"])]), "must be a string"),
        (manifest(version="1.0", files=[entry(7)]), "must be a string"),
        (manifest(format=4), "unsupported format"),
        (manifest(version="1.0", files=[packed("1.1/pack-0000.tar")]), "must be in 1.0 or an"),
        (manifest(version="1.0", files=[packed("0.0/../../x")]), "pack path"),
        (manifest(version="1.0", files=[packed("0.0/p.tar", stored_at="0.0/a")]), "both"),
        (manifest(files=[packed("0.0/p.tar", offset=-1)]), "offset of 'a' must be a non-neg"),
        (manifest(files=[packed("0.0/p.tar", offset=True)]), "offset of 'a' must be a non-neg"),
        (manifest(files=[packed(7)]), "pack of 'a' must be a string"),
        (manifest(pushed_at="yesterday"), "Invalid isoformat string: 'yesterday'"),
        (manifest(pushed_at=20260101), "pushed_at must be a string"),
        (manifest(expires_at="soon"), "Invalid isoformat string: 'soon'"),
    ],
)
def test_hostile_manifests_are_refused(data: bytes, fragment: str) -> None:
    with pytest.raises(IntegrityError, match=fragment.replace("\\", "\\\\")):
        parse_manifest(data, name="m", version=Version(0, 0))


def test_a_pull_of_a_hostile_manifest_writes_nothing_outside_the_cache(
    store: AssetStore, make_tree: Callable[..., Path], local_env: dict[str, str], tmp_path: Path
) -> None:
    store.push(make_tree({"a": b"1"}), "m")
    path = Path(local_env["ASSETSTORE_STORAGE_BUCKET"]) / "assets/.manifests/m/0.1.json"
    path.write_bytes(
        manifest(version="0.1", files=[{"path": "../../../escape", "size": 1, "sha256": SHA}])
    )
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(IntegrityError):
        store.get("m:0.1")
    assert not (tmp_path / "escape").exists()
    state = tmp_path / "cache" / ".assetstore"
    new = [p for p in tmp_path.rglob("*") if p not in before and state not in p.parents]
    assert new == []


def parse(data: bytes, version: str = "1.0") -> Manifest:
    return parse_manifest(data, name="m", version=Version.parse(version))


def test_references_to_earlier_versions_round_trip() -> None:
    files = (FileEntry("a", 1, SHA, "0.3/old/a"), FileEntry("b", 1, SHA))
    made = Manifest("m", Version(1, 0), "dir", files, "2026-01-01T00:00:00+00:00", "me")
    raw = json.loads(made.to_json())
    assert raw["format"] == 2  # readers of format 1 would look for "a" in 1.0's folder
    assert raw["files"][1] == {"path": "b", "size": 1, "sha256": SHA}  # no null key
    assert parse(made.to_json()) == made
    assert parse(gzip.compress(made.to_json())) == made
    assert files[0].location(Version(1, 0)) == (Version(0, 3), "old/a")
    assert files[1].location(Version(1, 0)) == (Version(1, 0), "b")


def test_a_manifest_without_references_stays_format_1() -> None:
    plain = manifest(version="1.0")
    assert parse(plain).files == (FileEntry("a", 1, SHA),)
    both = Manifest("m", Version(1, 0), "dir", parse(plain).files, "t", "me")
    assert json.loads(both.to_json())["format"] == 1
    [referring] = parse(manifest(format=2, version="1.0", files=[entry("0.9/a")])).files
    assert referring.stored_at == "0.9/a"


def test_gzip_and_plain_json_are_both_read() -> None:
    plain = manifest(version="1.0")
    assert parse(gzip.compress(plain, mtime=0)) == parse(plain)


@pytest.mark.parametrize(
    ("mangle", "fragment"),
    [
        (lambda z: z[: len(z) // 2], "truncated"),
        (lambda z: z[:-4], "truncated"),
        (lambda z: z + b"more", "followed by other bytes"),
        (lambda z: z[:10] + bytes(b ^ 0xFF for b in z[10:20]) + z[20:], "not a valid gzip"),
        (lambda z: z[:-8] + bytes(8), "not a valid gzip"),  # a wrong CRC and length
        (lambda z: b"\x1f\x8b", "truncated"),
    ],
)
def test_a_corrupt_gzip_manifest_is_malformed(
    mangle: Callable[[bytes], bytes], fragment: str
) -> None:
    data = mangle(gzip.compress(manifest(version="1.0"), mtime=0))
    with pytest.raises(IntegrityError, match=f"malformed: .*{fragment}"):
        parse(data)


def test_a_gzip_bomb_is_refused_without_inflating_it_all() -> None:
    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(2**20)
    bomb = b"".join(deflate.compress(block) for _ in range(300)) + deflate.flush()
    assert len(bomb) < 2**20 < MAX_INFLATED < 300 * 2**20
    started = time.monotonic()
    with pytest.raises(IntegrityError, match="malformed: it inflates to more than"):
        parse(bomb)
    assert time.monotonic() - started < 10
