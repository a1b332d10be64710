"""One command for the whole suite of issue 5:

    python -m benchmarks.run                        # full: local, rclone, moto; ~25 min
    python -m benchmarks.run --quick                # CI smoke: tiny data, 1 run, < 60 s
    python -m benchmarks.run --workloads W2 --backends rclone --runs 7

Full runs write docs/benchmarks.md, docs/benchmarks.json and docs/img/benchmarks.svg;
``--quick`` writes the same three files under benchmarks/.work/quick/ (never the docs).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import data, facts, peers, profiles, report, servers, workloads
from .tools import NEEDS_PEERS, Backend
from .workloads import AS, Ctx

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ALL_WORKLOADS = ("W1", "W2", "W3", "W4", "W5", "resume", "profiles")
# Slow peers get fewer timed runs on the big trees; the report says so.
CAPS = {("W2", "modelkit"): 1, ("W2", "aws"): 3, ("W1", "modelkit"): 3}
# moto is a second reference only (~250 small objects/s, ~60 MiB/s): smaller data, 3 runs.
MOTO_SIZES = data.Sizes(w1_bytes=256 * data.MIB, w2_files=1_000)


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--quick", action="store_true", help="CI smoke: tiny data, one run")
    p.add_argument("--runs", type=int, help="timed runs per figure (default 5; quick 1)")
    p.add_argument("--warmup", type=int, help="warm-up rounds (default 1; quick 0)")
    p.add_argument("--workloads", default=",".join(ALL_WORKLOADS))
    p.add_argument("--backends", help="local,rclone,moto (quick: local,moto)")
    p.add_argument("--tools", default="assetstore,s3fs,s5cmd,aws,modelkit,cp")
    p.add_argument("--out", type=Path, help="folder for benchmarks.{md,json} and the chart")
    p.add_argument("--keep", action="store_true", help="keep the scratch data afterwards")
    p.add_argument("--merge", type=Path, metavar="JSON",
                   help="add to the results of an earlier (partial) run: its rows for the "
                        "same backend, workload, op and tool are replaced")  # fmt: skip
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    quick = args.quick
    work = HERE / ".work" / ("quick" if quick else "full")
    shutil.rmtree(work / "home", ignore_errors=True)
    (work / "logs").mkdir(parents=True, exist_ok=True)
    tools = args.tools.split(",")
    if quick:
        tools = [t for t in tools if t not in NEEDS_PEERS]
    else:
        for venv in ("tools", "modelkit"):
            peers.ensure(venv, work / "logs" / "pip.log")
    ctx = Ctx(work, args.runs or (1 if quick else 5),
              args.warmup if args.warmup is not None else (0 if quick else 1), tools,
              {} if quick else CAPS)  # fmt: skip
    backends = (args.backends or ("local,moto" if quick else "local,rclone,moto")).split(",")
    chosen = set(args.workloads.split(","))
    if quick:
        chosen -= {"profiles", "resume"}
    started = time.time()
    results: dict[str, Any] = {"rows": [], "w3_bytes": {}, "w4": [], "resume": {},
                               "profiles": {}, "import_profile": [], "errors": []}  # fmt: skip
    sizes = data.QUICK if quick else data.Sizes()
    earlier = json.loads(args.merge.read_text()) if args.merge else None
    for name in backends:
        with backend(name, work) as b:
            bsizes = sizes if quick or name != "moto" else MOTO_SIZES
            bctx = replace(ctx, runs=min(ctx.runs, 3)) if name == "moto" else ctx
            run_backend(bctx, b, bsizes, chosen, results)
    if earlier is not None:
        results = merge(earlier, results)
    results["meta"] = facts.collect(
        quick=quick, runs=ctx.runs, warmup=ctx.warmup, sizes=sizes, moto_sizes=MOTO_SIZES,
        caps=ctx.caps, backends=backends, command=" ".join(["python -m benchmarks.run",
        *(argv if argv is not None else sys.argv[1:])]), seconds=time.time() - started,
    )  # fmt: skip
    if earlier is not None:
        results["meta"]["earlier"] = {k: earlier.get("meta", {}).get(k)
                                      for k in ("command", "seconds", "date")}  # fmt: skip
    out = args.out or (work if quick else REPO / "docs")
    write(results, out, quick)
    if not args.keep:
        shutil.rmtree(work / "data", ignore_errors=True)
    return 0


def merge(earlier: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``earlier`` updated with ``new``: new rows replace rows of the same key."""
    key = lambda r: (r["backend"], r["workload"], r["op"], r["tool"])  # noqa: E731
    replaced = {key(r) for r in new["rows"]}
    out = dict(earlier)
    out["rows"] = [r for r in earlier["rows"] if key(r) not in replaced] + new["rows"]
    out["w3_bytes"] = {**earlier.get("w3_bytes", {}), **new["w3_bytes"]}
    out["w4"] = new["w4"] or earlier.get("w4", [])
    out["import_profile"] = new["import_profile"] or earlier.get("import_profile", [])
    for name in ("resume", "profiles"):
        out[name] = new[name] or earlier.get(name, {})
    out["errors"] = earlier.get("errors", []) + new["errors"]
    return out


@contextlib.contextmanager
def backend(name: str, work: Path) -> Iterator[Backend]:
    if name == "local":
        root = work / "local-bucket"
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        yield Backend("local", root=root)
        shutil.rmtree(root, ignore_errors=True)
        return
    scratch = work / f"server-{name}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    if name == "rclone":
        starter = servers.rclone_s3(peers.binary("tools", "rclone"), scratch)
    else:
        starter = servers.moto_s3(str(Path(sys.executable).with_name("moto_server")), scratch)
    with starter as s3:
        yield Backend(name, s3=s3)
    shutil.rmtree(scratch, ignore_errors=True)


def run_backend(ctx: Ctx, b: Backend, sizes: data.Sizes, chosen: set[str],
                results: dict[str, Any]) -> None:  # fmt: skip
    d = ctx.work / "data" / b.name
    big = data.big_file(d, sizes.w1_bytes) if chosen & {"W1", "W5", "resume", "profiles"} else None
    tree = None
    if chosen & {"W2", "W4", "profiles"}:
        tree = data.nested_tree(d / "w2", sizes.w2_files, sizes.w2_file_bytes, seed=2)

    def section(title: str, fn: Any) -> None:
        """Run one workload; a failure is recorded in the report, not fatal to the run."""
        print(f"[{b.name}] {title}", flush=True)
        try:
            fn()
        except Exception as exc:
            print(f"  FAILED: {exc}", flush=True)
            results["errors"].append(f"{b.name} {title}: {str(exc).splitlines()[-1][:300]}")
        partial = ctx.work / "partial.json"
        partial.write_text(json.dumps(results, indent=1, default=str))

    def w1() -> None:
        results["rows"] += workloads.transfer(ctx, b, big, "W1")

    def w2() -> None:
        results["rows"] += workloads.transfer(ctx, b, tree, "W2")

    def w3() -> None:
        v1 = data.nested_tree(d / "w3v1", sizes.w3_files, sizes.w3_file_bytes, seed=3)
        v2 = d / "w3v2"
        data.next_version(v1, v2, sizes.w3_changed, seed=4)
        if b.is_s3:
            changed = sizes.w3_changed * sizes.w3_file_bytes
            results["w3_bytes"][b.name] = workloads.incremental_bytes(ctx, b, v1, v2, changed)
        results["rows"] += workloads.incremental(ctx, b, v1, v2)

    def w4() -> None:
        assert tree is not None
        one = sorted(tree.rglob("*.bin"))[0]
        n = 3 if ctx.runs == 1 else 10
        results["w4"].append(workloads.warm_get(ctx, b, one, "one file", n))
        results["w4"].append(workloads.warm_get(ctx, b, tree, f"{sizes.w2_files} files", n))
        results["import_profile"] = workloads.import_profile({})

    def resume() -> None:
        results["resume"] = workloads.resume(ctx, b, big)

    def prof() -> None:
        results["profiles"] = profile_all(ctx, b, big, tree)

    if chosen & {"W1", "W5"}:
        section(f"W1 big file ({sizes.w1_bytes} bytes)", w1)
    if "W2" in chosen:
        section(f"W2 many small files ({sizes.w2_files})", w2)
    if "W3" in chosen and b.name != "moto":
        section("W3 incremental push", w3)
    if "W4" in chosen and b.name == "local":
        section("W4 warm get", w4)
    if "resume" in chosen and b.name == "rclone":
        section("resume of a killed W1 pull", resume)
    if "profiles" in chosen and b.name == "rclone":
        section("py-spy profiles", prof)


def profile_all(ctx: Ctx, b: Backend, big: Path, tree: Path) -> dict[str, Any]:
    out = ctx.work / "profiles"
    out.mkdir(parents=True, exist_ok=True)
    found = {}
    for label, src in (("W2", tree), ("W1", big)):
        home = ctx.scratch("home", b.name, f"prof-{label}")
        slot = f"prof-{label}"
        push = profiles.record(AS.push(b, src, slot, home), out / f"{label}-push")
        found[f"{label} push"] = profiles.summarize(push)
        shutil.rmtree(home)
        pull = profiles.record(AS.pull(b, slot, src, home), out / f"{label}-pull")
        found[f"{label} pull"] = profiles.summarize(pull)
        b.remove(AS.prefix(slot))
    return found


def write(results: dict[str, Any], out: Path, quick: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmarks.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    img = out / "img"
    img.mkdir(exist_ok=True)
    (img / "benchmarks.svg").write_text(report.chart(results))
    (out / "benchmarks.md").write_text(report.markdown(results, quick=quick))
    print(f"wrote {out / 'benchmarks.md'}")


if __name__ == "__main__":
    raise SystemExit(main())
