"""docs/benchmarks.md and the chart, regenerated from the results of a run.

python -m benchmarks.report docs/benchmarks.json     # re-render without re-running
"""

from __future__ import annotations

import json
import sys
from html import escape
from pathlib import Path
from typing import Any

from . import report_scale
from .bench import is_assetstore

HERE = Path(__file__).resolve().parent
MB = 1_000_000 / 1024**2  # MiB per MB
X = "\N{MULTIPLICATION SIGN}"  # in ratios: 1.25x
DASH = "\N{EN DASH}"  # in ranges: min-max
COLORS = {"assetstore": "#1f77b4", "s3fs": "#17becf", "s5cmd": "#2ca02c", "aws": "#ff7f0e",
          "modelkit": "#d62728", "cp": "#7f7f7f", "full-push": "#9467bd",
          "tar": "#bcbd22"}  # fmt: skip


def _row(results: dict[str, Any], backend: str, workload: str, op: str,
         tool: str = "assetstore") -> dict[str, Any] | None:  # fmt: skip
    rows: list[dict[str, Any]] = results["rows"]
    for r in rows:
        if (r["backend"], r["workload"], r["op"], r["tool"]) == (backend, workload, op, tool):
            return r
    return None


def _ratio(
    results: dict[str, Any], backend: str, workload: str, op: str, peer: str
) -> float | None:
    row = _row(results, backend, workload, op)
    return None if row is None else row.get("ratios", {}).get(peer)


def _fastest_peer(results: dict[str, Any], backend: str, workload: str, op: str) -> str | None:
    peers = [r for r in results["rows"] if (r["backend"], r["workload"], r["op"]) ==
             (backend, workload, op) and not is_assetstore(r["tool"])]  # fmt: skip
    return min(peers, key=lambda r: r["seconds"]["median"])["tool"] if peers else None


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, held?) — None when the run did not measure it."""
    out: list[tuple[str, str, bool | None]] = []

    def check(label: str, value: float | None, limit: float, unit: str = X) -> None:
        if value is None:
            out.append((label, "not measured", None))
        else:
            # A miss that rounds to the limit shows a third decimal: "0.20" must not read
            # as a failure of 0.20 <= 0.20.
            places = 3 if value > limit and round(value, 2) <= limit else 2
            shown = f"{value:.{places}f}{unit}" if unit == X else f"{value:.{places}f} {unit}"
            out.append((label, shown, value <= limit))

    for op, fast in (("push", 5), ("pull", 3)):
        for peer, limit, text in (("s5cmd", 1 / fast, f"≥ {fast}{X} faster than s5cmd"),
                                  ("modelkit", 0.2, f"≥ 5{X} faster than modelkit"),
                                  ("aws", 1 / 1.5, f"≥ 1.5{X} faster than the AWS CLI"),
                                  ("s3fs", 1.2, "< 20% over raw s3fs")):  # fmt: skip
            check(
                f"W2 {op}, rclone: {text} (time ratio ≤ {limit:.2f})",
                _ratio(results, "rclone", "W2", op, peer),
                limit,
            )
    check(f"W2 pull, rclone: ≤ 2{X} the floor, tar -x of the same files",
          _ratio(results, "rclone", "W2", "pull", "tar"), 2)  # fmt: skip
    for op in ("push", "pull"):
        check(f"W2 {op}, local: ≤ 3{X} cp -r", _ratio(results, "local", "W2", op, "cp"), 3)
    check(f"W1 pull, rclone: ≤ 1.1{X} s5cmd", _ratio(results, "rclone", "W1", "pull", "s5cmd"),
          1.1)  # fmt: skip
    for op in ("push", "pull"):
        fastest = _fastest_peer(results, "rclone", "W1", op)
        check(
            f"W1 {op}, rclone: ≤ 1.1{X} the fastest peer ({fastest})",
            _ratio(results, "rclone", "W1", op, fastest or ""),
            1.1,
        )
        check(f"W1 {op}, local: ≤ 1.3{X} cp", _ratio(results, "local", "W1", op, "cp"), 1.3)
    _w3_targets(results, check)
    _w4_targets(results, check)
    report_scale.targets(results, check)
    for op in ("push", "pull"):
        row = _row(results, "rclone", "W1", op) or _row(results, "local", "W1", op)
        rss = row["rss_mib"]["max"] / MB if row else None
        check(f"W5 {op} of the 1 GiB file: peak RSS < 200 MB", rss, 200, "MB")
    return out


def _w3_targets(results: dict[str, Any], check: Any) -> None:
    w3 = results["w3_bytes"].get("rclone")
    sent = None
    if w3 and "second_push" in w3:
        sent = sum(w3["second_push"]["request_body_bytes"].values()) / w3["changed_bytes"]
    check(f"W3: second push sends ≤ 1.1{X} the changed bytes (request bodies)", sent, 1.1)
    check(
        f"W3: second push ≥ 10{X} faster than a full push (time ratio ≤ 0.10)",
        _ratio(results, "rclone", "W3", "second push", "full-push"),
        0.1,
    )


def _w4_targets(results: dict[str, Any], check: Any) -> None:
    w4 = [x for x in results["w4"] if x.get("tool", "assetstore") == "assetstore"]

    def worst(key: str) -> float | None:
        """The slowest of the W4 assets' medians, in ms."""
        return max(x[key]["median"] for x in w4) * 1000 if w4 else None

    check(
        "W4a: in-process warm get(), long-lived AssetStore < 1 ms",
        worst("in_process_store_get"),
        1,
        "ms",
    )
    check(
        "W4a: in-process warm assetstore.get() (module function) < 1 ms",
        worst("in_process_module_get"),
        1,
        "ms",
    )
    check("W4b: fresh-process warm get() < 300 ms", worst("fresh_process_get"), 300, "ms")
    check("W4c: import assetstore < 100 ms", worst("import_assetstore"), 100, "ms")
    check("W4d: assetstore --help < 300 ms", worst("cli_help"), 300, "ms")


def _mark(ok: bool | None) -> str:
    return {True: "✓", False: "✗", None: DASH}[ok]


def markdown(results: dict[str, Any], *, quick: bool = False) -> str:
    meta = results["meta"]
    parts = [_header(meta, quick), _targets_table(results), _errors(results),
             _notes(results), _baseline_section(results), _results_table(results),
             _w3_section(results), _w4_section(results), report_scale.section(results),
             _resume_section(results),
             _profiles_section(results), _method(meta), REPRODUCE]  # fmt: skip
    return "\n".join(p for p in parts if p)


def _header(meta: dict[str, Any], quick: bool) -> str:
    m = meta["machine"]
    versions = "\n".join(f"| {k} | {escape(str(v))} |" for k, v in meta["versions"].items())
    smoke = ("\n> **Smoke run** (`--quick`): tiny data, one run — these figures mean nothing; "
             "it only proves the suite still works.\n") if quick else ""  # fmt: skip
    took = f"took {meta['seconds'] / 60:.1f} min on {meta['date']}"
    return f"""# Benchmarks

How fast assetstore moves assets, side by side with modelkit 0.1.3, the AWS CLI, s5cmd,
plain s3fs and `cp`. This page is generated by the suite in `benchmarks/`; do not edit
it by hand (the profile findings come from `benchmarks/findings.md`).
{smoke}
The workloads:

- **W1**: one file of 1 GiB, pushed and then pulled into an empty assets dir.
- **W2**: a tree of 10,000 files of 4 KiB in nested folders, pushed and pulled.
- **W3**: a second push of a 1,000-file tree in which 10 files changed, against a full
  push of the same tree: time, and the bytes the second push sends.
- **W4**: `get` of a version already in the cache, in a process that has it open and
  in a fresh process; `import assetstore`; `assetstore --help`.
- **W5**: the peak memory (RSS) of W1's push and pull.
- **resume**: a W1 pull killed halfway and started again: the bytes it downloads twice.

The goals assetstore holds itself to are in the table below, each measured in this run.

Command: `{meta["command"]}` — {took}.{_earlier(meta)}

Machine: {m["cpu"]}, {m["cores"]} cores, {m["memory_gib"]} GiB RAM, {m["os"]}, Linux
{m["kernel"]}. Loopback and the local disk are far faster than any S3 server here, so
absolute times say little; **ratios measured side by side** are the figures to read.

![Median times per tool](img/benchmarks.svg)

| tool | version |
| --- | --- |
{versions}
"""


def _earlier(meta: dict[str, Any]) -> str:
    """Results merged from earlier invocations (``--merge``) are said to be so."""
    chain, earlier = [], meta.get("earlier")
    while earlier:
        chain.append(earlier)
        earlier = earlier.get("earlier") if isinstance(earlier, dict) else None
    if not chain:
        return ""
    return (
        "\nMerged (`--merge`) with the results of earlier invocations of the same suite; "
        'see "How this run was made".'
    )


def _targets_table(results: dict[str, Any]) -> str:
    rows = "\n".join(f"| {t} | {v} | {_mark(ok)} |" for t, v, ok in targets(results))
    return f"""## Goals

Time ratios are assetstore's time divided by the peer's (below 1: assetstore is faster),
the median of the per-round ratios.

| goal | measured | holds |
| --- | --- | --- |
{rows}
{_floors(results)}"""


def _floors(results: dict[str, Any]) -> str:
    """What no push or pull can go below on this machine, next to the targets it bounds."""
    floors = results.get("meta", {}).get("floors")
    if not floors:
        return ""
    cp = _row(results, "local", "W1", "push", "cp")
    full = _row(results, "rclone", "W3", "second push", "full-push")
    lines = [f"- sha256 of 1 GiB in memory, on one core: {floors['sha256_s_per_gib']:.2f} s."]
    if cp and cp["runs"]:
        lines[0] += f" 1.3{X} `cp`'s local W1 push is {1.3 * cp['seconds']['median']:.2f} s."
    if floors.get("s3_import_s") is not None:
        lines.append(f"- A fresh `python -c 'import s3fs'`: {floors['s3_import_s']:.2f} s.")
        if full and full["runs"]:
            lines[1] += (f" A second push 10{X} faster than the full push on rclone would "
                         f"take {0.1 * full['seconds']['median']:.2f} s.")  # fmt: skip
    lines += _verified_pull_floor(results, floors["sha256_s_per_gib"])
    return "\nFloors measured in this run:\n\n" + "\n".join(lines) + "\n"


def _verified_pull_floor(results: dict[str, Any], sha256_s: float) -> list[str]:
    """s5cmd's W1 pull on rclone, plus a sha256 of the file: the CPU that a verified
    pull needs at the least, spread over every core."""
    row = _row(results, "rclone", "W1", "pull", "s5cmd")
    if not row or "server_cpu_seconds" not in row or "cpu_seconds" not in row:
        return []
    size = results["meta"]["sizes"]["w1_bytes"] / 2**30
    client, server = row["cpu_seconds"]["median"], row["server_cpu_seconds"]["median"]
    cores = results["meta"]["machine"]["cores"] or 1
    floor = (client + server + sha256_s * size) / cores
    return [f"- s5cmd's W1 pull used {client:.2f} s of CPU, and rclone {server:.2f} s. "
            f"With a sha256 of the file added, on {cores} cores, a verified pull takes at "
            f"least {floor:.2f} s; 1.1{X} s5cmd's time is "
            f"{1.1 * row['seconds']['median']:.2f} s."]  # fmt: skip


def _errors(results: dict[str, Any]) -> str:
    failed = [
        f"- {r['backend']} {r['workload']} {r['op']} {r['tool']}: {r['failures']} failed "
        f"run(s); last error: `{r['error']}`"
        for r in results["rows"]
        if r.get("failures")
    ]
    failed += [f"- {e}" for e in results.get("errors", [])]
    if not failed:
        return ""
    return "## Failures during the run\n\n" + "\n".join(failed) + "\n"


def _notes(results: dict[str, Any]) -> str:
    notes = results.get("notes", [])
    if not notes:
        return ""
    return "## Skipped in this run\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"


def _baseline_section(results: dict[str, Any]) -> str:
    """assetstore now against itself at an earlier commit, run side by side."""
    baselines = results.get("meta", {}).get("baselines") or []
    if not baselines:
        return ""
    lines = [
        "## Before and after",
        "",
        "assetstore as it is now and as it was at "
        + ", ".join(f"`{b.partition('@')[2]}`" for b in baselines)
        + ", in the same rounds on the same servers (order shuffled each round). The "
        "ratios are medians of per-round time ratios (below 1: now is faster); the change "
        "of the s5cmd ratio is how much worse (+) or better (-) now does against s5cmd.",
        "",
        "| backend | workload | op | version | now s | then s | now ÷ then | now ÷ s5cmd "
        "| then ÷ s5cmd | change of the s5cmd ratio |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def shown(value: float | None, places: int = 2) -> str:
        return f"{value:.{places}f}" if value else DASH

    for r in results["rows"]:
        if r["tool"] != "assetstore" or not r["runs"]:
            continue
        key = (r["backend"], r["workload"], r["op"])
        now = r.get("ratios", {}).get("s5cmd")
        for name in baselines:
            then_row = _row(results, *key, tool=name)
            if then_row is None or not then_row["runs"]:
                continue
            then = then_row.get("ratios", {}).get("s5cmd")
            change = f"{(now / then - 1) * 100:+.1f}%" if now and then else DASH
            lines.append(f"| {' | '.join(key)} | {name.partition('@')[2]} | "
                         f"{r['seconds']['median']:.2f} | {then_row['seconds']['median']:.2f} | "
                         f"{shown(r.get('ratios', {}).get(name), 3)} | {shown(now)} | "
                         f"{shown(then)} | {change} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def _results_table(results: dict[str, Any]) -> str:
    lines = ["## All results", "",
             "Median wall time of the whole command (process start-up included) over the "
             f"timed runs; min{DASH}max; peak RSS; median CPU time (user + system) of the "
             "tool and of the S3 server while the tool ran (the two share 2 cores); for "
             "assetstore, its time ratio to each peer.",
             "",
             f"| backend | workload | op | tool | median s | min{DASH}max s | runs "
             "| peak RSS MiB | CPU s: tool / server | assetstore ÷ peer |",
             "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]  # fmt: skip
    for r in results["rows"]:
        s = r["seconds"]
        if not r["runs"]:
            lines.append(f"| {r['backend']} | {r['workload']} | {r['op']} | {r['tool']} "
                         "| failed | | 0 | | | |")  # fmt: skip
            continue
        ratios = ", ".join(f"{k} {v:.2f}" for k, v in r.get("ratios", {}).items() if v)
        lines.append(f"| {r['backend']} | {r['workload']} | {r['op']} | {r['tool']} | "
                     f"{s['median']:.2f} | {s['min']:.2f}{DASH}{s['max']:.2f} | {r['runs']} | "
                     f"{r['rss_mib']['max']:.0f} | {_cpu_cell(r)} | {ratios} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def _cpu_cell(r: dict[str, Any]) -> str:
    """The tool's and the server's CPU medians; a figure not measured (older results, the local
    provider's missing server) is left out."""
    tool, server = (r.get(k, {}).get("median") for k in ("cpu_seconds", "server_cpu_seconds"))
    if tool is None:
        return ""
    return f"{tool:.2f}" if server is None else f"{tool:.2f} / {server:.2f}"


def _w3_section(results: dict[str, Any]) -> str:
    lines = []
    changed = results.get("meta", {}).get("sizes", {}).get("w3_changed", 10)
    for backend, w3 in results["w3_bytes"].items():
        if "error" in w3:
            lines.append(f"| {backend} | failed: {escape(w3['error'])} | | | | |")
            continue
        for label, key in ((f"second push ({changed} files changed)", "second_push"),
                           ("full push of the same tree", "full_push")):  # fmt: skip
            t = w3[key]
            body = sum(t["request_body_bytes"].values())
            reqs = ", ".join(f"{k} {v}" for k, v in sorted(t["requests"].items()))
            lines.append(f"| {backend} | {label} | {body:,} | {body / w3['changed_bytes']:.2f} | "
                         f"{t['sent_bytes']:,} | {reqs} |")  # fmt: skip
    if not lines:
        return ""
    return _w3_bytes_table(lines) + _w3_times(results)


def _w3_times(results: dict[str, Any]) -> str:
    """Second push vs full push, as processes and in-process (without the interpreter's
    start and the imports before ``assetstore`` is imported)."""
    lines = []
    for backend in sorted({r["backend"] for r in results["rows"] if r["workload"] == "W3"}):
        second = _row(results, backend, "W3", "second push")
        full = _row(results, backend, "W3", "second push", "full-push")
        if second is None or full is None:
            continue
        cells = []
        for key in ("seconds", "inner_seconds"):
            a, b = second.get(key, {}).get("median"), full.get(key, {}).get("median")
            cells.append(f"{a:.2f} s / {b:.2f} s = {a / b:.2f}" if a and b else "n/a")
        lines.append(f"| {backend} | {cells[0]} | {cells[1]} |")
    if not lines:
        return ""
    return ("\nTimes (medians): second push ÷ full push of the same tree. \"In-process\" is "
            "what the push step measured itself, from `import assetstore` to the commit: "
            "it leaves out the interpreter's start-up.\n\n"
            "| backend | as a process | in-process |\n| --- | ---: | ---: |\n"
            + "\n".join(lines) + "\n")  # fmt: skip


def _w3_bytes_table(lines: list[str]) -> str:
    return ("## W3: bytes sent by the second push\n\nCounted by a proxy between assetstore "
            "and the server (one untimed pass). Request bodies are the payload; "
            "\"on the wire\" adds HTTP headers and signatures.\n\n"
            "| backend | push | request body bytes | ÷ changed bytes | on the wire | requests |\n"
            "| --- | --- | ---: | ---: | ---: | --- |\n" + "\n".join(lines) + "\n")  # fmt: skip


def _w4_section(results: dict[str, Any]) -> str:
    if not results["w4"]:
        return ""
    keys = [("in_process_store_get", "in-process `store.get()`"),
            ("in_process_module_get", "in-process `assetstore.get()`"),
            ("fresh_process_get", "fresh `python -c 'import assetstore; assetstore.get(...)'`"),
            ("import_assetstore", "`python -c 'import assetstore'`"),
            ("cli_help", "`assetstore --help`"),
            ("python_baseline", "`python -c pass` (floor)")]  # fmt: skip
    w4 = results["w4"]
    head = " | ".join(
        x["label"] + ("" if x.get("tool", "assetstore") == "assetstore" else f" ({x['tool']})")
        for x in w4
    )
    lines = [f"| {text} | " + " | ".join(f"{x[k]['median'] * 1000:.2f}" for x in w4) + " |"
             for k, text in keys]  # fmt: skip
    n_proc = w4[0]["fresh_process_get"].get("n", 10)
    after = ", after a warm-up" if results.get("meta", {}).get("warmup", 1) else ""
    imports = "\n".join(
        f"| `{name.strip()}` | {ms:.1f} |" for name, ms in results["import_profile"]
    )
    return (
        f"""## W4: warm get of a pinned, cached version (local provider set)

Medians in milliseconds (300 in-process calls; {n_proc} fresh processes of each kind{after}).

| measure | {head} |
| --- | {" | ".join("---:" for _ in results["w4"])} |
"""
        + "\n".join(lines)
        + f"""

Slowest imports under `import assetstore` (`python -X importtime`, cumulative ms):

| module | ms |
| --- | ---: |
{imports}
"""
    )


def _resume_section(results: dict[str, Any]) -> str:
    r = results["resume"]
    if not r:
        return ""
    gib = 1024**3
    return f"""## Resume of an interrupted 1 GiB pull (rclone)

A pull was killed (SIGKILL) once {r["first_pull_received_before_kill"] / gib:.2f} GiB had
arrived; {r["left_in_assets_dir_after_kill"] / gib:.2f} GiB stayed behind in the assets dir.
The next pull downloaded **{r["second_pull_received"] / gib:.2f} GiB** of the
{r["file_bytes"] / gib:.2f} GiB file (in {r["second_pull_seconds"]:.1f} s): byte-range
resume {"works" if r["second_pull_received"] < 0.6 * r["file_bytes"] else "is not implemented yet"}.
"""


def _profiles_section(results: dict[str, Any]) -> str:
    found = results["profiles"]
    findings = HERE / "findings.md"
    text = findings.read_text() if findings.is_file() else ""
    if not found:
        return text
    blocks = []
    for label, p in found.items():
        self_rows = "\n".join(f"| `{n}` | {s} |" for n, s in p["self"][:8])
        ours = "\n".join(f"| `{n}` | {s} |" for n, s in p["assetstore_total"][:8])
        threads = ", ".join(f"{k} {v}%" for k, v in p["threads"].items())
        blocks.append(f"""### {label} (rclone) — {p["samples"]} samples; {threads}

| hottest functions (self) | % of samples |
| --- | ---: |
{self_rows}

| assetstore frames (total) | % of samples |
| --- | ---: |
{ours}
""")
    return text + "\n## Profiles (py-spy, on-CPU samples at 250 Hz)\n\n" + "\n".join(blocks)


def _method(meta: dict[str, Any]) -> str:
    sizes = meta["sizes"]
    caps = ", ".join(f"{k}: {v} runs" for k, v in meta["caps"].items()) or "none"
    rss = meta.get("rss_probe", "GNU time")
    rss_text = "GNU time's `%M` of that process" if rss == "GNU time" else rss
    return f"""## Method

- Every figure is the median of {meta["runs"]} timed runs after {meta["warmup"]} warm-up
  round(s). In each round every tool of a comparison runs once, in an order shuffled
  round by round (seeded); ratios are taken within a round, then their median is
  reported.
- Each step is one process, timed from spawn to exit (start-up included), with
  `os.sync()` before it so that one tool's dirty pages are not billed to the next.
  Peak RSS is {rss_text}. CPU time is the process's user + system time (from
  the same probe), and the server's is the difference of its `/proc/<pid>/stat`
  counters (threads included) across the step.
- Data is generated per run (never committed): W1 one file of {sizes["w1_bytes"]:,} bytes;
  W2 {sizes["w2_files"]:,} files of {sizes["w2_file_bytes"]:,} bytes in 10 by 10 nested
  folders; W3 {sizes["w3_files"]:,} files of {sizes["w3_file_bytes"]:,} bytes, then
  {sizes["w3_changed"]} of them rewritten.
{_transfer_method(meta)}
- Slow peers run fewer timed rounds (no warm-up of their own): {caps}.
{_moto_method(meta)}
- Peers: modelkit 0.1.3 through its `StorageProvider.new` / `AssetsManager.fetch_asset`;
  `aws s3 cp [--recursive]`; `s5cmd cp`; s3fs `put`/`get` (batch, async) with
  botocore's CRC checks set to `when_required`; `cp -r`. Each in its own virtualenv under
  `benchmarks/.peers/` (gitignored), pinned in `benchmarks/peers.py`.
"""


def _transfer_method(meta: dict[str, Any]) -> str:
    """How W1/W2 push and pull rounds are set up (runs before ``moto_tools`` was
    recorded used a full-size warm-up for pulls too and a separate setup push)."""
    if "moto_tools" not in meta:
        return """- Pushes go to a fresh prefix each run (so assetstore never reuses a previous
  version's bytes outside W3) and are deleted afterwards, untimed; pulls are cold (empty
  destination / assets dir) from a copy each tool pushed once, untimed."""
    return """- Pushes go to a fresh prefix each run (so assetstore never reuses a previous
  version's bytes outside W3) and are deleted afterwards, untimed. The warm-up round of
  W1 and W2 pushes a slice of the data (W1: a file of a sixteenth of the size; W2: a
  tenth of the files): same tools, code paths and server, a fraction of the time.
- Pulls are cold (empty destination / assets dir), each tool pulling the copy it pushed
  in its last timed push round; they follow the push rounds directly on the same server
  and data, which serve as their warm-up."""


def _moto_method(meta: dict[str, Any]) -> str:
    moto = meta["moto_sizes"]
    data = f"W1 {moto['w1_bytes']:,} bytes, W2 {moto['w2_files']:,} files"
    tools = meta.get("moto_tools")
    if not tools:
        return f"""- moto is a second reference only, with smaller data ({data})
  and at most 3 runs: it serves ~250 small objects/s."""
    return f"""- moto is a second reference only ({", ".join(tools)}; W1 and W2), with smaller
  data ({data}): it serves ~250 small objects/s."""


REPRODUCE = """## How to reproduce

From the repository root, in the dev virtualenv (`pip install -e '.[dev]'`), on Linux:

```sh
python -m benchmarks.run                            # the full run: about 45 min on 2 cores
python -m benchmarks.report docs/benchmarks.json    # re-render this page from its JSON
```

The full run writes `docs/benchmarks.md`, `docs/benchmarks.json` and
`docs/img/benchmarks.svg`. On first use it installs the pinned peers (AWS CLI, s5cmd,
rclone, py-spy; modelkit 0.1.3) into virtualenvs under `benchmarks/.peers/`, which needs
the network once; a peer that cannot be installed is skipped with a note. Exact peak RSS
needs GNU time (`apt-get install time`). Parts of the suite: `--backends`, `--workloads`,
`--runs N`, `--warmup N`; `--merge JSON` adds a partial run to an earlier one.
`python -m benchmarks.run --quick` is the smoke version (tiny data, one run, local and
moto, no peer virtualenvs) that CI runs through `tests/test_benchmarks_smoke.py`;
`python -m benchmarks.run --help` lists the rest.
"""


def chart(results: dict[str, Any]) -> str:
    """Horizontal bars of median seconds, one group per (backend, workload, op)."""
    groups: dict[str, list[tuple[str, float]]] = {}
    for r in results["rows"]:
        if r["backend"] == "moto":
            continue
        key = f"{r['workload']} {r['op']} ({r['backend']})"
        groups.setdefault(key, []).append((r["tool"], r["seconds"]["median"]))
    width, bar, gap, left = 640, 14, 26, 190
    y, body = 30, []
    for title, bars in groups.items():
        body.append(f'<text x="8" y="{y}" font-weight="bold">{escape(title)}</text>')
        y += 6
        top = max(v for _, v in bars) or 1
        for tool, value in bars:
            w = max(1, (width - left - 70) * value / top)
            body.append(f'<text x="{left - 6}" y="{y + 11}" text-anchor="end">{tool}</text>'
                        f'<rect x="{left}" y="{y}" width="{w:.0f}" height="{bar}" '
                        f'fill="{COLORS.get(tool, "#888")}"/>'
                        f'<text x="{left + w + 4:.0f}" y="{y + 11}">'
                        f'{value:.2f} s</text>')  # fmt: skip
            y += bar + 3
        y += gap
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y}" '
            f'font-family="sans-serif" font-size="11"><rect width="100%" height="100%" '
            f'fill="white"/><text x="8" y="14" font-size="12">Median wall time, lower is '
            f'better (bars scaled per group)</text>{"".join(body)}</svg>\n')  # fmt: skip


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else HERE.parent / "docs" / "benchmarks.json"
    results = json.loads(path.read_text())
    quick = bool(results["meta"].get("quick"))
    (path.parent / "img").mkdir(exist_ok=True)
    (path.parent / "img" / "benchmarks.svg").write_text(chart(results))
    (path.parent / "img" / "scale.svg").write_text(report_scale.chart(results))
    (path.parent / "benchmarks.md").write_text(markdown(results, quick=quick))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
