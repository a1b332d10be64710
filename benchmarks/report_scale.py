"""The scale part of docs/benchmarks.md (W6, W7: ``scale.py``), its goals, the sub-path
check, and the chart docs/img/scale.svg."""

from __future__ import annotations

from html import escape
from typing import Any

KIB = 1024
MB = 1_000_000 / 1024**2  # MiB per MB
X = "\N{MULTIPLICATION SIGN}"
W6_OPS = ("push", "pull", "info", "verify", "catalog sync")
W7_OPS = ("versions", "unpinned get", "alias list", "catalog sync")
COLORS = ("#1f77b4", "#2ca02c", "#ff7f0e", "#d62728", "#9467bd")


def _rows(results: dict[str, Any], workload: str) -> list[dict[str, Any]]:
    return [r for r in results.get("scale", []) if r["workload"] == workload]


def per_file_ms(row: dict[str, Any]) -> float:
    return float(row["seconds"]["median"]) * 1000 / int(row["files"])


def targets(results: dict[str, Any], check: Any) -> None:
    """The scale goals: W6's per-file cost flat from 10,000 to 100,000 files and its
    peak RSS at 100,000; W7's operations under a second at 1,000 versions; and the
    bytes of a sub-path pull."""
    w6 = {(r["op"], r["files"]): r for r in _rows(results, "W6")}
    counts = sorted({files for _, files in w6})
    big, mid = (counts[-1], counts[-2]) if len(counts) > 1 else (None, None)
    for op in W6_OPS:
        ratio = None
        if (op, big) in w6 and (op, mid) in w6:
            ratio = per_file_ms(w6[(op, big)]) / per_file_ms(w6[(op, mid)])
        check(f"W6 {op}: time per file at {big or '?'} files ≤ 1.3{X} that at {mid or '?'}",
              ratio, 1.3)  # fmt: skip
    rss = max((r["rss_mib"]["max"] / MB for (_, n), r in w6.items() if n == big), default=None)
    check(f"W6: peak RSS at {big or '?'} files < 300 MB", rss, 300, "MB")
    w7 = {(r["op"], r["versions"]): r for r in _rows(results, "W7")}
    most = max((n for _, n in w7), default=None)
    for op in W7_OPS:
        found = w7.get((op, most))
        seconds = None if found is None else found["seconds"]["median"]
        check(f"W7 {op} at {most or '?'} versions, local: < 1 s", seconds, 1.0, "s")
    sub = results.get("subpath") or {}
    data = sub["received_bytes"] / KIB if "received_bytes" in sub else None
    check("Sub-path pull of one 4 KiB file of the packed W2 version: < 64 KiB received "
          "in all", data, 64, "KiB")  # fmt: skip


def section(results: dict[str, Any]) -> str:
    parts = [_w6_table(results), _w7_table(results), _subpath(results), _packs(results)]
    return "\n".join(p for p in parts if p)


def _w6_table(results: dict[str, Any]) -> str:
    rows = _rows(results, "W6")
    if not rows:
        return ""
    lines = [
        f"| {r['files']:,} | {r['op']} | {r['seconds']['median']:.2f} | "
        f"{per_file_ms(r):.3f} | {r['rss_mib']['max'] / MB:.0f} | {r['runs']} |"
        for r in sorted(rows, key=lambda r: (W6_OPS.index(r["op"]), r["files"]))
    ]
    return f"""## Scale: W6, one version of many files

One directory version of files of 1 KiB, on the local provider, each step a fresh CLI
process: its median wall time, the time per file, and the peak RSS of its slowest
round. A flat time per file is the goal (the chart: docs/img/scale.svg).

![time per file and per version](img/scale.svg)

| files | step | median s | ms per file | peak RSS MB | runs |
| ---: | --- | ---: | ---: | ---: | ---: |
{chr(10).join(lines)}
"""


def _w7_table(results: dict[str, Any]) -> str:
    rows = _rows(results, "W7")
    if not rows:
        return ""
    lines = [
        f"| {r['versions']:,} | {r['op']} | {r['seconds']['median']:.3f} | "
        f"{r['rss_mib']['max'] / MB:.0f} | {r['runs']} |"
        for r in sorted(rows, key=lambda r: (W7_OPS.index(r["op"]), r["versions"]))
    ]
    return f"""## Scale: W7, one asset of many versions

One asset grown to each number of versions (a small file each, an alias set on the
newest), on the local provider, each step a fresh CLI process. The unpinned get pulls
into an empty assets dir, so it resolves the newest version from the bucket.

| versions | step | median s | peak RSS MB | runs |
| ---: | --- | ---: | ---: | ---: |
{chr(10).join(lines)}
"""


def _subpath(results: dict[str, Any]) -> str:
    sub = results.get("subpath") or {}
    if "received_bytes" not in sub:
        return ""
    data = sub["received_bytes"] - sub["manifest_bytes"]
    return f"""## Sub-path pull from a packed version

`pull 'bench:0.0[{sub["file"]}]'` of the packed W2 version on rclone, through the
counting proxy: {sub["received_bytes"]:,} bytes received in {sub["seconds"]:.2f} s, of
which the manifest ({sub["manifest_bytes"]:,} bytes, read by every pull; for more than
1,024 files it names the shards holding the entries, docs/concepts.md) and {data:,}
bytes the rest: the shard that lists the file (when the manifest is sharded), the
file's {sub["file_bytes"]:,} bytes in one ranged GET, and the headers.
Requests: {", ".join(f"{k} {v}" for k, v in sorted(sub["requests"].items()))}.
"""


def _packs(results: dict[str, Any]) -> str:
    rows = _rows(results, "packs")
    if not rows:
        return ""
    by = {(r["backend"], r["op"], r["files"], r["mode"]): r for r in rows}
    lines = []
    for backend, op, files in sorted({k[:3] for k in by}, key=lambda k: (k[0], k[1], k[2])):
        packed = by.get((backend, op, files, "packed"))
        single = by.get((backend, op, files, "one object per file"))
        if packed and single:
            a, b = packed["seconds"]["median"], single["seconds"]["median"]
            lines.append(f"| {backend} | {op} | {files} | {a:.2f} | {b:.2f} | {a / b:.2f} |")
    return f"""## Packs: where they start to pay

Trees of files of 4 KiB, pushed and pulled packed (`ASSETSTORE_PACK_MIN_FILES=1`) and
one object per file (`ASSETSTORE_PACK=false`), side by side. The ratio is packed over
unpacked: below 1, packs are faster. `ASSETSTORE_PACK_MIN_FILES` (64) is set where
they are clearly ahead.

| backend | step | files | packed s | one object per file s | ratio |
| --- | --- | ---: | ---: | ---: | ---: |
{chr(10).join(lines)}
"""


def chart(results: dict[str, Any]) -> str:
    """Two panels: W6 ms per file against files, W7 seconds against versions (log x)."""
    panels = [
        ("W6: ms per file", _series(_rows(results, "W6"), "files", W6_OPS, per_file_ms)),
        ("W7: seconds", _series(_rows(results, "W7"), "versions", W7_OPS,
                                lambda r: float(r["seconds"]["median"]))),
    ]  # fmt: skip
    width, height, body = 680, 240, []
    for index, (title, series) in enumerate(panels):
        body.append(_panel(title, series, 10 + index * 340, 20, 320, height - 40))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-family="sans-serif" font-size="11"><rect width="100%" height="100%" '
            f'fill="white"/>{"".join(body)}</svg>\n')  # fmt: skip


def _series(
    rows: list[dict[str, Any]], key: str, ops: tuple[str, ...], value: Any
) -> dict[str, list[tuple[int, float]]]:
    found: dict[str, list[tuple[int, float]]] = {}
    for op in ops:
        points = sorted((int(r[key]), value(r)) for r in rows if r["op"] == op)
        if points:
            found[op] = points
    return found


def _panel(title: str, series: dict[str, list[tuple[int, float]]], x0: int, y0: int,
           w: int, h: int) -> str:  # fmt: skip
    import math

    out = [f'<text x="{x0}" y="{y0}" font-weight="bold">{escape(title)}</text>']
    xs = sorted({x for points in series.values() for x, _ in points})
    top = max((v for points in series.values() for _, v in points), default=1.0) or 1.0
    if len(xs) < 2:
        return "".join(out)
    lo, hi = math.log10(xs[0]), math.log10(xs[-1])

    def px(x: int) -> float:
        return x0 + 30 + (w - 110) * (math.log10(x) - lo) / (hi - lo)

    def py(v: float) -> float:
        return y0 + 14 + (h - 30) * (1 - v / (top * 1.1))

    for x in xs:
        out.append(f'<text x="{px(x):.0f}" y="{y0 + h}" text-anchor="middle">{x:,}</text>')
    out.append(f'<text x="{x0}" y="{py(top):.0f}">{top:.3g}</text>')
    for i, (op, points) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        path = " ".join(f"{px(x):.0f},{py(v):.0f}" for x, v in points)
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
        out.append(f'<text x="{x0 + w - 75}" y="{y0 + 20 + 13 * i}" fill="{color}">'
                   f"{escape(op)}</text>")  # fmt: skip
    return "".join(out)
