"""py-spy profiles of assetstore's transfers: sampled stacks (``--format raw``), folded
into the functions that hold the CPU (self time) and assetstore's own frames (total)."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

from . import peers
from .measure import Step, base_env


def record(step: Step, out: Path, *, rate: int = 250) -> Path:
    """Run ``step`` under ``py-spy record``; return the folded stacks file."""
    folded = out.with_suffix(".txt")
    argv = [peers.binary("tools", "py-spy"), "record", "--format", "raw", "--rate", str(rate),
            "--nonblocking", "--output", str(folded), "--", *step.argv]  # fmt: skip
    subprocess.run(argv, env={**base_env(), **step.env}, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return folded


def _frames(stack: str) -> list[str]:
    return [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]


def _ours(frame: str) -> bool:
    """A frame of assetstore's own code (py-spy shortens paths to ``assetstore/x.py``)."""
    where = frame.partition(" (")[2]
    return where.startswith("assetstore/") or "/assetstore/" in where


def _short(frame: str) -> str:
    """``fn (path/to/module.py:12)`` -> ``module.fn``."""
    name, _, where = frame.partition(" (")
    module = where.split(":")[0].rsplit("/", 1)[-1].removesuffix(".py")
    package = "assetstore." if _ours(frame) else ""
    return f"{package}{module}.{name}"


def summarize(folded: Path, *, top: int = 10) -> dict[str, Any]:
    """Self samples per function, total samples per assetstore function, and the share
    of samples in the fsspec event-loop thread vs. worker threads."""
    self_time: Counter[str] = Counter()
    total_ours: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    samples = 0
    for line in folded.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        samples += count
        frames = _frames(stack)
        if not frames:
            continue
        self_time[_short(frames[-1])] += count
        threads[_thread(stack)] += count
        for name in {_short(f) for f in frames if _ours(f)}:
            total_ours[name] += count

    def share(count: int) -> float:
        return round(100 * count / samples, 1) if samples else 0.0

    return {
        "samples": samples,
        "self": [(name, share(c)) for name, c in self_time.most_common(top)],
        "assetstore_total": [(name, share(c)) for name, c in total_ours.most_common(top)],
        "threads": {name: share(c) for name, c in threads.most_common(6)},
    }


def _thread(stack: str) -> str:
    if "fsspecIO" in stack or "run_forever" in stack or "_run_once" in stack:
        return "fsspec event loop"
    if "WriteBehind._drain" in stack:
        return "writer thread"
    if "assetstore_" in stack.split(";")[0] or "_worker" in stack:
        return "worker threads"
    return "main thread"
