"""How cost grows with the work, on the local provider: W6 (one directory version of
1,000 / 10,000 / 100,000 files of 1 KiB: push, pull, info, verify, catalog sync) and W7
(an asset of 10 / 100 / 1,000 versions: versions, an unpinned get, alias list, catalog
sync). Every step is the real CLI in a fresh process; a figure is the median of the
rounds, with the peak RSS of the slowest round."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from . import data
from .measure import Sample, Step, run, summary
from .tools import ASSET, Backend
from .workloads import AS, Ctx

W6_FILE_BYTES = 1024
CLI = [sys.executable, "-m", "assetstore"]
# W7's versions are made by one process (a push a few ms each), not a CLI per version.
MAKE_VERSIONS = """
import sys
from pathlib import Path
from assetstore import AssetStore
store = AssetStore.from_env()
source, first, last = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
for number in range(first, last):
    source.write_text(f"version {number}")
    store.push(source, "bench", force_new=True)
"""


def _timed(step: Step, rounds: int, log: Path, before: Any = None) -> dict[str, Any]:
    samples: list[Sample] = []
    for i in range(rounds):
        if before is not None:
            before(i)
        samples.append(run(step, log))
    return _summary(samples)


def many_files(ctx: Ctx, b: Backend, counts: tuple[int, ...]) -> list[dict[str, Any]]:
    """W6: each size pushed, pulled, described, verified and indexed again."""
    rows = []
    log = ctx.work / "logs" / "w6.log"
    for files in counts:
        tree = data.tree_in(ctx.work / "data", files, W6_FILE_BYTES, seed=6)
        rounds = ctx.runs if files < max(counts) else min(ctx.runs, 3)
        home = ctx.scratch("home", "w6", str(files))
        slot = f"w6-{files}"
        pushes = []
        for i in range(1 + rounds):  # a new asset each time; the first makes the catalog
            b.remove(AS.prefix(slot))
            pushed = run(AS.push(b, tree, slot, home), log)
            pushes += [pushed] if i else []
        ops = {"push": _summary(pushes)}
        dest = ctx.work / "dest" / "w6"

        def fresh(_i: int, dest: Path = dest) -> None:
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir(parents=True)

        ops["pull"] = _timed(AS.pull(b, slot, tree, dest), rounds, log, fresh)
        env = AS.env(b, slot, home)
        spec = f"{ASSET}:0.0"
        ops["info"] = _timed(Step([*CLI, "info", spec], env), rounds, log)
        pulled_env = AS.env(b, slot, dest)
        ops["verify"] = _timed(Step([*CLI, "verify", spec], pulled_env), rounds, log)
        ops["catalog sync"] = _timed(Step([*CLI, "catalog", "sync"], env), rounds, log)
        for op, figures in ops.items():
            rows.append({"workload": "W6", "backend": b.name, "op": op, "files": files,
                         **figures})  # fmt: skip
        b.remove(AS.prefix(slot))
        shutil.rmtree(dest, ignore_errors=True)
    return rows


def _summary(samples: list[Sample]) -> dict[str, Any]:
    return {
        "seconds": summary([s.seconds for s in samples]),
        "rss_mib": summary([s.max_rss_mib for s in samples]),
        "runs": len(samples),
    }


def many_versions(ctx: Ctx, b: Backend, counts: tuple[int, ...]) -> list[dict[str, Any]]:
    """W7: the same asset grown to each count of versions, measured at each."""
    rows = []
    log = ctx.work / "logs" / "w7.log"
    slot, home = "w7", ctx.scratch("home", "w7")
    b.remove(AS.prefix(slot))
    env = AS.env(b, slot, home)
    source = ctx.scratch("data", "w7") / "weights.txt"
    made = 0
    for versions in counts:
        run(Step([sys.executable, "-c", MAKE_VERSIONS, str(source), str(made), str(versions)],
                 env), log)  # fmt: skip
        made = versions
        run(Step([*CLI, "alias", "set", f"{ASSET}@prod", f"0.{versions - 1}"], env), log)
        dest = ctx.work / "dest" / "w7"

        def fresh(_i: int, dest: Path = dest) -> None:
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir(parents=True)

        cold = AS.env(b, slot, dest)
        steps = {
            "versions": Step([*CLI, "versions", ASSET], env),
            "unpinned get": Step([*CLI, "pull", ASSET], cold),
            "alias list": Step([*CLI, "alias", "list", ASSET], env),
            "catalog sync": Step([*CLI, "catalog", "sync"], env),
        }
        for op, step in steps.items():
            before = fresh if op == "unpinned get" else None
            figures = _timed(step, ctx.runs, log, before)
            rows.append({"workload": "W7", "backend": b.name, "op": op, "versions": versions,
                         **figures})  # fmt: skip
    b.remove(AS.prefix(slot))
    return rows


def pack_threshold(ctx: Ctx, b: Backend, counts: tuple[int, ...]) -> list[dict[str, Any]]:
    """Packs: trees of a few to a few hundred files of 4 KiB pushed and pulled packed
    and unpacked, side by side — where packing starts to pay (ASSETSTORE_PACK_MIN_FILES
    is chosen from this)."""
    rows = []
    log = ctx.work / "logs" / "packs.log"
    for files in counts:
        tree = data.tree_in(ctx.work / "data", files, 4 * 1024, seed=7)
        for mode, env in (("packed", {"ASSETSTORE_PACK_MIN_FILES": "1"}),
                          ("one object per file", {"ASSETSTORE_PACK": "false"})):  # fmt: skip
            slot, home = f"packs-{files}", ctx.scratch("home", "packs", mode, str(files))
            dest = ctx.work / "dest" / "packs"
            pushes, pulls = [], []
            for i in range(ctx.warmup + ctx.runs):
                b.remove(AS.prefix(slot))
                step = AS.push(b, tree, slot, home)
                pushed = run(Step(step.argv, {**step.env, **env}), log)
                shutil.rmtree(dest, ignore_errors=True)
                dest.mkdir(parents=True)
                pulled = run(AS.pull(b, slot, tree, dest), log)
                if i >= ctx.warmup:
                    pushes.append(pushed)
                    pulls.append(pulled)
            for op, samples in (("push", pushes), ("pull", pulls)):
                rows.append({"workload": "packs", "backend": b.name, "op": op, "mode": mode,
                             "files": files, **_summary(samples)})  # fmt: skip
            b.remove(AS.prefix(slot))
    return rows
