"""Lockfiles on every object store: a lock pins the manifest as stored, and a sync of
a version whose manifest changed in the bucket installs nothing of it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from assetstore.errors import IntegrityError
from assetstore.release.lockfile import dumps, load
from assetstore.release.locking import changes, check, lock, sync

from .conftest import Backend

Tree = Callable[..., Path]
pytestmark = pytest.mark.integration


@pytest.mark.parametrize("backend", ["local", "s3", "gcs", "az"], indirect=True)
def test_a_lock_pins_the_stored_manifest_and_sync_fails_closed(
    backend: Backend, make_tree: Tree, tmp_path: Path
) -> None:
    store = backend.store()
    store.push(make_tree({"w.bin": b"zero"}), "m")
    store.push(make_tree({"w.bin": b"one"}), "m")
    store.push(make_tree({"e.txt": b"hello"}), "vocab")
    store.aliases.set("m@prod", "0.0")
    lockfile = tmp_path / "assets.lock"
    lockfile.write_text(dumps(lock(store, ["m@prod", "vocab", "m:0[w.bin]"])))
    entries = load(lockfile)
    store.aliases.set("m@prod", "0.1")
    assert changes(entries, lock(store, ["m@prod", "vocab", "m:0[w.bin]"])) == [
        "~ m@prod: 0.0 -> 0.1"
    ]
    manifest = backend.key(".manifests/vocab/0.0.json")
    backend.raw.pipe_file(
        manifest, backend.raw.cat_file(manifest).replace(b'"pushed_by":"', b'"pushed_by":"x')
    )
    image = backend.store().with_assets_dir(tmp_path / "image")
    result = sync(image, entries)
    assert list(result.failed) == ["vocab"] and isinstance(result.failed["vocab"], IntegrityError)
    assert [(e.spec, p.relative_to(tmp_path / "image").as_posix()) for e, p in result.paths] == [
        ("m:0[w.bin]", "m/0.1/w.bin"), ("m@prod", "m/0.0")
    ]  # fmt: skip
    assert not (tmp_path / "image" / "vocab").exists()
    assert list(check(image, entries)) == ["vocab"]  # missing: it was never installed
