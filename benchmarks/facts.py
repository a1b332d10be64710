"""Machine facts and the version of every tool, for the report's header."""

from __future__ import annotations

import dataclasses
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
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
        "sizes": dataclasses.asdict(sizes),
        "moto_sizes": dataclasses.asdict(moto_sizes),
        "caps": {f"{w} {t}": n for (w, t), n in caps.items()},
        **given,
    }
