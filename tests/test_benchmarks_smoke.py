"""The benchmark suite (``benchmarks/``) in its smoke version, so that it
cannot rot: ``python -m benchmarks.run --quick`` (tiny data, one run, the local provider
and a moto server, no peer that needs its own virtualenv), then the report rendered
from its JSON. Figures are not checked here: the targets live in the report.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.integration


def _run(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _median(results: dict[str, Any], key: tuple[str, str, str, str]) -> float:
    """The median seconds of the row (backend, workload, op, tool), which ran once."""
    for row in results["rows"]:
        if (row["backend"], row["workload"], row["op"], row["tool"]) == key:
            assert row["runs"] == 1, row
            median: float = row["seconds"]["median"]
            return median
    raise AssertionError(f"no row for {key}")


def test_quick_suite_runs_and_renders(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _run(
        "benchmarks.run", "--quick", "--out", str(out), "--work", str(tmp_path / "work"),
        timeout=240,
    )  # fmt: skip
    results = json.loads((out / "benchmarks.json").read_text())

    assert results["errors"] == []
    assert not [r for r in results["rows"] if r["failures"]]
    assert results["meta"]["quick"] is True
    expected = [
        *[("local", "W1", op, tool) for op in ("push", "pull") for tool in ("assetstore", "cp")],
        ("local", "W3", "second push", "assetstore"),
        ("local", "W3", "second push", "full-push"),
    ]
    if importlib.util.find_spec("moto") is not None:
        expected += [
            ("moto", w, op, tool)
            for w in ("W1", "W2")
            for op in ("push", "pull")
            for tool in ("assetstore", "s3fs")
        ]
    else:  # the harness skips the server with a note instead of failing
        assert any("moto" in n for n in results["notes"]), results["notes"]
    for key in expected:
        assert _median(results, key) > 0, key
    # W2's 100 files go up in packs; W6 and W7 ran at each size; a sub-path pull of the
    # packed W2 version on moto read its file's range, not the pack.
    assert _median(results, ("local", "W2", "pull", "tar")) > 0
    sizes = results["meta"]["sizes"]
    scaled = {(r["workload"], r["op"], r.get("files") or r.get("versions"))
              for r in results["scale"]}  # fmt: skip
    assert {(w, n) for w, _, n in scaled} == {("W6", n) for n in sizes["w6_files"]} | {
        ("W7", n) for n in sizes["w7_versions"]
    }
    if importlib.util.find_spec("moto") is not None:
        sub = results["subpath"]
        assert sub["received_bytes"] < 64 * 1024, sub
        assert sub["requests"].get("GET", 0) <= 3, sub
    tree = f"{results['meta']['sizes']['w2_files']} files"
    assert {w4["label"] for w4 in results["w4"]} == {"one file", tree}
    for w4 in results["w4"]:
        for measure in ("in_process_store_get", "fresh_process_get", "import_assetstore"):
            assert w4[measure]["median"] > 0, (w4["label"], measure)
    assert any("--quick" in n for n in results["notes"])  # the peers it left out
    assert "NOTE: --quick runs no peer" in proc.stdout

    # Re-render from the JSON alone, as `python -m benchmarks.report` does for the docs.
    (out / "benchmarks.md").unlink()
    _run("benchmarks.report", str(out / "benchmarks.json"), timeout=60)
    page = (out / "benchmarks.md").read_text()
    for heading in ("# Benchmarks", "## Goals", "## All results", "## Method"):
        assert f"\n{heading}\n" in f"\n{page}", heading
    assert "| local | W1 | push | assetstore |" in page
    assert (out / "img" / "benchmarks.svg").read_text().startswith("<svg")


def test_a_baseline_commit_runs_side_by_side(tmp_path: Path) -> None:
    found = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if found.returncode:
        pytest.skip("not a git checkout: there is no earlier commit to run")
    sha = found.stdout.strip()
    out, work = tmp_path / "out", tmp_path / "work"
    _run(
        "benchmarks.run", "--quick", "--baseline", "HEAD", "--backends", "local",
        "--workloads", "W1", "--out", str(out), "--work", str(work), timeout=240,
    )  # fmt: skip
    results = json.loads((out / "benchmarks.json").read_text())

    baseline = f"assetstore@{sha}"
    assert results["meta"]["baselines"] == [baseline]
    assert (work / f"baseline-{sha}" / "assetstore" / "__init__.py").is_file()
    for op in ("push", "pull"):
        assert _median(results, ("local", "W1", op, baseline)) > 0
        now = next(r for r in results["rows"] if (r["workload"], r["op"], r["tool"]) ==
                   ("W1", op, "assetstore"))  # fmt: skip
        assert now["ratios"][baseline] > 0
    page = (out / "benchmarks.md").read_text()
    assert "\n## Before and after\n" in page
    assert f"| local | W1 | push | {sha} |" in page
