"""SIGKILL ``delete`` and ``gc`` at random moments: afterwards no committed version is
missing an object (each is checked against its manifest, behind assetstore's back),
and a rerun of the same command finishes the job (exactly the objects committed
manifests name are left)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from conftest import run_cli_process

from assetstore import AssetStore, Version

from .conftest import trials
from .support import kill_after, write_report

FILES = 400  # per version: enough objects that a kill lands while they are deleted
SHARED = 200  # of them unchanged from one version to the next (reused by reference)


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "assetstore", *args], env={**os.environ, **env},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _tree(root: Path, generation: int) -> Path:
    """A tree whose first SHARED files never change and whose others change each time."""
    folder = root / f"gen{generation}"
    for i in range(FILES):
        data = f"file {i}".encode() if i < SHARED else f"file {i} gen {generation}".encode()
        (folder / f"d{i % 5}").mkdir(parents=True, exist_ok=True)
        (folder / f"d{i % 5}" / f"f{i}").write_bytes(data * 50)
    return folder


def _intact(store: AssetStore) -> tuple[int, list[str]]:
    """How many committed versions there are, and every object one of them misses (or
    holds with other bytes), read from the bucket folder directly."""
    remote, missing, count = store.remote, [], 0
    for name in remote.names():
        for version in remote.versions(name):
            count += 1
            manifest = remote.manifest(name, version)
            for entry in manifest.files:
                path = Path(remote.file_path(manifest, entry))
                data = path.read_bytes() if path.is_file() else None
                if data is not None and entry.pack is not None:  # its range of the pack
                    data = data[entry.offset : entry.offset + entry.size]
                ok = (
                    data is not None
                    and "sha256:" + hashlib.sha256(data).hexdigest() == entry.sha256
                )
                if not ok:
                    missing.append(f"{manifest.spec}: {entry.path}")
    return count, missing


def _stray(store: AssetStore, bucket: Path) -> set[str]:
    """Objects of version folders that no committed manifest names."""
    remote = store.remote
    named = {
        remote.file_path(m, e)
        for n in remote.names()
        for m in (remote.manifest(n, v) for v in remote.versions(n))
        for e in m.files
    }
    root = bucket / "assets"
    found = {str(p) for p in root.rglob("*") if p.is_file() and not
             p.relative_to(root).as_posix().startswith(".")}  # fmt: skip
    return found - named


def _leftovers(store: AssetStore, bucket: Path) -> int:
    """Objects no committed version needs, and reservations."""
    return len(_stray(store, bucket)) + len(list(bucket.rglob("*.reserved")))


def _window(args: list[str], env: dict[str, str], watched: Path) -> tuple[float, float]:
    """When, after its start, the command first changes the listing of ``watched`` (its
    first write: a tombstone, or a reclaim's decision), and when it ends. Kills are
    drawn in between, so that they land while the command works, not while Python
    starts."""
    before = set(os.listdir(watched))
    proc = _start(args, env)
    started, first = time.monotonic(), None
    while proc.poll() is None:
        if first is None and set(os.listdir(watched)) != before:
            first = time.monotonic() - started
        time.sleep(0.001)
    assert proc.returncode == 0
    end = time.monotonic() - started
    return (end * 0.5 if first is None else first), end


def _dead_push(bucket: Path, name: str, version: Version) -> None:
    """What a push on another host that died two days ago leaves: a reservation and
    part of its data."""
    since = datetime.fromtimestamp(time.time() - 2 * 86400, tz=timezone.utc)
    owner = {"host": "build-7", "boot_id": "elsewhere", "pid": 4242, "token": "t",
             "pushed_by": "ci@build-7", "reserved_at": since.isoformat()}  # fmt: skip
    folder = bucket / "assets" / ".manifests" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{version}.reserved").write_text(json.dumps(owner))
    for i in range(200):
        data = bucket / "assets" / name / str(version) / f"part{i}"
        data.parent.mkdir(parents=True, exist_ok=True)
        data.write_bytes(b"half")


def test_killed_deletes_and_gcs_lose_nothing_and_a_rerun_finishes(
    local_env: dict[str, str], store: AssetStore, tmp_path: Path
) -> None:
    rng = random.Random(20261206)
    count = trials(full=30, ci=4)
    bucket = Path(local_env["ASSETSTORE_STORAGE_BUCKET"])
    env = {**local_env, "ASSETSTORE_WORKERS": "2"}
    generation = 0

    def push_one() -> Version:
        nonlocal generation
        generation += 1
        return store.push(_tree(tmp_path / "src", generation), "m").version

    for _ in range(2):
        push_one()
    report: dict[str, Any] = {}
    for command in ("delete", "gc"):
        push_one()
        oldest = store.remote.versions("m")[0]
        calibration = ["delete", f"m:{oldest}"] if command == "delete" else ["gc"]
        if command == "gc":
            _dead_push(bucket, "m", Version(9, 0))
        first, end = _window(calibration, env, bucket / "assets" / ".manifests" / "m")
        killed = unfinished = 0
        for trial in range(count):
            push_one()
            if command == "delete":
                args = ["delete", f"m:{store.remote.versions('m')[0]}"]
            else:  # a dead push, and a delete that waits for it: work for gc
                _dead_push(bucket, "m", Version(9, trial + 1))
                assert store.lifecycle.delete(f"m:{store.remote.versions('m')[0]}").deferred
                args = ["gc"]
            delay = rng.uniform(first * 0.9, (first + end) / 2)  # its work, not its exit
            left = _leftovers(store, bucket)
            killed += kill_after(_start(args, env), delay)
            versions, missing = _intact(store)
            assert versions >= 2 and not missing, missing[:5]
            after = _leftovers(store, bucket)
            unfinished += 0 < after != left  # the kill came with the work begun, not done
            rerun = run_cli_process(args, env)
            assert rerun.returncode == 0, rerun.stderr
            assert not _stray(store, bucket) and not list(bucket.rglob("*.reserved"))
            assert _intact(store)[1] == []
        assert killed >= count // 3, "the kills should land mid-run in a good share of trials"
        report[command] = {"trials": count, "killed_mid_run": killed, "cut_mid_work":
                           unfinished, "window_s": [round(first, 3), round(end, 3)]}  # fmt: skip
    write_report("lifecycle-kills", report, tmp_path)
