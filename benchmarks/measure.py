"""Run one benchmark step as a child process: wall time, peak RSS (from wait4's
rusage, i.e. the kernel's own high-water mark) and the JSON line the step printed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

TIME = shutil.which("time", path="/usr/bin:/bin") or "/usr/bin/time"  # apt-get install time


@dataclass(frozen=True)
class Step:
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None


@dataclass(frozen=True)
class Sample:
    seconds: float
    max_rss_mib: float
    inner_seconds: float | None  # the time the step measured itself (no start-up)
    output: dict[str, object]


class StepFailed(RuntimeError):
    pass


def base_env() -> dict[str, str]:
    """The environment every step starts from: no proxies, no user AWS config."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    for key in list(env):
        if key.startswith(("ASSETSTORE_", "AWS_", "MODELKIT_", "S3_")):
            del env[key]
    env.update(
        AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        AWS_EC2_METADATA_DISABLED="true", PYTHONDONTWRITEBYTECODE="1",
        NO_PROXY="127.0.0.1,localhost",
    )  # fmt: skip
    return env


def run(step: Step, log: Path) -> Sample:
    """Run ``step`` once; raise StepFailed (with the log's tail) if it fails."""
    env = {**base_env(), **step.env}
    rss_file = log.with_suffix(".rss")
    # GNU time forks the step from a small C process: wait4() on our own child would
    # count the pre-exec copy of this (large) Python process in the high-water mark.
    argv = [TIME, "-f", "%M", "-o", str(rss_file), *step.argv]
    with log.open("w+b") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv, env=env, cwd=step.cwd, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        proc.wait()
        seconds = time.perf_counter() - start
        out.seek(0)
        text = out.read().decode(errors="replace")
    if proc.returncode != 0:
        tail = "\n".join(text.splitlines()[-15:])
        raise StepFailed(f"{' '.join(step.argv[:4])}... exited {proc.returncode}:\n{tail}")
    output = _last_json(text)
    inner = output.get("seconds")
    rss_kib = int(rss_file.read_text().split()[-1])
    return Sample(seconds, rss_kib / 1024, inner if isinstance(inner, float) else None, output)


def _last_json(text: str) -> dict[str, object]:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if isinstance(data, dict):
                return data
    return {}


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"median": median(ordered), "min": ordered[0], "max": ordered[-1], "n": len(ordered)}
