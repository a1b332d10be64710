"""Run one benchmark step as a child process: wall time, peak RSS (from wait4's
rusage, i.e. the kernel's own high-water mark), CPU time (the step's, and the server's
it talked to) and the JSON line the step printed."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

# GNU time (apt-get install time) forks the step from a small C process: wait4() on our
# own child would count the pre-exec copy of this (large) Python process in the
# high-water mark. Without it, drivers/peak_rss.py forks from a bare `python -S`, whose
# own ~8 MiB then sets the floor of every figure (fine for a smoke run).
GNU_TIME = shutil.which("time", path="/usr/bin:/bin")
PEAK_RSS = Path(__file__).resolve().parent / "drivers" / "peak_rss.py"
RSS_PROBE = "GNU time" if GNU_TIME else "fork + wait4 from `python -S` (floor ~8 MiB)"
# A step that runs longer is killed and counts as failed, so that a hang in the engine
# cannot stall the run (the slowest step of the full run takes ~1.5 min; run.py lowers
# this for --quick).
STEP_TIMEOUT = 20 * 60.0


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
    cpu_seconds: float | None = None  # the step's user + system CPU time
    server_cpu_seconds: float | None = None  # the server's, while the step ran


class StepFailed(RuntimeError):
    pass


def base_env() -> dict[str, str]:
    """The environment every step starts from: no proxies, no user AWS config."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    for key in list(env):
        if key.startswith(("ASSETSTORE_", "AWS_", "MODELKIT_", "S3_")):
            del env[key]
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a stale .pyc is recompiled once, not per run
    env.update(
        AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        AWS_EC2_METADATA_DISABLED="true", NO_PROXY="127.0.0.1,localhost",
    )  # fmt: skip
    return env


def _rss_argv(rss_file: Path, argv: list[str]) -> list[str]:
    """``argv`` wrapped so that its peak RSS (KiB) and user and system CPU seconds land
    in the last line of ``rss_file``."""
    if GNU_TIME:
        return [GNU_TIME, "-f", "%M %U %S", "-o", str(rss_file), *argv]
    return [sys.executable, "-S", str(PEAK_RSS), str(rss_file), *argv]


def cpu_time(pid: int | None) -> float | None:
    """User + system CPU seconds process ``pid`` has used so far (Linux), or None."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(step: Step, log: Path, server: int | None = None) -> Sample:
    """Run ``step`` once; raise StepFailed (with the log's tail) if it fails. ``server``:
    the pid of the server the step talks to, whose CPU time the sample counts."""
    env = {**base_env(), **step.env}
    rss_file = log.with_suffix(".rss")
    argv = _rss_argv(rss_file, step.argv)
    server_before = cpu_time(server)
    with log.open("w+b") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv, env=env, cwd=step.cwd, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        hung = _wait(proc, STEP_TIMEOUT)
        seconds = time.perf_counter() - start
        server_after = cpu_time(server)
        out.seek(0)
        text = out.read().decode(errors="replace")
    if hung:
        tail = "\n".join(text.splitlines()[-15:])
        raise StepFailed(f"{' '.join(step.argv[:4])}... hung: killed after {seconds:.0f} s\n{tail}")
    if proc.returncode != 0:
        tail = "\n".join(text.splitlines()[-15:])
        raise StepFailed(f"{' '.join(step.argv[:4])}... exited {proc.returncode}:\n{tail}")
    output = _last_json(text)
    inner = output.get("seconds")
    rss_kib, user, system = rss_file.read_text().splitlines()[-1].split()
    server_cpu = None
    if server_before is not None and server_after is not None:
        server_cpu = server_after - server_before
    return Sample(
        seconds, int(rss_kib) / 1024, inner if isinstance(inner, float) else None, output,
        cpu_seconds=float(user) + float(system), server_cpu_seconds=server_cpu,
    )  # fmt: skip


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait for ``proc``; True if it had to be killed (with its process group: the step
    runs under GNU time) after ``timeout`` seconds. Interrupted, it kills them too."""
    try:
        proc.wait(timeout=timeout)
    except BaseException as exc:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if not isinstance(exc, subprocess.TimeoutExpired):
            raise
        return True
    return False


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
