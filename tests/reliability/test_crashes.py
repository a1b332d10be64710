"""SIGKILL pushers and pullers at random points: no half-written version is ever
visible, the cache holds only complete, verified versions, and no crash blocks a
version number for good."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import run_cli_process

from assetstore import AssetStore, Manifest, Version

from .conftest import trials
from .support import kill_after

Tree = Callable[..., Path]


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "assetstore", *args],
        env={**os.environ, **env, "ASSETSTORE_WORKERS": "2"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _timed(args: list[str], env: dict[str, str], before: Callable[[], object]) -> float:
    """How long an uninterrupted run of the command takes on this machine: kill delays
    are drawn within it, so that kills land mid-run on fast and slow machines alike.
    The fastest of three runs, after one that compiles bytecode on a fresh clone: a
    stall of the disk must not stretch the delays past the runs they should cut."""
    times = []
    for _ in range(4):
        before()
        started = time.monotonic()
        assert _start(args, env).wait() == 0
        times.append(time.monotonic() - started)
    return min(times[1:])


def test_killed_pushers_never_leave_a_half_version(
    local_env: dict[str, str], make_tree: Tree, store: AssetStore
) -> None:
    rng = random.Random(20261122)
    count = trials(full=60, ci=12)
    files = {f"d{i % 4}/f{i}": os.urandom(50_000) for i in range(60)}
    source = make_tree(files)
    duration = _timed(["push", str(source), "calibration"], local_env, before=lambda: None)
    killed = committed = rolled_forward = 0
    for trial in range(count):
        target = f"m:1.{trial}"
        delay = rng.uniform(0.4, 1.0) * duration  # past start-up, mostly
        killed += kill_after(_start(["push", str(source), target], local_env), delay)
        fresh = AssetStore.from_env()
        if Version(1, trial) in fresh.remote.versions("m"):
            committed += 1
            path = fresh.get(target)  # verified against the manifest while downloading
            got = {p.relative_to(path).as_posix(): p.read_bytes() for p in path.rglob("f*")}
            assert got == files
            continue
        # Not committed: the version number is not blocked. The crashed pusher ran on
        # this host and its pid is gone, so its reservation is reclaimed at once — or,
        # when it was killed after deciding to commit, its commit is finished.
        retry = run_cli_process(["push", str(source), target], local_env)
        if retry.returncode == 4 and "already exists" in retry.stderr:
            rolled_forward += 1
            path = AssetStore.from_env().get(target)
            got = {p.relative_to(path).as_posix(): p.read_bytes() for p in path.rglob("f*")}
            assert got == files
            continue
        assert retry.returncode == 0, retry.stderr
        assert retry.stdout == f"{target}\n"
    assert killed >= count // 3, "the kills should land mid-push in a good share of trials"
    assert committed + killed >= count
    assert not list(Path(local_env["ASSETSTORE_STORAGE_BUCKET"]).rglob("*.reserved"))
    assert rolled_forward <= killed


def test_killed_pullers_leave_only_complete_verified_versions(
    local_env: dict[str, str], make_tree: Tree, store: AssetStore
) -> None:
    rng = random.Random(7)
    count = trials(full=60, ci=12)
    store.push(make_tree({f"d/f{i}": os.urandom(100_000) for i in range(60)}), "m")

    def uncache() -> None:
        if store.cache.has("m", Version(0, 0)):
            store.cache.remove("m", Version(0, 0))

    duration = _timed(["pull", "m:0.0"], local_env, before=uncache)
    killed = 0
    for _ in range(count):
        uncache()
        delay = rng.uniform(0.4, 1.0) * duration
        killed += kill_after(_start(["pull", "m:0.0"], local_env), delay)
        final = store.cache.version_dir("m", Version(0, 0))
        assert not final.exists() or all(r.ok for r in store.verify())
        assert len(list(AssetStore.from_env().get("m:0.0").rglob("f*"))) == 60
    assert killed >= count // 3
    leftovers = store.plan_prune(keep=1).leftovers
    assert all("staging" in str(p) or "trash" in str(p) for p in leftovers)


def _foreign_reservation(store: AssetStore, name: str, version: Version, age: float) -> None:
    """What a pusher on another host that died mid-push leaves behind."""
    reserved_at = datetime.fromtimestamp(time.time() - age, tz=timezone.utc)
    owner = {"host": "build-7", "boot_id": "elsewhere", "pid": 4242, "token": "t",
             "pushed_by": "ci@build-7", "reserved_at": reserved_at.isoformat()}  # fmt: skip
    store.remote.fs.pipe_file(
        store.remote.reservation_path(name, version), json.dumps(owner).encode()
    )
    store.remote.fs.pipe_file(store.remote.data_path(name, version, "half"), b"partial")


def test_a_foreign_stale_reservation_blocks_until_reclaimed(
    local_env: dict[str, str], make_tree: Tree, store: AssetStore
) -> None:
    source = make_tree({"a": b"1"})
    _foreign_reservation(store, "m", Version(2, 0), age=7200)
    blocked = run_cli_process(["push", str(source), "m:2.0"], local_env)
    assert blocked.returncode == 4
    assert "ci@build-7" in blocked.stderr and "assetstore repair" in blocked.stderr
    listed = run_cli_process(["repair", "--json"], local_env)
    assert listed.returncode == 0, listed.stderr
    [entry] = json.loads(listed.stdout)["reservations"]
    assert (
        entry["spec"] == "m:2.0" and entry["pushed_by"] == "ci@build-7" and not entry["reclaimed"]
    )
    assert 7000 < entry["age_seconds"] < 8000
    repaired = run_cli_process(["repair", "--older-than", "3600"], local_env)
    assert repaired.returncode == 0 and "reclaimed m:2.0" in repaired.stdout
    assert not Path(store.remote.data_path("m", Version(2, 0), "half")).exists()
    assert run_cli_process(["push", str(source), "m:2.0"], local_env).returncode == 0


def test_a_young_foreign_reservation_is_left_alone(
    local_env: dict[str, str], make_tree: Tree, store: AssetStore
) -> None:
    _foreign_reservation(store, "m", Version(3, 0), age=60)
    repaired = run_cli_process(["repair", "--older-than", "3600"], local_env)
    assert repaired.returncode == 0 and "kept m:3.0" in repaired.stdout
    assert Path(store.remote.reservation_path("m", Version(3, 0))).exists()
    pushed = run_cli_process(["push", str(make_tree({"a": b"1"})), "m"], local_env)
    assert pushed.stdout == "m:3.1\n"  # an unpinned push steps over the reserved number


def test_a_push_whose_reservation_was_reclaimed_does_not_commit(store: AssetStore) -> None:
    from assetstore import VersionExistsError
    from assetstore.model.manifest import FileEntry
    from assetstore.repository.commit import publish
    from assetstore.repository.reservations import Publisher

    def reclaimed_meanwhile(watch: object) -> Manifest:
        store.remote.fs.rm_file(store.remote.reservation_path("m", Version(4, 0)))
        _foreign_reservation(store, "m", Version(4, 0), age=0)
        sha = "sha256:" + "0" * 64
        return Manifest("m", Version(4, 0), "dir", (FileEntry("x", 1, sha),), "2026-01-01", "me")

    with pytest.raises(VersionExistsError, match=r"reservation of m:4\.0 was reclaimed"):
        publish(store.remote, "m", Version(4, 0), Publisher("me"), reclaimed_meanwhile)
    assert Version(4, 0) not in store.remote.versions("m")
    # The successor's reservation and files are untouched.
    assert Path(store.remote.reservation_path("m", Version(4, 0))).exists()
    assert Path(store.remote.data_path("m", Version(4, 0), "half")).read_bytes() == b"partial"
