"""The workloads (W1 to W5 and the resume check), each building its cases
and returning report rows."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import data
from .bench import Case, row, side_by_side
from .measure import Sample, Step, StepFailed, base_env, run, summary
from .proxy import counting_proxy
from .servers import s3fs_client
from .tools import ALL, ASSET, AssetStoreTool, Backend, Tool

AS = AssetStoreTool()


@dataclass
class Ctx:
    work: Path
    runs: int
    warmup: int
    tools: list[str]
    caps: dict[tuple[str, str], int]  # (workload, tool) -> runs, for slow peers
    baselines: tuple[AssetStoreTool, ...] = ()  # assetstore at earlier commits (--baseline)

    def tools_for(self, backend: Backend) -> list[Tool]:
        known = (*ALL, *self.baselines)
        return [t for t in known if t.name in self.tools and backend.name in t.backends]

    def scratch(self, *parts: str) -> Path:
        path = self.work.joinpath(*parts)
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path


def _clear(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _verify(tool: Tool, dest: Path, src: Path) -> None:
    got, want = data.tree_facts(tool.pulled(dest, src)), data.tree_facts(src)
    if got != want:
        raise StepFailed(f"{tool.name}: pulled {got} (files, bytes), expected {want}")


def push_cases(
    ctx: Ctx, b: Backend, src: Path, workload: str, warm: Path, kept: dict[str, str]
) -> list[Case]:
    """Each tool pushes ``src`` to a fresh slot per round (``warm``, a slice of it, in the
    warm-up rounds), removed afterwards, except the last timed round's: that one is kept
    in ``kept`` (tool -> slot) as the source of the pull comparison."""
    cases = []
    for tool in ctx.tools_for(b):
        home = ctx.scratch("home", b.name, "push", tool.name)
        cap = ctx.caps.get((workload, tool.name))
        last = ctx.warmup + (ctx.runs if cap is None else min(cap, ctx.runs)) - 1

        def before(i: int, tool: Tool = tool, home: Path = home) -> Step:
            return tool.push(b, warm if i < ctx.warmup else src, f"{workload}-p{i}", home)

        def after(i: int, _s: Sample, tool: Tool = tool, last: int = last) -> None:
            if i == last:
                kept[tool.name] = f"{workload}-p{i}"
            else:
                b.remove(tool.prefix(f"{workload}-p{i}"))

        cases.append(Case(tool.name, before, after, cap))
    return cases


def _pull_source(ctx: Ctx, b: Backend, tool: Tool, src: Path, slot: str) -> str | None:
    """Push ``src`` once, untimed, for a tool whose last timed push is missing (it
    failed); returns why that failed too, or None."""
    home = ctx.scratch("home", b.name, "setup", tool.name)
    try:
        run(tool.push(b, src, slot, home), ctx.work / "logs" / "setup.log")
    except StepFailed as exc:
        print(f"  {tool.name} setup failed: {exc}", flush=True)
        return f"setup push failed: {str(exc).splitlines()[-1][:200]}"
    return None


def pull_cases(ctx: Ctx, b: Backend, src: Path, workload: str, kept: dict[str, str]) -> list[Case]:
    """Each tool pulls, cold, the copy of ``src`` it pushed last (``kept``)."""
    cases = []
    for tool in ctx.tools_for(b):
        slot = kept.get(tool.name, f"{workload}-src")
        error = None if tool.name in kept else _pull_source(ctx, b, tool, src, slot)
        dest = ctx.work / "dest" / tool.name

        def before(_i: int, tool: Tool = tool, dest: Path = dest, slot: str = slot) -> Step:
            _clear(dest)
            if tool.name != "cp":
                dest.mkdir(parents=True)
            return tool.pull(b, slot, src, dest)

        def after(_i: int, _s: Sample, tool: Tool = tool, dest: Path = dest) -> None:
            _verify(tool, dest, src)
            _clear(dest)

        case = Case(tool.name, before, after, ctx.caps.get((workload, tool.name)))
        case.error = error
        cases.append(case)
    return cases


def transfer(ctx: Ctx, b: Backend, src: Path, warm: Path, workload: str) -> list[dict[str, Any]]:
    """W1 / W2: push, then cold pull, every tool side by side.

    The push comparison starts with the warm-up round(s), on ``warm`` (a slice of
    ``src``: the same tools, code paths and server, a fraction of the time). The pull
    comparison follows at once on the same server, each tool pulling its own last
    timed push: every tool has just run on this data, so it needs no warm-up of its own.
    """
    logs = ctx.work / "logs"
    kept: dict[str, str] = {}
    pushes = push_cases(ctx, b, src, workload, warm, kept)
    side_by_side(pushes, runs=ctx.runs, warmup=ctx.warmup, logs=logs, server=b.server_pid)
    pulls = pull_cases(ctx, b, src, workload, kept)
    side_by_side(pulls, runs=ctx.runs, warmup=0, logs=logs, server=b.server_pid)
    return [
        {"backend": b.name, "workload": workload, "op": op, **row(c, cases)}
        for op, cases in (("push", pushes), ("pull", pulls))
        for c in cases
    ]


def incremental(ctx: Ctx, b: Backend, v1: Path, v2: Path) -> list[dict[str, Any]]:
    """W3: push v2 where v1 is the latest version (timed) vs. v2 as a new asset."""
    home = ctx.scratch("home", b.name, "w3")
    log = ctx.work / "logs" / "setup.log"

    def second(i: int) -> Step:
        run(AS.push(b, v1, f"w3-i{i}", home), log)
        return AS.push(b, v2, f"w3-i{i}", home)

    def full(i: int) -> Step:
        return AS.push(b, v2, f"w3-f{i}", home)

    def cleanup(prefix: str) -> Callable[[int, Sample], None]:
        return lambda i, _s: b.remove(AS.prefix(f"{prefix}{i}"))

    cases = [
        Case("assetstore", second, cleanup("w3-i")),
        Case("full-push", full, cleanup("w3-f")),
    ]
    logs = ctx.work / "logs"
    side_by_side(cases, runs=ctx.runs, warmup=ctx.warmup, logs=logs, server=b.server_pid)
    return [{"backend": b.name, "workload": "W3", "op": "second push", **row(c, cases)}
            for c in cases]  # fmt: skip


def incremental_bytes(ctx: Ctx, b: Backend, v1: Path, v2: Path, changed: int) -> dict[str, Any]:
    """W3 bytes: what the second push sends, counted by a proxy (one untimed pass)."""
    assert b.s3 is not None
    home = ctx.scratch("home", b.name, "w3bytes")
    log = ctx.work / "logs" / "setup.log"
    for attempt in range(3):  # rclone's CopyObject fails now and then (see the report)
        try:
            return _incremental_bytes(b, home, log, v1, v2, changed, f"w3-bytes{attempt}")
        except StepFailed as exc:
            print(f"  W3 bytes pass failed: {exc}", flush=True)
            error = str(exc).splitlines()[-1][:300]
    return {"changed_bytes": changed, "error": error}


def _incremental_bytes(b: Backend, home: Path, log: Path, v1: Path, v2: Path, changed: int,
                       slot: str) -> dict[str, Any]:  # fmt: skip
    assert b.s3 is not None
    with counting_proxy(b.s3.endpoint) as (endpoint, traffic):
        proxied = Backend(b.name, s3=replace(b.s3, endpoint=endpoint))
        run(AS.push(proxied, v1, slot, home), log)
        traffic.reset()
        run(AS.push(proxied, v2, slot, home), log)
        second = traffic.snapshot()
        traffic.reset()
        run(AS.push(proxied, v2, slot + "-full", home), log)
        full = traffic.snapshot()
    b.remove(AS.prefix(slot))
    b.remove(AS.prefix(slot + "-full"))
    return {"changed_bytes": changed, "second_push": second, "full_push": full}


def subpath_bytes(ctx: Ctx, b: Backend, tree: Path) -> dict[str, Any]:
    """A pull of one file of the (packed) W2 version, counted by a proxy: what it
    receives in all, and the manifest's share of that (every pull reads it)."""
    assert b.s3 is not None
    home = ctx.scratch("home", b.name, "subpath")
    log = ctx.work / "logs" / "subpath.log"
    run(AS.push(b, tree, "subpath", home), log)
    one = min(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file())
    manifest = f"{b.s3.bucket}/{AS.prefix('subpath')}/.manifests/{ASSET}/0.0.json"
    manifest_bytes = int(s3fs_client(b.s3).info(manifest)["size"])
    dest = ctx.scratch("dest", "subpath")
    with counting_proxy(b.s3.endpoint) as (endpoint, traffic):
        proxied = Backend(b.name, s3=replace(b.s3, endpoint=endpoint))
        step = AS.pull(proxied, "subpath", tree, dest)
        sample = run(replace(step, argv=[*step.argv[:-1], f"{ASSET}:0.0[{one}]"]), log)
        got = traffic.snapshot()
    b.remove(AS.prefix("subpath"))
    return {"file": one, "file_bytes": (tree / one).stat().st_size,
            "manifest_bytes": manifest_bytes, "seconds": sample.seconds, **got}  # fmt: skip


def resume(ctx: Ctx, b: Backend, big: Path) -> dict[str, Any]:
    """Kill a W1 pull halfway, pull again: bytes the second pull downloads."""
    assert b.s3 is not None
    size = big.stat().st_size
    home = ctx.scratch("home", b.name, "resume")
    run(AS.push(b, big, "resume", home), ctx.work / "logs" / "setup.log")
    shutil.rmtree(home)
    with counting_proxy(b.s3.endpoint) as (endpoint, traffic):
        proxied = Backend(b.name, s3=replace(b.s3, endpoint=endpoint))
        step = AS.pull(proxied, "resume", big, home)
        proc = subprocess.Popen(step.argv, env={**base_env(), **step.env},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 300
        while traffic.received < size // 2 and proc.poll() is None:
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        first = traffic.received
        leftover = sum(p.stat().st_size for p in home.rglob("*") if p.is_file())
        traffic.reset()
        sample = run(AS.pull(proxied, "resume", big, home), ctx.work / "logs" / "resume.log")
        second = traffic.received
    b.remove(AS.prefix("resume"))
    return {
        "file_bytes": size, "first_pull_received_before_kill": first,
        "left_in_assets_dir_after_kill": leftover, "second_pull_received": second,
        "second_pull_seconds": sample.seconds,
    }  # fmt: skip


def warm_get(
    ctx: Ctx, b: Backend, src: Path, label: str, n_proc: int, tool: AssetStoreTool = AS
) -> dict[str, Any]:
    """W4: a pinned, cached version of ``src``: 300 in-process calls, and ``n_proc``
    fresh processes of each kind (after one more as a warm-up when ``ctx.warmup``)."""
    home = ctx.scratch("home", b.name, f"w4-{label}-{tool.name}")
    log = ctx.work / "logs" / "w4.log"
    slot = f"w4-{label}-{tool.name}"
    run(tool.push(b, src, slot, home), log)
    env = tool.env(b, slot, home)
    spec = f"{ASSET}:0.0"
    loop = run(Step([*tool.pull(b, "", src, home).argv[:2], "getloop", spec, "300"], env), log)
    py = sys.executable
    script = Path(py).with_name("assetstore")
    commands = {
        "fresh_process_get": [py, "-c", f"import assetstore; assetstore.get({spec!r})"],
        "import_assetstore": [py, "-c", "import assetstore"],
        "cli_help": [str(script), "--help"],
        "python_baseline": [py, "-c", "pass"],
    }
    procs = {}
    warm = 1 if ctx.warmup else 0
    for name, argv in commands.items():
        times = [run(Step(argv, env), log).seconds for _ in range(n_proc + warm)][warm:]
        procs[name] = summary(times)
    return {
        "label": label,
        "tool": tool.name,
        "files": data.tree_facts(src)[0],
        "in_process_module_get": summary(loop.output["module_get"]),  # type: ignore[arg-type]
        "in_process_store_get": summary(loop.output["store_get"]),  # type: ignore[arg-type]
        **procs,
    }


def import_profile(env: dict[str, str]) -> list[tuple[str, float]]:
    """``python -X importtime -c 'import assetstore'``: the 12 slowest imports (ms,
    cumulative)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import assetstore"],
        env={**base_env(), **env}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows = []
    for line in proc.stderr.splitlines()[1:]:
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[1].isdigit():
            rows.append((parts[2], int(parts[1]) / 1000))
    top = [r for r in rows if not r[0].startswith(" ") or r[0].count(" ") <= 2]
    return sorted(top, key=lambda r: -r[1])[:12]
