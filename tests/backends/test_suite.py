"""The shared backend suite: what the core does on `local` works the same on every
provider. Each test runs once per provider (see ``backend`` in conftest.py), on a real
server for S3 (moto), GCS (fake-gcs-server) and Azure (Azurite)."""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import ByteCounter, run_cli_process

from assetstore import (
    AssetNotFoundError,
    AssetStore,
    BackendError,
    IntegrityError,
    InvalidSpecError,
    Version,
    VersionExistsError,
)
from assetstore.repository.check import check_backend
from assetstore.transfer import pull

from .conftest import Backend, subprocess_env

Tree = Callable[..., Path]
pytestmark = pytest.mark.integration
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(url: str) -> bytes:
    with _OPENER.open(url, timeout=10) as response:
        return bytes(response.read())


def test_a_file_asset_round_trips_and_keeps_its_name(backend: Backend, tmp_path: Path) -> None:
    source = tmp_path / "weights.bin"
    source.write_bytes(os.urandom(100_000))
    assert backend.store().push(source, "models/clf").spec == "models/clf:0.0"
    path = backend.store().get("models/clf")
    assert path.name == "weights.bin" and path.read_bytes() == source.read_bytes()


def test_a_directory_travels_whole(backend: Backend, make_tree: Tree) -> None:
    files = {".env": b"x=0", "empty.txt": b"", "a/b/c/deep.txt": b"deep", "x.bin": b"x" * 5000}
    backend.store().push(make_tree(files, empty_dirs=("logs/old",)), "data/set")
    path = backend.store().get("data/set:0.0")
    got = {p.relative_to(path).as_posix(): p.read_bytes() for p in path.rglob("*") if p.is_file()}
    assert got == files
    assert (path / "logs" / "old").is_dir()


def test_versions_bump_and_partial_specs_resolve(backend: Backend, make_tree: Tree) -> None:
    store = backend.store()
    for version in ["1.2", "1.10", "2.0"]:
        store.push(make_tree({"v": version.encode()}), f"m:{version}")
    assert store.push(make_tree({"v": b"next"}), "m").spec == "m:2.1"
    assert store.push(make_tree({"v": b"major"}), "m", bump="major").spec == "m:3.0"
    reader = backend.store()
    assert [str(v) for v in reader.versions("m")] == ["3.0", "2.1", "2.0", "1.10", "1.2"]
    assert (reader.get("m:1") / "v").read_text() == "1.10"
    assert (reader.get("m") / "v").read_text() == "major"
    with pytest.raises(AssetNotFoundError, match="no version of m matches m:4"):
        reader.get("m:4")


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_a_pushed_version_is_immutable(backend: Backend, make_tree: Tree, kind: str) -> None:
    first, second = make_tree({"f": b"first"}), make_tree({"f": b"second", "g": b"more"})
    sources = (first / "f", second / "f") if kind == "file" else (first, second)
    backend.store().push(sources[0], "m:1.0")
    before = backend.objects()
    with pytest.raises(VersionExistsError, match="already exists"):
        backend.store().push(sources[1], "m:1.0")
    assert backend.objects() == before


def test_one_version_pushed_by_several_processes_has_exactly_one_winner(
    backend: Backend, make_tree: Tree
) -> None:
    if backend.provider == "memory":
        pytest.skip("the memory filesystem lives inside one process: no other can see it")
    sources = [make_tree({f"f{i}": f"pusher {n}".encode() * 2000 for i in range(5)})
               for n in range(3)]  # fmt: skip

    def push(source: Path) -> tuple[int, str, str]:
        done = run_cli_process(["push", str(source), "m:1.0"], subprocess_env(backend))
        return done.returncode, done.stdout, done.stderr

    with ThreadPoolExecutor(len(sources)) as pool:
        results = list(pool.map(push, sources))
    assert sorted(code for code, _, _ in results) == [0, 4, 4], results
    winner = next(n for n, (code, _, _) in enumerate(results) if code == 0)
    assert results[winner][1] == "m:1.0\n"
    for code, _, err in results:
        if code:
            assert "m:1.0" in err and len(err.strip().splitlines()) == 1, err
    path = backend.store().get("m:1.0")
    assert {p.read_bytes() for p in path.iterdir()} == {f"pusher {winner}".encode() * 2000}
    assert not [k for k in backend.objects() if k.endswith(".reserved")]


def test_tampered_remote_bytes_fail_integrity_and_leave_no_trace(
    backend: Backend, make_tree: Tree
) -> None:
    backend.store().push(make_tree({"a": b"good", "b": b"fine"}), "m")
    backend.tamper("m/0.0/a", b"evil")
    store = backend.store()
    with pytest.raises(IntegrityError, match="does not match its manifest"):
        store.get("m:0.0")
    assert not store.cache.version_dir("m", Version(0, 0)).exists()
    assert list((store.cache.state / "staging").iterdir()) == []


def test_sub_paths(backend: Backend, make_tree: Tree) -> None:
    backend.store().push(make_tree({"vocab/en.txt": b"en", "model.bin": b"m"}), "models/bert")
    store = backend.store()
    assert store.get("models/bert:0.0[vocab/en.txt]").read_bytes() == b"en"
    assert store.get("models/bert[vocab]").is_dir()
    with pytest.raises(AssetNotFoundError, match="no file or folder 'nope'"):
        store.get("models/bert[nope]")


def test_presigned_urls_serve_the_bytes(backend: Backend, make_tree: Tree) -> None:
    tree = make_tree({"vocab/en.txt": b"hello", "model.bin": b"weights"})
    backend.store().push(tree, "models/bert")
    backend.store().push(tree / "model.bin", "models/clf")
    store = backend.store(signing=True)
    if backend.provider == "memory":
        with pytest.raises(BackendError, match="cannot make URLs"):
            store.url("models/clf")
        return
    assert fetch(store.url("models/bert[vocab/en.txt]", expires=600)) == b"hello"
    assert fetch(store.url("models/clf")) == b"weights"
    with pytest.raises(InvalidSpecError, match="is a directory"):
        store.url("models/bert")
    with pytest.raises(InvalidSpecError, match="is a folder: name one file in it"):
        store.url("models/bert[vocab]")
    with pytest.raises(AssetNotFoundError, match=r"no file or folder 'nope\.txt'"):
        store.url("models/bert[nope.txt]")


def test_plain_and_public_base_urls(backend: Backend, tmp_path: Path) -> None:
    source = tmp_path / "model.bin"
    source.write_bytes(b"weights")
    backend.store().push(source, "models/clf")
    key = "assets/models/clf/0.0/model.bin"
    if backend.provider != "memory":
        plain = backend.store().url("models/clf", expires=0)
        if backend.provider == "gcs":  # the JSON API's media link
            assert plain.endswith(f"/b/{backend.bucket}/o/{key.replace('/', '%2F')}?alt=media")
        else:
            assert plain.endswith(f"{backend.bucket}/{key}")
        if backend.provider in ("local", "gcs"):  # moto and Azurite refuse anonymous reads
            assert fetch(plain) == b"weights"
    cdn = backend.store(public_url_base="https://cdn.example.com/ml/")
    assert cdn.url("models/clf:0.0") == "https://cdn.example.com/ml/assets/models/clf/0.0/model.bin"


def test_a_version_pushed_elsewhere_is_seen_at_once(backend: Backend, make_tree: Tree) -> None:
    here, there = backend.store(), backend.store()
    here.push(make_tree({"a": b"0"}), "m")
    assert here.versions("m") == [Version(0, 0)]
    assert (here.get("m") / "a").read_bytes() == b"0"
    there.push(make_tree({"a": b"1"}), "m")
    assert here.versions("m") == [Version(0, 1), Version(0, 0)]
    assert (here.get("m") / "a").read_bytes() == b"1"
    assert here.names() == ["m"]


def test_unchanged_files_are_reused_where_they_are_not_copied(
    backend: Backend, make_tree: Tree
) -> None:
    big = os.urandom(6 * 2**20)  # past one chunk: the large-file path
    files = {**{f"f{i}": bytes([i]) * 1000 for i in range(5)}, "big.bin": big}
    store = backend.store()
    store.push(make_tree(files), "m")
    changed = {**files, "f3": b"new"}
    plan = store.plan_push(make_tree(changed), "m")
    assert len(plan.reused) == 5 and plan.upload_bytes == 3
    store.push(make_tree(changed), "m")
    assert version_objects(backend, "m/0.1") == {"f3": b"new"}  # nothing copied
    path = backend.store().get("m:0.1")
    assert {p.name: p.read_bytes() for p in path.iterdir()} == changed
    renamed = {"d/renamed.bin": big, "f3": b"newer"}
    third = store.push(make_tree(renamed), "m")
    assert {e.path: e.stored_at for e in third.files} == {
        "d/renamed.bin": "0.0/big.bin",
        "f3": None,
    }
    assert version_objects(backend, "m/0.2") == {"f3": b"newer"}
    path = backend.store().get("m:0.2")
    assert (path / "d/renamed.bin").read_bytes() == big and (path / "f3").read_bytes() == b"newer"
    if backend.provider != "memory":
        url = backend.store(signing=True).url("m:0.2[d/renamed.bin]", expires=600)
        assert "/m/0.0/big.bin" in url and fetch(url) == big


def test_a_file_whose_object_is_gone_is_sent_again_not_referred_to(
    backend: Backend, make_tree: Tree
) -> None:
    """Reuse planning refers only to objects that are there: an earlier version whose
    object went missing (deleted by hand, a broken earlier release) does not make a
    new version refer to nothing."""
    files = {"a": b"a" * 100, "b": b"b" * 100, "c": b"c" * 100}
    store = backend.store()
    store.push(make_tree(files), "m")
    backend.raw.rm_file(backend.key("m/0.0/a"))
    backend.raw.pipe_file(backend.key("m/0.0/c"), b"shorter")  # the wrong size
    second = store.push(make_tree(files), "m")
    assert {e.path: e.stored_at for e in second.files} == {"a": None, "b": "0.0/b", "c": None}
    path = backend.store().get("m:0.1")
    assert {p.name: p.read_bytes() for p in path.iterdir()} == files


def version_objects(backend: Backend, folder: str) -> dict[str, bytes]:
    """The objects under ``folder`` of the store's prefix, read behind its back."""
    top = backend.key(folder).strip("/") + "/"
    found = {p.strip("/"): data for p, data in backend.objects().items()}
    return {p.removeprefix(top): data for p, data in found.items() if p.startswith(top)}


def test_a_copied_version_holds_its_own_files(
    backend: Backend, make_tree: Tree, tmp_path: Path
) -> None:
    files = {"keep": b"k" * 5000, "a": b"1"}
    store = backend.store()
    store.push(make_tree(files), "m")
    store.push(make_tree({**files, "a": b"2"}), "m")
    other = AssetStore.from_env(
        provider="local", bucket=str(tmp_path / "other"), assets_dir=tmp_path / "o"
    )
    copied = store.copy_to(other, "m:0.1")
    assert [e.stored_at for e in copied.files] == [None, None]
    assert other.remote.manifest("m", Version(0, 1)) == copied
    got = other.get("m:0.1")
    assert {p.name: p.read_bytes() for p in got.iterdir()} == {**files, "a": b"2"}
    assert (tmp_path / "other/assets/m/0.1/keep").read_bytes() == files["keep"]


def test_a_large_file_goes_up_in_parts_and_streams_down(backend: Backend, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    block = os.urandom(2**20)
    with source.open("wb") as out:
        for _ in range(11):  # 11 MiB: three parts of at most 5 MiB
            out.write(block)
    manifest = backend.store().push(source, "big")
    assert manifest.files[0].size == 11 * 2**20
    path = backend.store().get("big:0.0")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == manifest.files[0].sha256[7:]


@pytest.mark.parametrize("kept", ["good", "corrupt"])
def test_a_large_download_resumes_from_the_bytes_a_killed_pull_left(
    backend: Backend,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    kept: str,
) -> None:
    monkeypatch.setattr(pull, "RESUMABLE_SIZE", 2**20)
    data = os.urandom(11 * 2**20 + 7)  # three ranges of 5 MiB, the last one short
    (tmp_path / "w.bin").write_bytes(data)
    store = backend.store()
    store.push(tmp_path / "w.bin", "m")
    if store.cache.has("m", Version(0, 0)):
        store.cache.remove("m", Version(0, 0))
    partial = store.cache.state / "partial" / hashlib.sha256(data).hexdigest()
    partial.parent.mkdir(parents=True, exist_ok=True)
    half = bytearray(data[: 6 * 2**20 + 3])
    if kept == "corrupt":
        half[10] ^= 0xFF
    partial.write_bytes(bytes(half))
    counted = ByteCounter()
    with caplog.at_level(logging.INFO, logger="assetstore"):
        path = store.get("m", callback=counted)
    assert path.read_bytes() == data
    assert f"at byte {len(half)}" in caplog.text
    assert not partial.exists()
    # The kept bytes count as done; an attempt on wrong kept bytes is uncounted.
    assert counted.bytes == len(data)


def test_names_lists_every_asset(backend: Backend, make_tree: Tree) -> None:
    store = backend.store()
    assert store.names() == []
    for name in ["b", "a/x", "a/x/y"]:
        store.push(make_tree({"f": b"1"}), name)
    assert backend.store().names() == ["a/x", "a/x/y", "b"]


def test_config_check_reports_every_capability(backend: Backend) -> None:
    report = check_backend(backend.store().remote)
    assert report.ok, report.lines()
    assert [c.name for c in report.checks][1:] == ["list", "write", "exclusive", "read", "delete"]
    assert [c.status for c in report.checks] == ["ok"] * 6
    assert backend.objects() == {}  # the probe object is gone


def test_a_listing_never_loses_a_version_while_other_objects_come_and_go(
    backend: Backend, make_tree: Tree
) -> None:
    store = backend.store()
    store.push(make_tree({"a.txt": b"a"}), "m")
    churn = backend.store()  # another client: its own connection and loop
    stop = threading.Event()

    def come_and_go() -> None:
        for i in itertools.count():
            if stop.is_set():
                return
            path = churn.remote.reservation_path("m", Version(9, i % 20))
            churn.remote.create_bytes(path, b"{}")
            churn.remote.delete(path)

    worker = threading.Thread(target=come_and_go)
    worker.start()
    try:
        seen = [store.remote.versions("m") for _ in range(150)]
    finally:
        stop.set()
        worker.join()
    assert [v for v in seen if v != [Version(0, 0)]] == []
