"""Generated workloads (never committed): deterministic pseudo-random bytes, so that no
file compresses or deduplicates, written under the run's scratch folder. Each data set
lives in a folder named after its sizes and is reused when it is already there (by every
backend of a run, and by later runs with ``--keep``)."""

from __future__ import annotations

import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

KIB, MIB, GIB = 1024, 1024**2, 1024**3


@dataclass(frozen=True)
class Sizes:
    """How big each workload is; ``quick`` is the CI smoke version."""

    w1_bytes: int = GIB
    w2_files: int = 10_000
    w2_file_bytes: int = 4 * KIB
    w3_files: int = 1_000
    w3_file_bytes: int = 100 * KIB
    w3_changed: int = 10
    w6_files: tuple[int, ...] = (1_000, 10_000, 100_000)  # files of 1 KiB in one version
    w7_versions: tuple[int, ...] = (10, 100, 1_000)  # versions of one asset
    pack_files: tuple[int, ...] = (16, 64, 256, 1_024)  # trees pushed packed and unpacked

    def w1_warmup_bytes(self) -> int:
        """The file the warm-up round of W1 pushes: a sixteenth of the real one."""
        return max(self.w1_bytes // 16, 64 * KIB)


QUICK = Sizes(
    w1_bytes=8 * MIB,
    w2_files=40,
    w3_files=20,
    w3_changed=2,
    w6_files=(20, 80),
    w7_versions=(2, 5),
    pack_files=(4,),
)


def big_file_in(root: Path, size: int) -> Path:
    """The W1 file of ``size`` bytes under the data folder ``root``."""
    return big_file(root / f"w1-{size}", size)


def tree_in(root: Path, files: int, size: int, *, seed: int) -> Path:
    """The tree of ``files`` files of ``size`` bytes under the data folder ``root``."""
    return nested_tree(root / f"tree-{files}x{size}-s{seed}", files, size, seed=seed)


def warmup_slice(tree: Path) -> Path:
    """The part of a ``nested_tree`` the warm-up round of W2 pushes: its first top-level
    folder, a tenth of the files."""
    return tree / "d0"


def _random_bytes(rng: random.Random, size: int) -> bytes:
    return rng.randbytes(size)


def big_file(folder: Path, size: int) -> Path:
    """One file of ``size`` bytes, ``folder/big.bin`` (written in 64 MiB blocks)."""
    path = folder / "big.bin"
    if path.is_file() and path.stat().st_size == size:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(left, 64 * MIB))
            out.write(chunk)
            left -= len(chunk)
    return path


def nested_tree(folder: Path, files: int, size: int, *, seed: int) -> Path:
    """``files`` files of ``size`` bytes in nested folders: a/b/file (10 by 10 folders,
    at most 100 files per folder)."""
    if folder.is_dir() and sum(1 for _ in folder.rglob("*.bin")) == files:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    rng = random.Random(seed)
    for i in range(files):
        path = folder / f"d{i % 10}" / f"e{(i // 10) % 10}" / f"f{i:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_random_bytes(rng, size))
    return folder


def next_version(v1: Path, v2: Path, changed: int, *, seed: int) -> list[Path]:
    """A copy of tree ``v1`` (hard links) with ``changed`` files rewritten; returns them."""
    shutil.rmtree(v2, ignore_errors=True)
    shutil.copytree(v1, v2, copy_function=os.link)
    files = sorted(v2.rglob("*.bin"))
    rng = random.Random(seed)
    picked = rng.sample(files, changed)
    for path in picked:
        size = path.stat().st_size
        path.unlink()  # break the hard link before writing new bytes
        path.write_bytes(_random_bytes(rng, size))
    return picked


def tree_facts(folder: Path) -> tuple[int, int]:
    """(number of files, total bytes) under ``folder`` — to check a pull is complete."""
    if folder.is_file():
        return 1, folder.stat().st_size
    count = total = 0
    for root, _dirs, names in os.walk(folder):
        for name in names:
            if name.startswith(".") or name.endswith(".SUCCESS"):
                continue
            count += 1
            total += (Path(root) / name).stat().st_size
    return count, total
