"""The lifecycle on every server: deleting a version whose files later versions reuse
keeps those bytes, gc leaves exactly the objects committed manifests name, protected
versions are refused, expiry goes through gc, yanks are skipped unless pinned, the
catalog is rebuilt with yanks and deletions, and gc racing pushes loses nothing."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from assetstore import AssetStore, Version
from assetstore.catalog.sql import dispose_engines
from assetstore.errors import AssetNotFoundError, ProtectedError, VersionExistsError
from assetstore.release.lockfile import dumps
from assetstore.release.locking import lock
from assetstore.repository.repository import Scan

from .conftest import Backend, subprocess_env

Tree = Callable[..., Path]
pytestmark = pytest.mark.integration
EVERY = ["local", "s3", "gcs", "az"]


def _data_objects(backend: Backend) -> set[str]:
    """The paths (under the prefix, ``assets``) of every object in a version folder,
    read behind assetstore's back."""
    relative = (path.split("/assets/", 1)[1] for path in backend.raw.find(backend.bucket))
    return {path for path in relative if not path.startswith(".")}


def _foreign_reservation(backend: Backend, name: str, version: Version, age: float) -> None:
    """What a pusher on another host that died (or is still running) left."""
    reserved_at = datetime.fromtimestamp(time.time() - age, tz=timezone.utc)
    owner = {"host": "build-7", "boot_id": "elsewhere", "pid": 4242, "token": "t",
             "pushed_by": "ci@build-7", "reserved_at": reserved_at.isoformat()}  # fmt: skip
    backend.raw.pipe_file(backend.key(f".manifests/{name}/{version}.reserved"),
                          json.dumps(owner).encode())  # fmt: skip
    backend.raw.pipe_file(backend.key(f"{name}/{version}/half"), b"partial")


def _referenced(store: AssetStore) -> set[str]:
    """What every committed manifest names: ``name/version/path`` of each file's bytes."""
    remote, root = store.remote, store.remote.root
    return {
        remote.file_path(m, e).removeprefix(root + "/")
        for name in remote.names()
        for m in (remote.manifest(name, v) for v in remote.versions(name))
        for e in m.files
    }


def _pulls_and_verifies(backend: Backend, specs: dict[str, dict[str, bytes]]) -> None:
    fresh = backend.store()
    for spec, files in specs.items():
        root = fresh.get(spec)  # each file checked against its sha256 while it streams
        files_there = (p for p in root.rglob("*") if p.is_file())
        got = {p.relative_to(root).as_posix(): p.read_bytes() for p in files_there}
        assert got == files, spec
    assert all(r.ok for r in fresh.verify())


def _three_versions(store: AssetStore, make_tree: Tree) -> dict[str, dict[str, bytes]]:
    """0.0 holds a, b; 0.1 reuses them and adds c; 0.2 changes a, reuses b (stored by
    0.0) and c (stored by 0.1)."""
    trees = [
        {"a": b"a0", "sub/b": b"b0"},
        {"a": b"a0", "sub/b": b"b0", "c": b"c1"},
        {"a": b"a2", "sub/b": b"b0", "c": b"c1"},
    ]
    for files in trees:
        store.push(make_tree(files), "m")
    return {f"m:0.{i}": files for i, files in enumerate(trees)}


@pytest.mark.parametrize("backend", ["memory", *EVERY], indirect=True)
def test_deleting_versions_whose_files_are_reused_keeps_every_other_version_whole(
    backend: Backend, make_tree: Tree
) -> None:
    store = backend.store()
    specs = _three_versions(store, make_tree)
    report = store.lifecycle.delete("m:0.0", reason="superseded")
    assert [m.spec for m in report.deleted] == ["m:0.0"]
    # 0.0's files are reused by 0.1 and 0.2: only its manifest goes
    assert {i.reason for i in report.items} == {"manifest of a deleted version"}
    del specs["m:0.0"]
    _pulls_and_verifies(backend, specs)
    store.lifecycle.delete("m:0.1")
    del specs["m:0.1"]
    _pulls_and_verifies(backend, specs)
    # 0.0/a is named by no manifest now; 0.0/sub/b and 0.1/c by 0.2's
    assert _data_objects(backend) == _referenced(store) == {"m/0.0/sub/b", "m/0.1/c", "m/0.2/a"}
    assert store.versions("m") == [Version(0, 2)]
    with pytest.raises(AssetNotFoundError):
        backend.store().get("m:0.0")
    with pytest.raises(VersionExistsError, match="never given again"):
        store.push(make_tree({"a": b"new"}), "m:0.1")
    assert store.push(make_tree({"a": b"new"}), "m").version == Version(0, 3)


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
def test_a_sweep_whose_listing_missed_a_commit_deletes_nothing(
    backend: Backend, make_tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listing paged through while a push committed can show neither its manifest nor
    its reservation; the second listing shows the commit, and the sweep waits."""
    store = backend.store()
    specs = _three_versions(store, make_tree)
    remote = store.remote
    real, calls = remote.scan, []

    def paged(name: str) -> Scan:  # the first listing of the sweep misses 0.2's commit
        calls.append(name)
        found = real(name)
        if len(calls) == 2:
            return found._replace(manifests=found.manifests - {Version(0, 2)})
        return found

    monkeypatch.setattr(remote, "scan", paged)
    report = store.lifecycle.delete("m:0.1")  # 0.2 reuses 0.1's c
    assert "m" in report.deferred and not report.items
    monkeypatch.undo()
    del specs["m:0.1"]
    _pulls_and_verifies(backend, specs)


@pytest.mark.parametrize("backend", ["local", "s3", "az"], indirect=True)
def test_gc_after_deletes_leaves_exactly_the_referenced_objects(
    backend: Backend, make_tree: Tree
) -> None:
    store = backend.store()
    _three_versions(store, make_tree)
    store.push(make_tree({"x": b"x" * 1000}), "other")
    store.aliases.set("other@prod", "0.0")
    # what gc must collect: a dead push's data (a reservation two days old), journal
    # garbage; and what it must keep: a push under way (a reservation a minute old)
    _foreign_reservation(backend, "m", Version(0, 9), age=2 * 86400)
    _foreign_reservation(backend, "other", Version(0, 5), age=60)
    backend.raw.pipe_file(backend.key(".aliases/other/prod/notes.txt"), b"junk")
    deleting = store.lifecycle.delete("m:0.0")
    assert "m" in deleting.deferred and not deleting.items  # m:0.9 looks under way
    before = _data_objects(backend)
    dry_repairs, dry = store.lifecycle.gc(dry_run=True)
    assert _data_objects(backend) == before  # a dry run changes nothing
    repairs, report = store.lifecycle.gc()
    assert [r.reservation.spec for r in repairs if r.reclaimed] == ["m:0.9"]
    # the reclaim removed the dead push's folder; gc then finished the delete (0.0's
    # files are all still named by 0.1) and found the journal garbage
    assert {i.key.rsplit("/assets/", 1)[-1] for i in report.items} == {
        ".manifests/m/0.0.json",
        ".aliases/other/prod/notes.txt",
    }
    # a dry run reclaims nothing, so m still looks pushed to: only the journal garbage
    assert {i.reason for i in dry.items} == {"no alias journal entry"}
    assert set(dry.deferred) == {"m", "other"}
    assert [r.reservation.spec for r in dry_repairs if r.reason] == ["m:0.9"]
    assert "other" in report.deferred  # its push is under way: nothing of it goes
    assert _data_objects(backend) == _referenced(store) | {"other/0.5/half"}
    assert _referenced(store) == {"m/0.0/a", "m/0.0/sub/b", "m/0.1/c", "m/0.2/a", "other/0.0/x"}
    assert report.to_dict()["objects"] == len(report.items)
    assert report.bytes == sum(i.bytes for i in report.items)
    again = store.lifecycle.gc()[1]
    assert again.items == []  # nothing left to collect
    _pulls_and_verifies(backend, {"m:0.1": {"a": b"a0", "sub/b": b"b0", "c": b"c1"}})


@pytest.mark.parametrize("backend", EVERY, indirect=True)
def test_protected_versions_are_refused_and_retention_keeps_them(
    backend: Backend, make_tree: Tree, tmp_path: Path
) -> None:
    store = backend.store()
    for i in range(5):
        store.push(make_tree({"f": f"v{i}".encode()}), "m")
    store.aliases.set("m@prod", "0.1")
    pinned = tmp_path / "svc.lock"
    pinned.write_text(dumps(lock(store, ["m:0.2"])))
    store.lifecycle.register("search-api", pinned)
    with pytest.raises(ProtectedError, match="m@prod"):
        store.lifecycle.delete("m:0.1")
    with pytest.raises(ProtectedError, match="search-api"):
        store.lifecycle.delete("m:0.2", force=True)  # --force never overrides a lock
    report = store.lifecycle.retain("m", keep_last=1)
    assert [m.spec for m in report.deleted] == ["m:0.0", "m:0.3"]
    assert set(report.kept) == {"m:0.1", "m:0.2"}
    assert store.versions("m") == [Version(0, 4), Version(0, 2), Version(0, 1)]
    assert store.lifecycle.registered()["search-api"][0].version == Version(0, 2)
    store.lifecycle.unregister("search-api")
    store.lifecycle.delete("m:0.1", force=True)
    store.lifecycle.delete("m:0.2")
    assert store.versions("m") == [Version(0, 4)]
    _pulls_and_verifies(backend, {"m:0.4": {"f": b"v4"}})


@pytest.mark.parametrize("backend", ["local", "gcs"], indirect=True)
def test_expiry_is_carried_out_by_gc_unless_protected(backend: Backend, make_tree: Tree) -> None:
    store = backend.store()
    store.push(make_tree({"f": b"keep"}), "m")
    store.push(make_tree({"f": b"short"}), "m", expires_in=timedelta(seconds=1))
    store.push(make_tree({"f": b"aliased"}), "m", expires_in=timedelta(seconds=1))
    store.push(make_tree({"f": b"later"}), "m", expires_in=timedelta(days=30))
    store.aliases.set("m@prod", "0.2")
    assert store.info("m:0.3").expires_at is not None
    time.sleep(1.5)
    _, report = store.lifecycle.gc()
    assert [m.spec for m in report.deleted] == ["m:0.1"]
    assert report.deleted[0].reason == "expired"
    assert "m@prod" in report.kept["m:0.2"]
    assert store.versions("m") == [Version(0, 3), Version(0, 2), Version(0, 0)]


@pytest.mark.parametrize("backend", ["local", "s3", "az"], indirect=True)
def test_yanked_versions_are_skipped_unless_pinned(
    backend: Backend, make_tree: Tree, caplog: pytest.LogCaptureFixture
) -> None:
    store = backend.store()
    for files in ({"f": b"0.0"}, {"f": b"0.1"}, {"f": b"1.0"}):
        store.push(make_tree(files), "m:" + files["f"].decode())
    store.lifecycle.yank("m:1.0", reason="broken tokenizer")
    store.lifecycle.yank("m:0.1")
    assert store.resolve("m") == Version(0, 0)
    assert store.resolve("m:0") == Version(0, 0)
    assert [e.version for e in lock(store, ["m"])] == [Version(0, 0)]
    with pytest.raises(AssetNotFoundError):
        store.resolve("m:1")  # every 1.x is yanked
    with caplog.at_level(logging.WARNING, logger="assetstore"):
        path = backend.store().get("m:1.0")
    assert (path / "f").read_bytes() == b"1.0"
    assert "m:1.0 is yanked: broken tokenizer" in caplog.text
    with pytest.raises(ProtectedError, match="yanked"):
        store.aliases.set("m@prod", "1.0")
    assert store.lifecycle.yanks("m").keys() == {Version(0, 1), Version(1, 0)}
    store.lifecycle.unyank("m:1.0")
    assert store.resolve("m") == Version(1, 0)
    store.aliases.set("m@prod", "1.0")


@pytest.mark.parametrize("backend", ["local", "az"], indirect=True)
def test_catalog_sync_after_losing_the_catalog_restores_yanks_and_deletions(
    backend: Backend, make_tree: Tree, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    store = backend.store(catalog_url=url)
    _three_versions(store, make_tree)
    store.lifecycle.yank("m:0.2", reason="bad")
    store.lifecycle.delete("m:0.0", reason="old")
    before = sorted((m.kind, m.spec, m.reason) for m in store.lifecycle.events("m"))
    assert before == [("delete", "m:0.0", "old"), ("yank", "m:0.2", "bad")]
    dispose_engines()
    (tmp_path / "catalog.db").unlink()
    rebuilt = backend.store(catalog_url=url)
    report = rebuilt.sync_catalog()
    assert report.lifecycle_events_added == 2
    assert sorted((m.kind, m.spec, m.reason) for m in rebuilt.lifecycle.events("m")) == before


PUSHER = """
import sys
from assetstore import AssetStore
store = AssetStore.from_env()
for i in range(int(sys.argv[1])):
    store.push(sys.argv[2 + i % 2], "m")
"""


@pytest.mark.parametrize("backend", ["local", "s3"], indirect=True)
def test_gc_and_deletes_racing_pushes_that_reuse_their_files_lose_nothing(
    backend: Backend, make_tree: Tree, tmp_path: Path
) -> None:
    """Two processes push trees that share files with the version being deleted (so
    their plans reuse its objects) while this one deletes the oldest versions and runs
    gc in a loop: afterwards every committed version pulls and verifies."""
    shared = {f"s{i}": os.urandom(2000) for i in range(20)}
    sources = [str(make_tree({**shared, "own": f"tree {n}".encode()})) for n in range(2)]
    store = backend.store()
    store.push(sources[0], "m")
    pushers = [
        subprocess.Popen(
            [sys.executable, "-c", PUSHER, "8", *sources],
            env={**os.environ, **subprocess_env(backend), "ASSETSTORE_WORKERS": "2"},
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    stop, deleted, errors = threading.Event(), [], []

    def collector() -> None:
        while not stop.is_set():
            try:
                versions = store.remote.versions("m")
                if len(versions) > 1:
                    store.lifecycle.delete(f"m:{versions[0]}")
                    deleted.append(versions[0])
                store.lifecycle.gc()
            except AssetNotFoundError:
                continue  # deleted between the listing and the delete: racing ourselves
            except Exception as exc:  # reported below
                errors.append(exc)
                return

    thread = threading.Thread(target=collector)
    thread.start()
    for pusher in pushers:
        assert pusher.wait(timeout=600) == 0, pusher.stderr.read() if pusher.stderr else ""
    stop.set()
    thread.join(timeout=300)
    assert not errors, errors
    assert deleted, "the collector should have deleted versions while the pushes ran"
    store.lifecycle.gc()
    remaining = store.remote.versions("m")
    assert remaining
    fresh = backend.store()
    for version in remaining:
        root = fresh.get(f"m:{version}")
        assert {p.name for p in root.iterdir()} == {*shared, "own"}
    assert all(r.ok for r in fresh.verify())
    assert _data_objects(backend) == _referenced(store)
