"""The store's behaviour on the `local` provider: push, pull, versions, immutability."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import posixpath
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from assetstore import (
    AssetNotFoundError,
    AssetStore,
    IntegrityError,
    InvalidSpecError,
    Version,
    VersionExistsError,
)
from assetstore.errors import ConfigError, PushSourceError

Tree = Callable[..., Path]


def bucket_root(env: dict[str, str]) -> Path:
    return Path(env["ASSETSTORE_STORAGE_BUCKET"]) / "assets"


def test_file_asset_round_trip_keeps_its_file_name(store: AssetStore, tmp_path: Path) -> None:
    source = tmp_path / "weights.bin"
    source.write_bytes(b"\x00\x01" * 1000)
    manifest = store.push(source, "models/clf")
    assert manifest.spec == "models/clf:0.0"
    assert manifest.kind == "file"
    path = store.get("models/clf")
    assert path.name == "weights.bin"
    assert path.read_bytes() == source.read_bytes()


def test_directory_travels_whole(store: AssetStore, make_tree: Tree) -> None:
    files = {".env": b"secret=0", "empty.txt": b"", "a/b/c/deep.txt": b"deep", "x.bin": b"x"}
    source = make_tree(files, empty_dirs=("logs/old",))
    store.push(source, "data/set")
    path = store.get("data/set:0.0")
    assert {
        p.relative_to(path).as_posix(): p.read_bytes() for p in path.rglob("*") if p.is_file()
    } == files
    assert (path / "logs" / "old").is_dir()
    assert list((path / "logs" / "old").iterdir()) == []


def test_versions_bump_minor_then_major_then_explicit(store: AssetStore, make_tree: Tree) -> None:
    source = make_tree({"f": b"1"})
    specs = [store.push(source, "m", force_new=True).spec for _ in range(3)]
    assert specs == ["m:0.0", "m:0.1", "m:0.2"]
    assert store.push(source, "m", bump="major", force_new=True).spec == "m:1.0"
    assert store.push(source, "m:7.3").spec == "m:7.3"
    assert store.push(source, "m", force_new=True).spec == "m:7.4"
    assert store.push(source, "m", bump="major", force_new=True).spec == "m:8.0"
    assert [str(v) for v in store.versions("m")] == [
        "8.0",
        "7.4",
        "7.3",
        "1.0",
        "0.2",
        "0.1",
        "0.0",
    ]


def test_partial_specs_resolve_to_the_newest_match(store: AssetStore, make_tree: Tree) -> None:
    for version in ["1.2", "1.10", "10.0", "2.0"]:
        store.push(make_tree({"v": version.encode()}), f"m:{version}")
    assert (store.get("m:1") / "v").read_text() == "1.10"
    assert (store.get("m") / "v").read_text() == "10.0"
    assert (store.get("m:1.2") / "v").read_text() == "1.2"
    with pytest.raises(AssetNotFoundError, match="no version of m matches m:3"):
        store.get("m:3")


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_pushing_an_existing_version_fails_and_leaves_the_remote_untouched(
    store: AssetStore, local_env: dict[str, str], make_tree: Tree, kind: str
) -> None:
    first = make_tree({"f": b"first"})
    second = make_tree({"f": b"second", "g": b"more"})
    sources = (first / "f", second / "f") if kind == "file" else (first, second)
    store.push(sources[0], "m:1.0")
    before = {p: p.read_bytes() for p in bucket_root(local_env).rglob("*") if p.is_file()}
    with pytest.raises(VersionExistsError, match="already exists"):
        store.push(sources[1], "m:1.0")
    after = {p: p.read_bytes() for p in bucket_root(local_env).rglob("*") if p.is_file()}
    assert after == before


def test_remote_layout_matches_the_design(
    store: AssetStore, local_env: dict[str, str], make_tree: Tree
) -> None:
    store.push(make_tree({"vocab/en.txt": b"hello"}), "models/bert", metadata={"commit": "abc"})
    root = bucket_root(local_env)
    assert (root / "models/bert/0.0/vocab/en.txt").read_bytes() == b"hello"
    # plain JSON, readable with standard tools (jq, aws s3 cp -)
    manifest = json.loads((root / ".manifests/models/bert/0.0.json").read_bytes())
    assert manifest["files"] == [
        {
            "path": "vocab/en.txt",
            "size": 5,
            "sha256": "sha256:" + __import__("hashlib").sha256(b"hello").hexdigest(),
        }
    ]
    assert manifest["kind"] == "dir" and manifest["total_size"] == 5
    assert manifest["metadata"] == {"commit": "abc"}
    assert manifest["pushed_by"] and manifest["pushed_at"]
    assert not list(root.rglob("*.reserved")) and not list(root.rglob("*.outcome"))


def test_a_version_without_manifest_does_not_exist(
    store: AssetStore, local_env: dict[str, str], make_tree: Tree
) -> None:
    store.push(make_tree({"f": b"1"}), "m")
    data = bucket_root(local_env) / "m" / "0.1"
    data.mkdir()
    (data / "f").write_bytes(b"half-pushed")
    assert store.versions("m") == [Version(0, 0)]
    assert (store.get("m") / "f").read_bytes() == b"1"


def files_under(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_unchanged_files_are_reused_where_they_are_not_copied(
    store: AssetStore, local_env: dict[str, str], make_tree: Tree, tmp_path: Path
) -> None:
    files = {f"d/f{i}": bytes([i]) * 1000 for i in range(10)}
    store.push(make_tree(files), "m")
    changed = {**files, "d/f3": b"new"}
    plan = store.plan_push(make_tree(changed), "m")
    assert plan.version == Version(0, 1)
    assert len(plan.reused) == 9 and "d/f3" not in plan.reused
    assert plan.reused["d/f4"].stored_at == "0.0/d/f4"
    assert plan.upload_bytes == 3 and plan.to_dict()["reused_files"] == 9
    manifest = store.push(make_tree(changed), "m")
    assert {e.path: e.stored_at for e in manifest.files}["d/f4"] == "0.0/d/f4"
    assert {e.path: e.stored_at for e in manifest.files}["d/f3"] is None
    # the new version's folder holds the changed file only: nothing was copied
    assert files_under(bucket_root(local_env) / "m/0.1") == {"d/f3": b"new"}
    fresh = store.with_assets_dir(tmp_path / "fresh")
    assert files_under(fresh.get("m:0.1")) == changed
    assert files_under(fresh.get("m:0.0")) == files


def test_a_second_push_reads_only_the_files_that_changed(
    store: AssetStore, make_tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hashes of the first push (computed while sending) are remembered by file
    identity: the second push reads no unchanged file, and still sees the changed one."""
    import types

    from assetstore.cache import hashcache

    files = {f"f{i}": bytes([i]) * 1000 for i in range(5)}
    tree = make_tree(files)
    # A minute later, the files are settled (their last change, mtime or ctime, is past
    # the racy window): no write in the same clock tick can follow.
    later = types.SimpleNamespace(time_ns=lambda: time.time_ns() + 60 * 10**9)
    monkeypatch.setattr(hashcache, "time", later)
    store.push(tree, "m")
    (tree / "f3").write_bytes(bytes([9]) * 1000)  # same size, new content
    read: list[Path] = []
    real = hashcache.sha256_file
    monkeypatch.setattr(hashcache, "sha256_file", lambda p: read.append(Path(p)) or real(p))
    plan = store.plan_push(tree, "m")
    assert read == [tree / "f3"]
    assert sorted(plan.reused) == ["f0", "f1", "f2", "f4"]


def test_uploads_go_folder_by_folder_in_turns(
    local_env: dict[str, str], make_tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Uploads under way at once land in different folders (a server that keeps objects
    as files creates each one under its folder's lock)."""
    from assetstore.repository.repository import Repository as Remote

    monkeypatch.setenv("ASSETSTORE_WORKERS", "1")  # one at a time: the order is the plan's
    sent: list[str] = []
    real = Remote.write_async

    async def spy(self: Remote, dst: str, data: bytes, **_: object) -> None:
        sent.append(dst)
        await real(self, dst, data)

    monkeypatch.setattr(Remote, "write_async", spy)
    names = ["a/1", "a/2", "a/3", "b/1", "b/2", "c", "d/e/1"]
    manifest = AssetStore.from_env().push(make_tree({n: n.encode() for n in names}), "m")
    folders = [posixpath.dirname(s.split("/m/0.0/")[1]) for s in sent]
    turns = [set(folders[:4]), set(folders[4:6]), set(folders[6:])]
    assert turns == [{"", "a", "b", "d/e"}, {"a", "b"}, {"a"}] and len(sent) == len(names)
    assert sorted(e.path for e in manifest.files) == sorted(names)


def test_a_reuse_refers_to_the_version_that_stored_the_bytes(
    store: AssetStore, local_env: dict[str, str], make_tree: Tree, tmp_path: Path
) -> None:
    store.push(make_tree({"keep": b"k" * 100, "a": b"1"}), "m")
    store.push(make_tree({"keep": b"k" * 100, "a": b"2"}), "m")
    third = store.push(make_tree({"renamed": b"k" * 100, "a": b"3"}), "m")
    assert {e.path: e.stored_at for e in third.files} == {"renamed": "0.0/keep", "a": None}
    assert files_under(bucket_root(local_env) / "m/0.2") == {"a": b"3"}
    fresh = store.with_assets_dir(tmp_path / "fresh")
    assert files_under(fresh.get("m:0.2")) == {"renamed": b"k" * 100, "a": b"3"}
    fourth = store.push(make_tree({"a": b"2"}), "m")  # content last stored by 0.1
    assert [e.stored_at for e in fourth.files] == [None]  # 0.2 alone is looked at


def test_the_url_of_a_reused_file_is_where_it_lives(
    store: AssetStore, local_env: dict[str, str], make_tree: Tree
) -> None:
    store.push(make_tree({"a": b"same", "b": b"1"}), "m")
    store.push(make_tree({"a": b"same", "b": b"2"}), "m")
    url = store.url("m:0.1[a]", expires=0)
    assert url.endswith("/m/0.0/a") and Path(url.removeprefix("file://")).read_bytes() == b"same"
    assert store.url("m:0.1[b]", expires=0).endswith("/m/0.1/b")


def test_a_pinned_older_version_reuses_only_from_versions_below_it(
    store: AssetStore, local_env: dict[str, str], make_tree: Tree, tmp_path: Path
) -> None:
    store.push(make_tree({"a": b"old"}), "m:1.0")
    store.push(make_tree({"a": b"new"}), "m:2.0")
    pinned = store.push(make_tree({"a": b"new", "b": b"old"}), "m:1.5")
    assert {e.path: e.stored_at for e in pinned.files} == {"a": None, "b": "1.0/a"}
    fresh = store.with_assets_dir(tmp_path / "fresh")
    assert files_under(fresh.get("m:1.5")) == {"a": b"new", "b": b"old"}


@pytest.mark.parametrize("target", ["memory", "local"])
def test_a_copied_version_holds_its_own_files(
    store: AssetStore, make_tree: Tree, tmp_path: Path, target: str
) -> None:
    """``copy`` to another store (server-side on one backend, streamed across two)
    brings the bytes a version refers to in earlier versions: the copy stands alone."""
    files = {"keep": b"k" * 100, "d/a": b"1"}
    store.push(make_tree(files), "m")
    store.push(make_tree({**files, "d/a": b"2"}), "m")
    bucket = f"copy-{tmp_path.name}" if target == "memory" else str(tmp_path / "other")
    other = AssetStore.from_env(provider=target, bucket=bucket, assets_dir=tmp_path / "o")
    copied = store.copy_to(other, "m:0.1")
    assert [e.stored_at for e in copied.files] == [None, None]
    raw = other.remote.read_bytes(other.remote.manifest_path("m", Version(0, 1)))
    assert b"stored_at" not in raw
    assert other.remote.manifest("m", Version(0, 1)) == copied
    assert other.remote.versions("m") == [Version(0, 1)]
    assert files_under(other.get("m:0.1")) == {**files, "d/a": b"2"}


def test_dry_run_changes_nothing(
    store: AssetStore, local_env: dict[str, str], make_tree: Tree
) -> None:
    plan = store.plan_push(make_tree({"a": b"1"}), "m")
    assert plan.spec == "m:0.0"
    assert not bucket_root(local_env).exists()


def test_tampered_remote_bytes_fail_integrity_and_leave_no_trace(
    store: AssetStore, local_env: dict[str, str], make_tree: Tree
) -> None:
    store.push(make_tree({"a": b"good", "b": b"fine"}), "m")
    (bucket_root(local_env) / "m/0.0/a").write_bytes(b"evil")
    with pytest.raises(IntegrityError, match="does not match its manifest"):
        store.get("m:0.0")
    assert not store.cache.version_dir("m", Version(0, 0)).exists()
    assert list((store.cache.state / "staging").iterdir()) == []


def test_sub_paths(store: AssetStore, make_tree: Tree) -> None:
    store.push(make_tree({"vocab/en.txt": b"en", "model.bin": b"m"}), "models/bert")
    assert store.get("models/bert:0.0[vocab/en.txt]").read_bytes() == b"en"
    assert store.get("models/bert[vocab]").is_dir()
    with pytest.raises(AssetNotFoundError, match="no file or folder 'nope'"):
        store.get("models/bert[nope]")
    with pytest.raises(InvalidSpecError):
        store.get("models/bert[../../etc/passwd]")


def test_pinned_cached_version_needs_no_remote(
    store: AssetStore, local_env: dict[str, str], make_tree: Tree
) -> None:
    store.push(make_tree({"a": b"1"}), "m")
    expected = store.get("m:0.0")
    # The bucket becomes unusable: a plain file where the folder was.
    bucket = Path(local_env["ASSETSTORE_STORAGE_BUCKET"])
    bucket.rename(bucket.with_name("moved"))
    bucket.write_text("not a folder")
    fresh = AssetStore.from_env()
    assert fresh.get("m:0.0") == expected


def test_unpinned_spec_falls_back_to_the_cache_when_the_backend_is_unreachable(
    store: AssetStore,
    make_tree: Tree,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store.push(make_tree({"a": b"1"}), "m")
    store.push(make_tree({"a": b"2"}), "m")
    store.get("m:0.0")
    fresh = AssetStore.from_env(retry_attempts=1)

    async def refuse(*args: object, **kwargs: object) -> AsyncIterator[list[object]]:
        raise ConnectionRefusedError(111, "Connection refused")
        yield []  # an async generator, as listings are

    monkeypatch.setattr(fresh.remote.backend, "listing", refuse)  # the backend is down
    with caplog.at_level(logging.WARNING, logger="assetstore"):
        path = fresh.get("m")
    assert (path / "a").read_bytes() == b"1"
    assert "using the newest cached match m:0.0" in caplog.text
    # (a backend that answers with an error is not fallen back from: test_warm_get.py)


def test_force_repairs_a_corrupted_cache(store: AssetStore, make_tree: Tree) -> None:
    store.push(make_tree({"a": b"good"}), "m")
    path = store.get("m:0.0")
    (path / "a").write_bytes(b"bad!")
    [result] = store.verify(["m"])
    assert not result.ok and "sha256 mismatch" in result.problems[0]
    assert (store.get("m:0.0", force=True) / "a").read_bytes() == b"good"
    assert all(r.ok for r in store.verify())


@pytest.mark.parametrize("layout", ["inside", "outside"])
def test_symlinks_inside_a_tree_are_refused(
    store: AssetStore, make_tree: Tree, tmp_path: Path, layout: str
) -> None:
    source = make_tree({"real.txt": b"r"})
    target = source / "real.txt" if layout == "inside" else tmp_path
    (source / "link").symlink_to(target)
    with pytest.raises(PushSourceError, match="is a symlink"):
        store.push(source, "m")


def test_a_symlink_given_as_the_source_is_followed(store: AssetStore, tmp_path: Path) -> None:
    real = tmp_path / "blob-abc123"
    real.write_bytes(b"weights")
    link = tmp_path / "model.bin"
    link.symlink_to(real)
    path = store.get(store.push(link, "m").spec)
    assert path.read_bytes() == b"weights" and path.name == "blob-abc123"


def test_empty_and_missing_sources_are_refused(store: AssetStore, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(PushSourceError, match="empty"):
        store.push(tmp_path / "empty", "m")
    with pytest.raises(PushSourceError, match="no such file"):
        store.push(tmp_path / "missing", "m")


def test_unknown_names_and_versions_are_not_found(store: AssetStore, make_tree: Tree) -> None:
    with pytest.raises(AssetNotFoundError):
        store.get("nothing")
    store.push(make_tree({"a": b"1"}), "m")
    with pytest.raises(AssetNotFoundError, match=r"m:3.0 not found"):
        store.get("m:3.0")
    with pytest.raises(AssetNotFoundError):
        store.versions("nothing")


def test_names_lists_every_asset(store: AssetStore, make_tree: Tree) -> None:
    for name in ["b", "a/x", "a/x/y", "c"]:
        store.push(make_tree({"f": b"1"}), name)
    assert store.names() == ["a/x", "a/x/y", "b", "c"]


def test_push_without_provider_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ASSETSTORE_ASSETS_DIR", str(tmp_path))
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match="no storage provider"):
        AssetStore.from_env().push(tmp_path / "f", "m")


def test_pull_to_another_dir_builds_a_servable_assets_dir(
    store: AssetStore, make_tree: Tree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.push(make_tree({"a": b"1"}), "m")
    deploy = tmp_path / "deploy"
    store.with_assets_dir(deploy).get("m")
    monkeypatch.delenv("ASSETSTORE_STORAGE_PROVIDER")
    monkeypatch.setenv("ASSETSTORE_ASSETS_DIR", str(deploy))
    offline = AssetStore.from_env()
    assert (offline.get("m") / "a").read_bytes() == b"1"
    assert not (deploy / ".assetstore" / "catalog.db").exists()


@pytest.mark.skipif(not hasattr(os, "copy_file_range"), reason="Linux only")
@pytest.mark.parametrize("kernel_can_copy", [True, False])
def test_large_files_of_a_local_folder_are_copied_by_the_kernel_if_it_can(
    store: AssetStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel_can_copy: bool
) -> None:
    """Files over 4 MiB go to and from a local folder through os.copy_file_range; where
    the kernel refuses (another filesystem, say), through user space. Either way the
    bytes and the recorded sha256 are the file's."""
    real_copy = os.copy_file_range
    calls: list[int] = []

    def copy_file_range(src: int, dst: int, count: int, *offsets: int) -> int:
        calls.append(count)
        if not kernel_can_copy:
            raise OSError(18, "Invalid cross-device link")  # EXDEV
        return real_copy(src, dst, count, *offsets)

    monkeypatch.setattr(os, "copy_file_range", copy_file_range)
    data = os.urandom(9 * 2**20 + 17)
    (tmp_path / "big.bin").write_bytes(data)
    manifest = store.push(tmp_path / "big.bin", "m")
    pushed = len(calls)
    assert pushed > 0
    assert manifest.files[0].sha256 == "sha256:" + hashlib.sha256(data).hexdigest()
    assert store.get("m").read_bytes() == data
    assert len(calls) > pushed  # the pull asked the kernel too
    assert all(result.ok for result in store.verify())


def test_prune_removes_partial_downloads_no_pull_is_working_on(
    store: AssetStore, make_tree: Tree
) -> None:
    """A partial download a killed pull left is removed by the next prune, whatever its
    age; one a pull holds is kept."""
    state = store.cache.state / "partial"
    state.mkdir(parents=True)
    (state / ("a" * 64)).write_bytes(b"x" * 1000)
    (state / ("b" * 64)).write_bytes(b"y" * 1000)
    held = store.cache.partial_lock("b" * 64)
    assert held is not None
    try:
        store.prune(store.plan_prune(keep=1))
    finally:
        held.release()  # type: ignore[attr-defined]
    assert sorted(p.name for p in state.iterdir()) == ["b" * 64, "b" * 64 + ".lock"]
    store.prune(store.plan_prune(keep=1))
    assert list(state.iterdir()) == []


def test_a_pull_leaves_no_lock_files_behind(
    store: AssetStore, make_tree: Tree, tmp_path: Path
) -> None:
    """What ``pull --to DIR`` leaves in DIR's .assetstore/ ships in the deploy image:
    the manifest copies only (and empty folders), no lock or heartbeat files."""
    store.push(make_tree({"big.bin": os.urandom(17 * 2**20), "a": b"1"}), "m")
    deploy = store.with_assets_dir(tmp_path / "deploy")
    deploy.get("m")
    state = deploy.cache.state
    left = [p.relative_to(state).as_posix() for p in state.rglob("*") if p.is_file()]
    assert left == ["manifests/m/0.0.json"], left
