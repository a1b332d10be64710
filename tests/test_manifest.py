"""Manifests come from a bucket others can write to: hostile ones are refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from assetstore import AssetStore, IntegrityError, Version
from assetstore.manifest import parse_manifest

SHA = "sha256:" + "0" * 64


def manifest(**changes: Any) -> bytes:
    base: dict[str, Any] = {
        "format": 1, "name": "m", "version": "0.0", "kind": "dir", "metadata": {},
        "pushed_at": "2026-01-01T00:00:00+00:00", "pushed_by": "me",
        "files": [{"path": "a", "size": 1, "sha256": SHA}],
    }  # fmt: skip
    base.update(changes)
    return json.dumps(base).encode()


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
