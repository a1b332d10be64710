"""Packs on every provider: a directory push puts its small files in tars any tar
reader opens, pulls read only the ranges they need, a new version refers to the ranges
of unchanged files, and the lifecycle keeps a pack while any version reads from it."""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from assetstore import AssetStore, IntegrityError, InvalidSpecError, Version

from .conftest import Backend
from .test_suite import version_objects

Tree = Callable[..., Path]
PACK_NAME = re.compile(r"pack-[0-9]{4}-[0-9a-f]{8}\.tar")
pytestmark = pytest.mark.integration


def small_files(count: int, size: int = 1000, prefix: str = "f") -> dict[str, bytes]:
    return {f"d{i % 3}/{prefix}{i:04d}.txt": os.urandom(size) for i in range(count)}


def tree_of(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in path.rglob("*") if p.is_file()}


def untar(data: bytes) -> dict[str, bytes]:
    """What a standard tar reader finds in ``data``: path -> bytes of each file."""
    found = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar:
            assert member.isfile()
            extracted = tar.extractfile(member)
            assert extracted is not None
            found[member.name] = extracted.read()
    return found


def data_reads(store: AssetStore) -> list[tuple[str, int, int, int]]:
    """Every ranged read ``store`` makes from now on: (path, start, end, bytes got)."""
    reads: list[tuple[str, int, int, int]] = []
    remote = store.remote
    real = remote.read_range_async

    async def counted(path: str, start: int, end: int) -> bytes:
        data = await real(path, start, end)
        reads.append((path, start, end, len(data)))
        return data

    remote.read_range_async = counted  # type: ignore[method-assign]
    return reads


def test_small_files_go_up_in_tars_that_any_tar_reader_opens(
    backend: Backend, make_tree: Tree
) -> None:
    files = {**small_files(150, 700), "é/naïve name.txt": b"x", "big.bin": os.urandom(3 * 2**20)}
    files["deep/" + "long-folder-name/" * 8 + "leaf.txt"] = b"past ustar's 100 characters"
    store = backend.store(pack_max=48 * 1024)  # several packs
    pushed = store.push(make_tree(files), "data/set")
    objects = version_objects(backend, "data/set/0.0")
    packs = {p.partition("/")[2] for p in pushed.packs}
    assert len(packs) > 1 and set(objects) == packs | {"big.bin"}
    unpacked: dict[str, bytes] = {}
    for name in sorted(packs):
        unpacked |= untar(objects[name])
    assert unpacked == {path: data for path, data in files.items() if path != "big.bin"}
    raw = json.loads(objects_of_manifest(backend, "data/set", "0.0"))
    assert raw["format"] == 3
    assert {e["path"] for e in raw["files"] if "pack" in e} == set(unpacked)
    assert tree_of(backend.store().get("data/set:0.0")) == files


def objects_of_manifest(backend: Backend, name: str, version: str) -> bytes:
    return bytes(backend.raw.cat_file(backend.key(f".manifests/{name}/{version}.json")))


def test_a_sub_path_pull_reads_only_the_bytes_of_what_it_names(
    backend: Backend, make_tree: Tree
) -> None:
    files = small_files(300, 4096)
    backend.store().push(make_tree(files), "m")
    store = backend.store()
    reads = data_reads(store)
    path = store.get("m:0.0[d1/f0151.txt]")
    assert path.read_bytes() == files["d1/f0151.txt"]
    assert sum(got for *_, got in reads) == 4096 and len(reads) == 1
    held = store.cache.version_dir("m", Version(0, 0))
    assert tree_of(held) == {"d1/f0151.txt": files["d1/f0151.txt"]}
    reads.clear()
    folder = store.get("m:0.0[d2]")  # a folder: its files are neighbours in the pack
    assert tree_of(folder) == {p.removeprefix("d2/"): d for p, d in files.items() if "d2/" in p}
    assert len(reads) < 10 and sum(got for *_, got in reads) < 2 * 100 * (4096 + 512)
    reads.clear()
    assert store.get("m:0.0[d1/f0151.txt]") == path and reads == []  # held: no download
    assert tree_of(store.get("m:0.0")) == files  # the whole version completes the part


def test_unchanged_files_stay_in_their_pack_which_outlives_its_version(
    backend: Backend, make_tree: Tree
) -> None:
    files = small_files(100)
    store = backend.store()
    store.push(make_tree(files), "m")
    changed = {**files, **{path: os.urandom(999) for path in sorted(files)[:70]}}
    plan = store.plan_push(make_tree(changed), "m")
    assert len(plan.reused) == 30 and plan.upload_bytes == 70 * 999 and len(plan.packed) == 70
    second = store.push(make_tree(changed), "m")
    where = {e.path: e.pack for e in second.files}
    [first] = store.info("m:0.0").packs
    assert {where[p] for p in sorted(files)[70:]} == {first}
    [own] = {where[p] for p in sorted(files)[:70]}
    sent = version_objects(backend, "m/0.1")
    assert own is not None and list(sent) == [own.removeprefix("0.1/")]
    assert untar(sent[own.removeprefix("0.1/")]) == {p: changed[p] for p in sorted(files)[:70]}
    backend.raw.pipe_file(backend.key("m/0.0/pack-0099.tar"), b"a pack no manifest names")
    report = store.lifecycle.delete("m:0.0")
    assert [i.key.rpartition("/")[2] for i in report.items if "pack" in i.key] == ["pack-0099.tar"]
    assert tree_of(backend.store().get("m:0.1")) == changed  # 0.0's pack still serves 0.1
    store.lifecycle.delete("m:0.1")
    store.lifecycle.gc()
    assert version_objects(backend, "m/0.0") == {} and version_objects(backend, "m/0.1") == {}


def test_a_pack_that_lies_fails_the_pull_and_installs_nothing(
    backend: Backend, make_tree: Tree
) -> None:
    files = small_files(80)
    backend.store().push(make_tree(files), "m")
    [packed] = backend.store().info("m:0.0").packs
    pack = backend.key(f"m/{packed}")
    good = bytes(backend.raw.cat_file(pack))
    entry = next(e for e in backend.store().info("m:0.0").files if e.path == "d2/f0050.txt")
    flipped = bytearray(good)
    flipped[entry.offset + 10] ^= 0xFF
    for lie in (bytes(flipped), good[: entry.offset + 100], b""):
        backend.raw.pipe_file(pack, lie)
        store = backend.store()
        with pytest.raises(IntegrityError, match="does not match its manifest"):
            store.get("m:0.0")
        with pytest.raises(IntegrityError, match="does not match its manifest"):
            store.get("m:0.0[d2/f0050.txt]")
        assert not store.cache.version_dir("m", Version(0, 0)).exists()
        assert list((store.cache.state / "staging").iterdir()) == []


def test_packed_and_unpacked_versions_refer_to_one_another(
    backend: Backend, make_tree: Tree
) -> None:
    store = backend.store()
    trees = [small_files(80)]
    store.push(make_tree(trees[0]), "m", pack=False)
    trees.append({**trees[0], **small_files(70, 900, prefix="g")})
    store.push(make_tree(trees[1]), "m")
    trees.append({**trees[1], "d0/f0000.txt": b"changed"})
    third = store.push(make_tree(trees[2]), "m", pack=False)
    assert version_objects(backend, "m/0.2") == {"d0/f0000.txt": b"changed"}
    kinds = {(e.stored_at or "").partition("/")[0] + (e.pack or "") for e in third.files}
    assert kinds == {"", "0.0", *store.info("m:0.1").packs}
    for number, files in enumerate(trees):
        assert tree_of(backend.store().get(f"m:0.{number}")) == files


def test_no_pack_and_the_setting_send_one_object_per_file(
    backend: Backend, make_tree: Tree
) -> None:
    files = small_files(4)  # packed with a threshold of 2, as "e" shows
    backend.store(pack=False, pack_min_files=2).push(make_tree(files), "a")
    backend.store(pack_min_files=2).push(make_tree(files), "b", pack=False)
    backend.store(pack_min_files=5).push(make_tree(files), "c")
    for name in "abc":
        assert version_objects(backend, f"{name}/0.0") == files
    assert backend.store(pack_min_files=2).push(make_tree(files), "e").packs
    few = small_files(3)
    [packed] = backend.store().push(make_tree(few), "d", pack=True).packs
    assert PACK_NAME.fullmatch(packed.removeprefix("0.0/"))


def test_a_pack_never_takes_the_name_of_a_file(backend: Backend, make_tree: Tree) -> None:
    files = {**small_files(70), "pack-0000.tar": os.urandom(2 * 2**20)}
    pushed = backend.store().push(make_tree(files), "m")
    [packed] = pushed.packs
    assert PACK_NAME.fullmatch(packed.removeprefix("0.0/"))
    assert tree_of(backend.store().get("m")) == files


def test_a_packed_version_copies_with_its_packs(
    backend: Backend, make_tree: Tree, tmp_path: Path
) -> None:
    store = backend.store()
    files = small_files(100)
    store.push(make_tree(files), "m")
    changed = {**files, **small_files(65, 800, prefix="g")}
    store.push(make_tree(changed), "m")
    other = AssetStore.from_env(
        provider="local", bucket=str(tmp_path / "other"), assets_dir=tmp_path / "o"
    )
    copied = store.copy_to(other, "m:0.1")
    names = sorted(p.removeprefix("0.1/") for p in copied.packs)
    assert len(names) == 2 and all(PACK_NAME.fullmatch(n) for n in names)
    assert set(names).isdisjoint(p.partition("/")[2] for p in store.info("m:0.1").packs)
    assert other.remote.manifest("m", Version(0, 1)) == copied
    assert tree_of(other.get("m:0.1")) == changed


def test_a_url_is_refused_for_a_file_inside_a_pack(backend: Backend, make_tree: Tree) -> None:
    backend.store().push(make_tree(small_files(70)), "m")
    with pytest.raises(InvalidSpecError, match=r"stored in the pack 0\.0/pack-0000-\w{8}\.tar"):
        backend.store().url("m[d0/f0000.txt]")


def test_a_push_that_fails_after_its_packs_went_up_leaves_none(
    backend: Backend, make_tree: Tree
) -> None:
    files = {**small_files(70), "big.bin": os.urandom(9 * 2**20)}

    class Boom(Exception):
        pass

    class FailOnceThePacksAreUp:
        def set_size(self, size: int | None) -> None:
            pass

        def relative_update(self, inc: int = 1) -> None:
            self.counted = inc  # the first count: the pack's files, once it is written
            raise Boom()

    callback = FailOnceThePacksAreUp()
    with pytest.raises(Boom):
        backend.store().push(make_tree(files), "m", callback=callback)
    assert callback.counted == 70 * 1000
    assert version_objects(backend, "m/0.0") == {}
    assert backend.store().remote.scan("m").committed == frozenset()
