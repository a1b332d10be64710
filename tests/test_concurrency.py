"""Races and crashes between real processes on the `local` provider."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import run_cli_process

from assetstore import AssetStore, Version
from assetstore.cache.cache import Cache

Tree = Callable[..., Path]


def test_same_explicit_version_pushed_at_once_has_exactly_one_winner(
    local_env: dict[str, str], make_tree: Tree, store: AssetStore
) -> None:
    sources = [
        make_tree({f"f{i}": f"pusher {n}".encode() * 5000 for i in range(20)}) for n in range(4)
    ]
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(lambda s: run_cli_process(["push", str(s), "m:1.0"], local_env), sources)
        )
    codes = sorted(r.returncode for r in results)
    assert codes == [0, 4, 4, 4], [r.stderr for r in results]
    winner = next(n for n, r in enumerate(results) if r.returncode == 0)
    assert results[winner].stdout == "m:1.0\n"
    for r in results:
        if r.returncode:
            assert "m:1.0" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    path = store.get("m:1.0")
    contents = {p.read_bytes() for p in path.iterdir()}
    assert contents == {f"pusher {winner}".encode() * 5000}


def test_unpinned_pushes_at_once_get_distinct_versions(
    local_env: dict[str, str], make_tree: Tree, store: AssetStore
) -> None:
    sources = [make_tree({"who": str(n).encode()}) for n in range(4)]
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(lambda s: run_cli_process(["push", str(s), "m"], local_env), sources)
        )
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    specs = sorted(r.stdout.strip() for r in results)
    assert specs == ["m:0.0", "m:0.1", "m:0.2", "m:0.3"]
    owners = {(store.get(spec) / "who").read_bytes() for spec in specs}
    assert owners == {b"0", b"1", b"2", b"3"}


def test_many_processes_pulling_one_asset_download_it_once(
    local_env: dict[str, str], make_tree: Tree, store: AssetStore
) -> None:
    store.push(make_tree({f"f{i}": os.urandom(200_000) for i in range(30)}), "m")
    with ThreadPoolExecutor(6) as pool:
        results = list(
            pool.map(lambda _: run_cli_process(["--debug", "pull", "m:0.0"], local_env), range(6))
        )
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    assert len({r.stdout for r in results}) == 1
    downloads = sum(r.stderr.count("downloading m:0.0") for r in results)
    assert downloads == 1
    assert all(r.ok for r in store.verify())


def test_without_locks_concurrent_pulls_are_still_correct(
    local_env: dict[str, str], make_tree: Tree, store: AssetStore
) -> None:
    store.push(make_tree({f"f{i}": os.urandom(100_000) for i in range(30)}), "m")
    env = {**local_env, "ASSETSTORE_USE_LOCKS": "false"}
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: run_cli_process(["pull", "m:0.0"], env), range(6)))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    assert all(r.ok for r in store.verify())
    assert not (store.cache.state / "locks").exists()


def _wait_for_staging(cache: Path, deadline: float) -> bool:
    staging = cache / ".assetstore" / "staging"
    while time.monotonic() < deadline:
        if staging.is_dir() and any(p.is_file() for p in staging.rglob("*")):
            return True
        time.sleep(0.002)
    return False


@pytest.mark.parametrize("trial", range(6))
def test_a_pull_killed_mid_download_leaves_no_partial_version(
    local_env: dict[str, str], make_tree: Tree, store: AssetStore, trial: int
) -> None:
    store.push(make_tree({f"d/f{i}": os.urandom(300_000) for i in range(40)}), "m")
    env = {**os.environ, **local_env, "ASSETSTORE_WORKERS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "assetstore", "pull", "m:0.0"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    started = _wait_for_staging(Path(local_env["ASSETSTORE_ASSETS_DIR"]), time.monotonic() + 30)
    time.sleep(trial * 0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert started
    final = store.cache.version_dir("m", Version(0, 0))
    if final.exists():  # the kill came after the rename: then it must be complete
        assert all(r.ok for r in store.verify())
    fresh = AssetStore.from_env()
    assert len(list(fresh.get("m:0.0").rglob("f*"))) == 40
    assert all(r.ok for r in fresh.verify())


def test_a_waiter_keeps_waiting_while_the_holder_makes_progress(tmp_path: Path) -> None:
    cache = Cache(tmp_path, stall_seconds=0.5)
    release = threading.Event()

    def holder() -> None:
        with cache.locked("m", Version(0, 0)) as heartbeat:
            heartbeat.every = 0.05
            for _ in range(30):  # 1.5 s of progress, three times the stall window
                heartbeat.beat()
                time.sleep(0.05)
            release.set()

    thread = threading.Thread(target=holder)
    thread.start()
    time.sleep(0.1)
    with cache.locked("m", Version(0, 0)):
        assert release.is_set()
    thread.join()


def test_a_waiter_gives_up_on_a_stalled_holder(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = Cache(tmp_path, stall_seconds=0.5)
    done = threading.Event()
    held = threading.Event()

    def holder() -> None:
        with cache.locked("m", Version(0, 0)):
            held.set()
            done.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(5)
    started = time.monotonic()
    with cache.locked("m", Version(0, 0)):
        waited = time.monotonic() - started
    done.set()
    thread.join()
    assert 0.5 <= waited < 5
    assert "made no progress" in caplog.text


def test_prune_skips_a_version_being_pulled(store: AssetStore, make_tree: Tree) -> None:
    store.push(make_tree({"a": b"1"}), "m")
    store.push(make_tree({"a": b"2"}), "m")
    store.get("m:0.0")
    store.get("m:0.1")
    plan = store.plan_prune(keep=0)
    assert [f"{i.name}:{i.version}" for i in plan.remove] == ["m:0.0", "m:0.1"]
    with store.cache.locked("m", Version(0, 0)):
        done = store.prune(plan)
    assert [f"{i.name}:{i.version}" for i in done.remove] == ["m:0.1"]
    assert store.cache.versions("m") == [Version(0, 0)]
