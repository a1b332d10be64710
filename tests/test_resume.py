"""Byte-range resume: a big download killed or cut short continues where it stopped."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from assetstore import AssetStore, Version
from assetstore.transfer.pull import RESUMABLE_SIZE

Tree = Callable[..., Path]
SIZE = RESUMABLE_SIZE + 5 * 1024 * 1024 + 123


@pytest.fixture
def big(store: AssetStore, tmp_path: Path) -> bytes:
    data = os.urandom(SIZE)
    (tmp_path / "weights.bin").write_bytes(data)
    store.push(tmp_path / "weights.bin", "m")
    return data


def partial_of(store: AssetStore, data: bytes) -> Path:
    folder = store.cache.state / "partial"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / hashlib.sha256(data).hexdigest()


def test_a_pull_resumes_from_the_bytes_a_killed_pull_left(
    store: AssetStore, big: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    half = len(big) // 2
    partial_of(store, big).write_bytes(big[:half])
    with caplog.at_level(logging.INFO, logger="assetstore"):
        path = store.get("m:0.0")
    assert path.read_bytes() == big
    assert f"at byte {half}" in caplog.text
    assert not partial_of(store, big).exists()  # moved into the version, not copied


def test_corrupt_kept_bytes_are_fetched_again_from_scratch(store: AssetStore, big: bytes) -> None:
    bad = bytearray(big[: len(big) // 3])
    bad[100] ^= 0xFF
    partial_of(store, big).write_bytes(bytes(bad))
    assert store.get("m:0.0").read_bytes() == big


def test_kept_bytes_longer_than_the_file_are_discarded(store: AssetStore, big: bytes) -> None:
    partial_of(store, big).write_bytes(big + b"trailing garbage")
    assert store.get("m:0.0").read_bytes() == big
    assert all(r.ok for r in store.verify())


def test_a_pull_killed_mid_file_resumes_in_the_next_process(
    local_env: dict[str, str], store: AssetStore, big: bytes
) -> None:
    import signal
    import subprocess
    import sys
    import time

    partial = partial_of(store, big)
    env = {**os.environ, **local_env}
    for _ in range(10):  # the kill has to land while the file is half there
        proc = subprocess.Popen([sys.executable, "-m", "assetstore", "pull", "m:0.0"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        while proc.poll() is None and not (partial.exists() and partial.stat().st_size > 0):
            time.sleep(0.0005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if partial.exists() and 0 < partial.stat().st_size < len(big):
            break
        if store.cache.has("m", Version(0, 0)):
            store.cache.remove("m", Version(0, 0))
    else:
        pytest.skip("the pull always finished before it could be killed mid-file")
    kept = partial.stat().st_size
    resumed = subprocess.run([sys.executable, "-m", "assetstore", "--debug", "pull", "m:0.0"],
                             env=env, capture_output=True, text=True, check=False)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert f"at byte {kept}" in resumed.stderr
    assert Path(resumed.stdout.strip()).read_bytes() == big
