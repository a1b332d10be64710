"""Side-by-side timing: every tool of a comparison runs once per round, in an order
shuffled each round (seeded: a rerun keeps it), so drift on this noisy machine hits all
of them alike and no tool always runs right after the same one. Ratios are taken within
a round, then their median is reported."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

from .measure import Sample, Step, StepFailed, run, summary


def is_assetstore(tool: str) -> bool:
    """assetstore now, or at a baseline commit (``assetstore@REF``): the tools whose
    time ratios to the others are reported."""
    return tool == "assetstore" or tool.startswith("assetstore@")


@dataclass
class Case:
    """One tool in one comparison: ``before(i)`` (untimed) returns the step of run ``i``;
    ``after(i, sample)`` (untimed) verifies and cleans up."""

    tool: str
    before: Callable[[int], Step]
    after: Callable[[int, Sample], None] = lambda _i, _s: None
    runs: int | None = None  # cap for a slow peer (documented in the report)
    samples: dict[int, Sample] = field(default_factory=dict)
    error: str | None = None  # the last failure; a second one drops the tool
    failures: int = 0


def side_by_side(
    cases: list[Case], *, runs: int, warmup: int, logs: Path, server: int | None = None
) -> None:
    """Warm-up rounds (not kept), then ``runs`` timed rounds. A capped case runs in
    the first ``runs`` timed rounds only, without a warm-up of its own. ``server``: the
    pid of the server the steps talk to (its CPU time is counted)."""
    for round_no in range(warmup + runs):
        timed = round_no - warmup
        order = list(cases)
        # A rotation gave every tool the same predecessor in every round: with W2 on
        # rclone, assetstore always ran right after modelkit's 30-50 s of requests.
        random.Random(round_no).shuffle(order)
        for case in order:
            if case.failures >= 2 or (case.runs is not None and not 0 <= timed < case.runs):
                continue
            try:
                step = case.before(round_no)
                os.sync()  # dirty pages of the previous step must not bill this one
                sample = run(step, logs / f"{case.tool}.log", server)
                case.after(round_no, sample)
            except StepFailed as exc:
                print(f"  {case.tool} round {round_no} failed: {exc}", flush=True)
                case.error = str(exc).splitlines()[-1][:300]
                case.failures += 1
                continue
            print(f"  {case.tool} round {round_no}: {_progress(sample)}", flush=True)
            if timed >= 0:
                case.samples[timed] = sample


def _progress(sample: Sample) -> str:
    line = f"{sample.seconds:.2f} s, {sample.max_rss_mib:.0f} MiB"
    if sample.cpu_seconds is not None:
        line += f", CPU {sample.cpu_seconds:.2f} s"
    if sample.server_cpu_seconds is not None:
        line += f" (server {sample.server_cpu_seconds:.2f} s)"
    return line


def row(
    case: Case, cases: list[Case], subject: Callable[[str], bool] = is_assetstore
) -> dict[str, object]:
    """The report row of ``case``: time and RSS summaries, and for a subject tool its
    per-round time ratio to every other tool of the comparison."""
    samples = list(case.samples.values()) or [Sample(float("nan"), float("nan"), None, {})]
    data: dict[str, object] = {
        "error": case.error,
        "failures": case.failures,
        "tool": case.tool,
        "seconds": summary([s.seconds for s in samples]),
        "rss_mib": summary([s.max_rss_mib for s in samples]),
        "runs": len(case.samples),
    }
    for key in ("inner_seconds", "cpu_seconds", "server_cpu_seconds"):
        values = [v for s in samples if (v := getattr(s, key)) is not None]
        if values:
            data[key] = summary(values)
    if subject(case.tool):
        data["ratios"] = {
            other.tool: ratio(case, other) for other in cases if other.tool != case.tool
        }
    return data


def ratio(case: Case, other: Case) -> float | None:
    """Median over rounds both ran of time(case) / time(other); below 1 is faster."""
    shared = sorted(set(case.samples) & set(other.samples))
    if not shared:
        return None
    return median(case.samples[i].seconds / other.samples[i].seconds for i in shared)
