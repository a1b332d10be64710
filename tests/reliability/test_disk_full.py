"""The assets dir runs out of space mid-pull: a clean error (exit 8, ``CacheError``),
nothing partial left (no version folder, no manifest copy, no staging, the space given
back), and the cache stays consistent: what was cached before still verifies, and the
next pull that fits succeeds.

Two ways to run out: a real 2 MiB tmpfs mounted as the assets dir (needs root and
permission to mount; skipped otherwise), and, always, a file-size limit
(``RLIMIT_FSIZE``) on the pulling process, which makes its writes fail the same way.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from assetstore import AssetStore, CacheError, Version

Tree = Callable[..., Path]


def _consistent(store: AssetStore, name: str) -> None:
    """No trace of the failed pull of ``name``: nothing at its place, no manifest copy,
    no staging or trash folder, and every cached version verifies."""
    assert not store.cache.version_dir(name, Version(0, 0)).exists()
    assert not store.cache.manifest_file(name, Version(0, 0)).exists()
    for leftover in ("staging", "trash", "partial"):
        folder = store.cache.state / leftover
        assert not folder.exists() or not any(folder.iterdir()), list(folder.iterdir())
    assert all(result.ok for result in store.verify())


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs, mounted for the test (root only)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, check=False)


def test_a_full_disk_mid_pull_is_a_clean_error_and_leaves_nothing(
    small_disk: Path, local_env: dict[str, str], make_tree: Tree
) -> None:
    from conftest import run_cli_process

    env = {**local_env, "ASSETSTORE_ASSETS_DIR": str(small_disk / "assets")}
    pusher = AssetStore.from_env(local_env)
    pusher.push(make_tree({"a.bin": os.urandom(100_000)}), "small")
    pusher.push(make_tree({f"d/f{i}.bin": os.urandom(500_000) for i in range(6)}), "big")
    pusher.push(make_tree({"m.bin": os.urandom(1_000_000)}), "medium")

    store = AssetStore.from_env(env)
    store.get("small")
    used = shutil.disk_usage(small_disk).used

    # In-process: the library raises CacheError (an OSError), naming the assets dir.
    with pytest.raises(CacheError, match="No space left on device") as info:
        store.get("big")
    assert isinstance(info.value, OSError) and info.value.exit_code == 8
    _consistent(store, "big")
    assert shutil.disk_usage(small_disk).used <= used + 64 * 1024  # the space is given back

    # On the command line: exit 8 and one line, with 4 files written at once.
    done = run_cli_process(["-q", "pull", "big"], {**env, "ASSETSTORE_WORKERS": "4"})
    assert done.returncode == 8, done.stderr
    assert done.stderr.startswith("assetstore: error: ") and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and "No space left" in done.stderr
    _consistent(store, "big")

    # What fits still works: 1 MB in the space the failed 3 MB pulls gave back.
    got = (store.get("medium") / "m.bin").read_bytes()
    assert got == (pusher.get("medium") / "m.bin").read_bytes()
    assert sorted(store.cache.names()) == ["medium", "small"]
    assert all(result.ok for result in store.verify())


def _limit_file_size(limit: int) -> Callable[[], None]:
    def apply() -> None:
        # Ignored, SIGXFSZ no longer kills the process: the write fails with EFBIG.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.parametrize(
    ("workers", "huge"),
    [("1", 3 * 2**20), ("4", 3 * 2**20), ("4", 6 * 2**20), ("4", 17 * 2**20)],
    ids=["1-worker", "4-workers", "kernel-copy", "resumable"],
)
def test_a_write_limit_mid_pull_is_a_clean_error_and_leaves_nothing(
    local_env: dict[str, str], make_tree: Tree, workers: str, huge: int
) -> None:
    """The fallback that always runs: no file of the pulling process may grow past
    1 MiB, so the large file fails part-way: 3 MiB goes in one 4 MiB chunk written in
    pieces, 6 MiB through the kernel's copy_file_range (files over 4 MiB from a local
    folder), 17 MiB into a resumable partial file, which must not stay behind: the disk
    would stay full."""
    pusher = AssetStore.from_env(local_env)
    pusher.push(make_tree({"a.bin": os.urandom(50_000)}), "small")
    files = {f"d/f{i}.bin": os.urandom(200_000) for i in range(8)}
    pusher.push(make_tree({**files, "d/huge.bin": os.urandom(huge)}), "big")
    store = AssetStore.from_env(local_env)
    store.get("small")

    env = {**os.environ, **local_env, "ASSETSTORE_WORKERS": workers}
    done = subprocess.run(
        [sys.executable, "-m", "assetstore", "-q", "pull", "big"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_file_size(2**20),
        check=False,
    )
    assert done.returncode == 8, done.stderr
    assert done.stderr.startswith("assetstore: error: ") and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and "too large" in done.stderr
    assert "huge.bin" in done.stderr
    _consistent(store, "big")

    # Without the limit, the same pull completes and verifies.
    assert len(list(store.get("big").rglob("*.bin"))) == 9
    assert all(result.ok for result in store.verify())
