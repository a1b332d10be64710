"""A push whose reservation is reclaimed while it uploads: ``assetstore repair
--older-than 0`` runs at a random moment of a live push. Either the push commits and
every file of the version is there (the repair then leaves it alone, or finishes its
commit), or the push fails cleanly (exit 4, "reclaimed") and nothing of it is left. A
push that exits 0 must pull and verify byte for byte, on every provider."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from assetstore import Version

from .conftest import Backend, subprocess_env

try:
    from tests.reliability.support import audit_bucket, write_report
except ImportError:  # tests/ is not a package: pytest put tests/ itself on sys.path
    from reliability.support import audit_bucket, write_report  # type: ignore[no-redef]

# (files of 4 KB, trials in CI, trials with ASSETSTORE_TEST_FULL_RELIABILITY=1, the
# longest wait of the reclaimer once the reservation is there, in seconds): the push goes
# on sending for about that long; local is far faster than the emulators. Odd trials
# push with --no-pack: one object per file, the race of many small writes; even ones put
# the files in packs, the default. 1,500 files on local: the manifest is sharded.
PLAN = {
    "local": (1500, 6, 20, 1.2), "s3": (200, 4, 20, 1.2), "gcs": (300, 4, 10, 0.8),
    "az": (300, 4, 10, 1.5),
}  # fmt: skip
FULL = os.environ.get("ASSETSTORE_TEST_FULL_RELIABILITY") == "1"
# The reclaimer: a process of its own, started before the push so that its start-up
# does not decide when it acts; it waits for the reservation, then the delay given.
RECLAIMER = """
import sys, time
from assetstore import AssetStore, Version
from assetstore.cli import main
remote = AssetStore.from_env().remote
path = remote.reservation_path("r", Version.parse(sys.argv[1]))
remote.exists(path)  # connected
print("ready", flush=True)
deadline = time.monotonic() + 120
while not remote.exists(path) and time.monotonic() < deadline:
    time.sleep(0.005)
time.sleep(float(sys.argv[2]))
sys.exit(main(["repair", "--older-than", "0"]))
"""


def _cli(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "assetstore", *args],
        env={**os.environ, **env, "ASSETSTORE_WORKERS": "2"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("backend", list(PLAN), indirect=True)
def test_a_reclaimed_push_never_commits_missing_files(backend: Backend, tmp_path: Path) -> None:
    provider = backend.provider
    files, ci, full, longest = PLAN[provider]
    count = full if FULL else ci
    source = tmp_path / "src"
    contents: dict[str, bytes] = {}
    env = subprocess_env(backend)
    rng = random.Random(20261203)
    figures: Counter[str] = Counter()
    for trial in range(count):
        # Half the files change in each trial: the push sends those and reuses the rest
        # from the newest committed version (a version reclaimed half-sent must not be
        # reused from).
        changed = {
            f"d{i % 8}/f{i:05d}.bin": os.urandom(4096)
            for i in range(files)
            if trial == 0 or i % 2 == trial % 2
        }
        for rel, data in changed.items():
            (source / rel).parent.mkdir(parents=True, exist_ok=True)
            (source / rel).write_bytes(data)
        contents.update(changed)
        spec = f"r:1.{trial}"
        delay = f"{rng.uniform(0, longest):.3f}"
        reclaimer = subprocess.Popen(
            [sys.executable, "-c", RECLAIMER, f"1.{trial}", delay],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert reclaimer.stdout is not None and reclaimer.stdout.readline() == "ready\n"
        packing = ["--no-pack"] if trial % 2 else []
        push = _cli(["push", str(source), spec, *packing], env)
        out, err = push.communicate(timeout=300)
        repair_out, repair_err = reclaimer.communicate(timeout=300)
        repair = subprocess.CompletedProcess([], reclaimer.returncode, repair_out, repair_err)
        figures[f"push exit {push.returncode}"] += 1
        figures[f"reclaimer exit {repair.returncode}"] += 1
        figures["reclaimed by the repair"] += f"reclaimed {spec}:" in repair.stdout
        assert repair.returncode in (0, 7), repair.stderr
        assert len(err.strip().splitlines()) <= 2, err  # a warning at most, one error line
        if push.returncode == 0:
            assert out.strip() == spec
            store = backend.store()
            pulled = store.get(spec)  # verified against the manifest while downloading
            got = {p.relative_to(pulled).as_posix(): p.read_bytes() for p in pulled.rglob("*.bin")}
            assert got == contents, f"trial {trial}: a committed version differs"
        else:
            assert push.returncode == 4 and "reclaimed" in err, (push.returncode, err)
    # A reclaimer that found the push still writing left its decision to a later repair.
    final = subprocess.run(
        [sys.executable, "-m", "assetstore", "repair", "--older-than", "0"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert final.returncode == 0, final.stderr
    audit = audit_bucket(backend.raw, backend.key("").rstrip("/"))
    assert audit.problems == [] and audit.reservations == [] and audit.orphans == []
    committed = {v for (name, v) in audit.manifests if name == "r"}
    assert committed == {Version(1, t) for t in range(count)} & committed
    assert not [k for k in backend.raw.find(backend.bucket) if k.endswith(".outcome")]
    figures["committed"] = len(committed)
    write_report(f"reclaim_race_{provider}", dict(sorted(figures.items())), tmp_path)
    # A reclaimed number is free again: the same push now succeeds.
    lost = sorted({Version(1, t) for t in range(count)} - committed)
    if lost:
        again = subprocess.run(
            [sys.executable, "-m", "assetstore", "push", str(source), f"r:{lost[0]}"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert again.returncode == 0, again.stderr
