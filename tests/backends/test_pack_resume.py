"""A pull of a version with packs of 16 MiB or more resumes: what a failed or killed
pull wrote and verified is kept (checked again by sha256), and only the ranges of the
other files are read. The folder it resumes from is never trusted: links, hard links
from elsewhere, special files, files that do not match and files of no manifest in it
are not installed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from assetstore import AssetStore, AssetStoreError, CacheError, Version
from assetstore.cache import resume

from .conftest import Backend, subprocess_env
from .test_packs import data_reads, small_files, tree_of

Tree = Callable[..., Path]
pytestmark = pytest.mark.integration
FILES, SIZE = 1100, 16 * 1024  # 17.6 MB of small files: past RESUMABLE_SIZE (16 MiB)
PACK_MAX = 4 * 2**20  # five packs


def _pushed(backend: Backend, make_tree: Tree) -> tuple[dict[str, bytes], list[str]]:
    files = small_files(FILES, SIZE)
    manifest = backend.store(pack_max=PACK_MAX).push(make_tree(files), "m")
    packs = sorted({p.partition("/")[2] for p in manifest.packs})
    assert len(packs) == 5
    return files, packs


def _resume_folders(store: AssetStore) -> list[Path]:
    partial = store.cache.state / "partial"
    return sorted(p for p in partial.glob("version-*") if p.is_dir()) if partial.is_dir() else []


def _kept(store: AssetStore) -> dict[str, bytes]:
    """The files a failed pull left to resume from."""
    [folder] = _resume_folders(store)
    return tree_of(folder / "version")


def test_a_failed_pull_resumes_with_the_files_it_had(backend: Backend, make_tree: Tree) -> None:
    files, packs = _pushed(backend, make_tree)
    last = backend.key(f"m/0.0/{packs[-1]}")
    saved = bytes(backend.raw.cat_file(last))
    backend.raw.rm_file(last)
    store = backend.store(workers=1)  # one range at a time: the packs in order
    with pytest.raises(AssetStoreError):
        store.get("m:0.0")
    kept = _kept(store)
    assert kept and all(files[path] == data for path, data in kept.items())
    assert not store.cache.version_dir("m", Version(0, 0)).exists()

    backend.raw.pipe_file(last, saved)
    for name in packs[:-1]:  # read again, these would fail the pull
        key = backend.key(f"m/0.0/{name}")
        backend.raw.pipe_file(key, b"\0" * len(backend.raw.cat_file(key)))
    reads = data_reads(store)
    assert tree_of(store.get("m:0.0")) == files
    assert {path.rsplit("/", 1)[-1] for path, *_ in reads} == {packs[-1]}
    assert sum(got for *_, got in reads) <= len(saved)
    assert _resume_folders(store) == []


@pytest.mark.parametrize("backend", ["local"], indirect=True)  # the assets dir's own
def test_a_poisoned_resume_folder_is_never_trusted(
    backend: Backend, make_tree: Tree, tmp_path: Path
) -> None:
    files, packs = _pushed(backend, make_tree)
    last = backend.key(f"m/0.0/{packs[-1]}")
    saved = bytes(backend.raw.cat_file(last))
    backend.raw.rm_file(last)
    store = backend.store(workers=1)
    with pytest.raises(AssetStoreError):
        store.get("m:0.0")
    backend.raw.pipe_file(last, saved)
    [folder] = _resume_folders(store)
    left = folder / "version"
    linked, wrong, shared, *_ = sorted(_kept(store))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "same.txt").write_bytes(files[linked])
    (left / linked).unlink()
    (left / linked).symlink_to(outside / "same.txt")  # right bytes, through a link
    (left / wrong).write_bytes(os.urandom(SIZE))  # the right size, the wrong bytes
    os.link(left / shared, outside / "shared.txt")  # right bytes, but changeable from outside
    (left / "junk.txt").write_bytes(b"in no manifest")
    os.mkfifo(left / "d0" / "fifo")
    (left / "d9").symlink_to(outside, target_is_directory=True)  # a folder leading out

    pulled = store.get("m:0.0")
    assert tree_of(pulled) == files
    assert not (pulled / linked).is_symlink() and not (pulled / "d9").exists()
    assert (pulled / shared).stat().st_ino != (outside / "shared.txt").stat().st_ino
    assert sorted(p.name for p in outside.iterdir()) == ["same.txt", "shared.txt"]
    assert [r.ok for r in store.verify(["m:0.0"])] == [True]
    assert _resume_folders(store) == []


@pytest.mark.parametrize("backend", ["local"], indirect=True)  # a kill is one whatever the bucket
def test_a_killed_pull_resumes(backend: Backend, make_tree: Tree, tmp_path: Path) -> None:
    """SIGKILL once the pull has files to resume from; the next pull completes it, and
    a prune removes a resume folder no pull holds."""
    files, _ = _pushed(backend, make_tree)
    env = {**os.environ, **subprocess_env(backend), "ASSETSTORE_WORKERS": "1"}
    for attempt in range(5):
        assets = tmp_path / f"assets{attempt}"
        env["ASSETSTORE_ASSETS_DIR"] = str(assets)
        pull = subprocess.Popen([sys.executable, "-m", "assetstore", "pull", "m:0.0"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        partial = assets / ".assetstore" / "partial"
        while pull.poll() is None and not any(partial.glob("version-*/version/d*/*.txt")):
            time.sleep(0.002)
        if pull.poll() is None:
            os.kill(pull.pid, signal.SIGKILL)
            pull.wait()
            break
    else:
        pytest.fail("five pulls finished before a kill could land")
    store = AssetStore.from_env(env)
    assert _kept(store)
    assert tree_of(store.get("m:0.0")) == files
    assert _resume_folders(store) == []

    env["ASSETSTORE_ASSETS_DIR"] = str(tmp_path / "abandoned")
    (tmp_path / "abandoned" / ".assetstore" / "partial" / "version-0a1b").mkdir(parents=True)
    pruned = subprocess.run([sys.executable, "-m", "assetstore", "prune"], env=env,
                            capture_output=True, text=True)  # fmt: skip
    assert pruned.returncode == 0, pruned.stderr
    assert _resume_folders(AssetStore.from_env(env)) == []


@pytest.mark.parametrize("backend", ["local"], indirect=True)
def test_a_folder_emptied_under_the_pull_is_never_installed(
    backend: Backend, make_tree: Tree, tmp_path: Path
) -> None:
    """Where locks do not hold, another pull may take files from the folder: the check
    before the install refuses a version that lost one."""
    files = small_files(5)
    manifest = backend.store().push(make_tree(files), "m")
    root = tmp_path / "root"
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    resume.check_complete(root, manifest)
    gone = sorted(files)[2]
    (root / gone).unlink()
    with pytest.raises(CacheError, match=f"lost {gone}"):
        resume.check_complete(root, manifest)
