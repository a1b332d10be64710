"""Machine facts and the version of every tool, for the report's header."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from statistics import median
from typing import Any

from . import peers

REPO = Path(__file__).resolve().parents[1]


def _out(argv: list[str]) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=REPO)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    if proc.returncode != 0:
        return "?"
    lines = (proc.stdout or proc.stderr).strip().splitlines()
    return lines[0] if lines else ""


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _memory_gib() -> float:
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return round(pages / 1024**3, 1)


def tool_versions() -> dict[str, str]:
    rev = _out(["git", "rev-parse", "--short", "HEAD"])
    dirty = _out(["git", "status", "--porcelain", "assetstore"]) not in ("", "?")
    changes = ", uncommitted changes" if dirty else ""
    versions = {
        "assetstore": f"{_version('assetstore')} (git {rev}{changes})",
        "python": sys.version.split()[0],
        "fsspec": _version("fsspec"), "s3fs": _version("s3fs"),
        "aiobotocore": _version("aiobotocore"), "botocore": _version("botocore"),
        "moto": _version("moto"),
    }  # fmt: skip
    if peers.installed("tools"):
        versions["rclone"] = _out([peers.binary("tools", "rclone"), "version"])
        versions["s5cmd"] = _out([peers.binary("tools", "s5cmd"), "version"])
        versions["aws"] = _out([peers.binary("tools", "aws"), "--version"])
    if peers.installed("modelkit"):
        script = "import importlib.metadata as m; print(m.version('modelkit'), m.version('boto3'))"
        mk = _out([peers.binary("modelkit", "python"), "-c", script]).split()
        versions["modelkit"] = f"{mk[0]} (boto3 {mk[1]})" if len(mk) == 2 else "?"
    versions["cp"] = _out(["cp", "--version"])
    return versions


def collect(*, sizes: Any, moto_sizes: Any, caps: dict[tuple[str, str], int],
            **given: Any) -> dict[str, Any]:  # fmt: skip
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cpu": _cpu(),
            "cores": os.cpu_count(),
            "memory_gib": _memory_gib(),
            "kernel": platform.release(),
            "os": _out(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        },
        "versions": tool_versions(),
        "floors": {
            "sha256_s_per_gib": sha256_seconds_per_gib(),
            "s3_import_s": s3_import_seconds(),
        },
        "sizes": dataclasses.asdict(sizes),
        "moto_sizes": dataclasses.asdict(moto_sizes),
        "caps": {f"{w} {t}": n for (w, t), n in caps.items()},
        **given,
    }


def sha256_seconds_per_gib() -> float:
    """sha256 of 1 GiB held in memory, on one core (median of 3): what verifying a
    file costs before any I/O."""
    block = os.urandom(64 * 2**20)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        hasher = hashlib.sha256()
        for _ in range(16):
            hasher.update(block)
        times.append(time.perf_counter() - start)
    return median(times)


def s3_import_seconds() -> float | None:
    """A fresh ``python -c 'import s3fs'`` (median of 5 after a warm-up): what a push
    to S3 loads before its first request (s3fs, aiobotocore, aiohttp, botocore)."""
    times = []
    for i in range(6):
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", "import s3fs"], capture_output=True)
        if proc.returncode != 0:
            return None
        if i:
            times.append(time.perf_counter() - start)
    return median(times)
