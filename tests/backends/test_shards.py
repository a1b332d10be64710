"""Sharded manifests on every provider: a version of many files keeps its entries in
JSON shards its manifest names with their sha256; a sub-path pull reads the manifest
and the one shard that can hold the path; a shard changed or lost in the bucket fails
closed; the lifecycle, copies, lockfiles and the catalog see the whole version."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from assetstore import AssetStore, IntegrityError, Version
from assetstore.model.shards import SHARD_ABOVE
from assetstore.release.lockfile import dumps, load
from assetstore.release.locking import check, lock

from .conftest import Backend
from .test_suite import version_objects

Tree = Callable[..., Path]
pytestmark = pytest.mark.integration
COUNT = SHARD_ABOVE + 76  # 8 shards of 128 entries and one of 76


def many_files() -> dict[str, bytes]:
    return {f"d{i % 4}/f{i:04d}.txt": os.urandom(64) for i in range(COUNT)}


def object_reads(store: AssetStore) -> list[tuple[str, int]]:
    """Every read ``store``'s backend makes from now on: (path, bytes got)."""
    reads: list[tuple[str, int]] = []
    backend = store.remote.backend
    real = backend.read

    async def counted(path: str, start: int = 0, end: int | None = None) -> bytes:
        data = await real(path, start, end)
        reads.append((path, len(data)))
        return data

    backend.read = counted  # type: ignore[method-assign]
    return reads


def stored_manifest(backend: Backend, name: str, version: str) -> dict[str, object]:
    raw: dict[str, object] = json.loads(
        backend.raw.cat_file(backend.key(f".manifests/{name}/{version}.json"))
    )
    return raw


def test_many_files_keep_their_entries_in_shards_and_a_sub_path_reads_one(
    backend: Backend, make_tree: Tree
) -> None:
    files = many_files()
    pushed = backend.store().push(make_tree(files), "m")
    top = stored_manifest(backend, "m", "0.0")
    assert top["format"] == 4 and "files" not in top and top["total_size"] == 64 * COUNT
    shards = top["shards"]
    assert isinstance(shards, list) and [s["files"] for s in shards] == [128] * 8 + [76]
    objects = version_objects(backend, "m/0.0")
    listed = [e for s in shards for e in json.loads(objects[s["object"]])["files"]]
    assert [e["path"] for e in listed] == sorted(files)  # plain JSON, in path order

    store = backend.store()
    reads = object_reads(store)
    wanted = "d1/f0501.txt"
    got = store.get(f"m:0.0[{wanted}]")
    assert got.read_bytes() == files[wanted]
    read_paths = {path.rpartition("/assets/")[2] for path, _ in reads}
    holding = [s["object"] for s in shards if s["first"] <= wanted <= s["last"]]
    assert read_paths == {
        ".manifests/m/0.0.json",
        f"m/0.0/{holding[0]}",
        *(f"m/{p}" for p in pushed.packs),
    }
    assert sum(size for _, size in reads) < 64 * 2**10
    folder = store.get("m:0.0[d2]")  # a folder: every file under it, from the shards
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        p.removeprefix("d2/") for p in files if p.startswith("d2/")
    )
    whole = backend.store().get("m")
    assert {p.relative_to(whole).as_posix(): p.read_bytes() for p in whole.rglob("*.txt")} == files
    assert backend.store().remote.manifest("m", Version(0, 0)) == pushed


def test_a_shard_changed_or_lost_in_the_bucket_fails_closed(
    backend: Backend, make_tree: Tree
) -> None:
    files = many_files()
    backend.store().push(make_tree(files), "m")
    shard = stored_manifest(backend, "m", "0.0")["shards"][3]  # type: ignore[index]
    key = f"m/0.0/{shard['object']}"
    original = backend.raw.cat_file(backend.key(key))
    wanted = shard["first"]  # a file the shard lists
    # The same entries, one file's sha256 swapped for another's: valid JSON, wrong digest.
    raw = json.loads(original)
    raw["files"][0]["sha256"] = raw["files"][1]["sha256"]
    backend.tamper(key, json.dumps(raw).encode())
    for spec in ("m", f"m:0.0[{wanted}]"):
        store = backend.store()
        with pytest.raises(IntegrityError, match="does not match the sha256"):
            store.get(spec)
        assert not (store.cache.root / "m").exists()
    backend.raw.rm(backend.key(key))
    with pytest.raises(IntegrityError, match=r"which is not at .*damaged"):
        backend.store().get("m")
    other = next(p for p in files if p > shard["last"])  # another shard: still served
    assert backend.store().get(f"m:0.0[{other}]").read_bytes() == files[other]


@pytest.mark.parametrize("backend", ["local", "s3"], indirect=True)
def test_the_lifecycle_copies_locks_and_catalog_see_every_shard(
    backend: Backend, make_tree: Tree, tmp_path: Path
) -> None:
    files = many_files()
    store = backend.store()
    store.push(make_tree(files), "m")
    store.push(make_tree({**files, "d0/f0000.txt": b"changed"}), "m")
    shard_keys = {
        f"m/{v}/{s['object']}"
        for v in ("0.0", "0.1")
        for s in stored_manifest(backend, "m", v)["shards"]  # type: ignore[attr-defined]
    }
    assert len(shard_keys) == 18
    store.lifecycle.gc()
    assert all(backend.raw.exists(backend.key(k)) for k in shard_keys)  # needed: kept

    lockfile = tmp_path / "assets.lock"
    lockfile.write_text(dumps(lock(store, ["m:0.1"])))
    image = backend.store().with_assets_dir(tmp_path / "image")
    image.get("m:0.1")
    assert check(image, load(lockfile)) == {}  # the manifest pinned is the stored one

    other = AssetStore.from_env(
        provider="local", bucket=str(tmp_path / "other"), assets_dir=tmp_path / "o"
    )
    copied = store.copy_to(other, "m:0.1")
    assert other.remote.manifest("m", Version(0, 1)) == copied
    assert len(list((tmp_path / "other/assets/m/0.1/.manifest").iterdir())) == 9
    assert other.get("m:0.1[d0/f0000.txt]").read_bytes() == b"changed"

    fresh = backend.store()  # a catalog of its own, rebuilt from the bucket
    assert fresh.sync_catalog().added == ["m:0.0", "m:0.1"]
    assert [(str(e.version), e.file_count) for e in fresh.history("m")] == [
        ("0.0", COUNT), ("0.1", COUNT)
    ]  # fmt: skip

    store.lifecycle.delete("m:0.1")
    store.lifecycle.gc()
    left = {k for k in shard_keys if backend.raw.exists(backend.key(k))}
    assert left == {k for k in shard_keys if k.startswith("m/0.0/")}  # 0.1's went with it


@pytest.mark.parametrize("backend", ["local"], indirect=True)
def test_a_partial_version_read_for_one_sub_path_serves_no_wider_selection(
    backend: Backend, make_tree: Tree
) -> None:
    files = many_files()
    backend.store().push(make_tree(files), "m")
    store = backend.store()
    root = store.get("m:0.0[d1/f0501.txt]").parents[1]
    # Its manifest lists only the files under d1/f0501.txt: it must not answer for more.
    store.get("m:0.0", include=["d1/*"])
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*.txt")) == sorted(
        p for p in files if p.startswith("d1/")
    )
    store.get("m:0.0[d2]")
    assert {p.relative_to(root).as_posix() for p in root.rglob("*.txt")} >= {
        p for p in files if p.startswith("d2/")
    }
    whole = store.get("m:0.0")  # the partial version completed
    assert len([p for p in whole.rglob("*.txt")]) == COUNT and store.cache.has("m", Version(0, 0))


@pytest.mark.parametrize("backend", ["local"], indirect=True)
def test_sub_path_pulls_add_to_what_the_cache_holds_and_a_whole_one_completes(
    backend: Backend, make_tree: Tree
) -> None:
    files = many_files()
    backend.store().push(make_tree(files, empty_dirs=("d1/empty",)), "m")
    store = backend.store()
    first = store.get("m:0.0[d1/f0501.txt]")
    store.get("m:0.0[d2]")  # another sub-path: the earlier file stays
    store.get("m:0.0", include=["d3/f00*"])
    assert first.read_bytes() == files["d1/f0501.txt"]
    assert not store.cache.has("m", Version(0, 0))
    # A folder with no file selects the whole version (docs/cli.md), scoped pulls before
    # or not.
    assert store.get("m:0.0[d1/empty]").is_dir() and store.cache.has("m", Version(0, 0))

    every = {f"all/{path}": data for path, data in files.items()}
    backend.store().push(make_tree(every), "w")
    other = backend.store()
    other.get("w:0.0[all]")  # selects every file: the complete version, not a partial one
    assert other.cache.has("w", Version(0, 0))


@pytest.mark.parametrize("backend", ["local"], indirect=True)
def test_a_lock_of_a_large_version_stored_whole_checks_as_the_stored_bytes(
    backend: Backend, make_tree: Tree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = many_files()
    with monkeypatch.context() as patched:  # as a release before shards stored it
        patched.setattr("assetstore.model.shards.SHARD_ABOVE", 10 * COUNT)
        backend.store().push(make_tree(files), "m")
    assert "files" in stored_manifest(backend, "m", "0.0")
    store = backend.store()
    lockfile = tmp_path / "assets.lock"
    lockfile.write_text(dumps(lock(store, ["m:0.0"])))
    image = backend.store().with_assets_dir(tmp_path / "image")
    image.get("m:0.0")
    assert check(image, load(lockfile)) == {}
