"""One of the processes of ``test_mixed_concurrency``: until its time is up, it pushes,
pulls, prunes and verifies overlapping assets on the store its environment describes
(one assets dir shared by all the processes), and writes one JSON line per operation.

    python mixed_worker.py WORKER_ID SEED SECONDS OUT_FILE WORK_DIR
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

from assetstore import AssetStore, Version
from assetstore.errors import AssetStoreError

NAMES = ("mix/a", "mix/b", "mix/c")
COMMON = b"shared by every version " * 500


def source(work: Path, worker: int, op: int, rng: random.Random) -> tuple[Path, str]:
    """A tree whose files all carry one tag (``common.bin`` excepted): a version whose
    files show two tags would mix two pushes."""
    tag = f"w{worker}-op{op}"
    folder = work / f"src-{tag}"
    (folder / "d").mkdir(parents=True)
    (folder / "common.bin").write_bytes(COMMON)
    for i in range(rng.randint(1, 6)):
        (folder / "d" / f"f{i}.bin").write_bytes(f"{tag}|".encode() + rng.randbytes(20_000))
    return folder, tag


def push(
    store: AssetStore, work: Path, worker: int, op: int, rng: random.Random, *, explicit: bool
) -> dict[str, Any]:
    """An unpinned push, or one of an explicit version others may race for."""
    name = rng.choice(NAMES)
    target = f"{name}:5.{rng.randint(0, 15)}" if explicit else name
    folder, tag = source(work, worker, op, rng)
    manifest = store.push(folder, target, metadata={"tag": tag})
    return {"spec": manifest.spec, "tag": tag}


def pull(store: AssetStore, rng: random.Random) -> dict[str, Any]:
    """Get a version, then open every file before reading any, as a service would: the
    bytes read must be the manifest's, whatever a concurrent prune does meanwhile."""
    name = rng.choice(NAMES)
    spec = name
    if rng.random() < 0.5:
        versions = store.versions(name)
        spec = f"{name}:{rng.choice(versions)}"
    root = store.get(spec)
    version = Version.parse(root.name)
    try:
        manifest = store.cache.manifest(name, version)
        streams = [(e, (root / e.path).open("rb")) for e in manifest.files]
    except (FileNotFoundError, AssetStoreError):
        # get() returned a complete version, then a prune removed it before we opened it
        return {"spec": f"{name}:{version}", "vanished_before_open": True}
    time.sleep(rng.uniform(0, 0.05))  # hold the files open while others prune
    tags = set()
    for entry, stream in streams:
        with stream:
            data = stream.read()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if (len(data), digest) != (entry.size, entry.sha256):
            raise AssertionError(f"{manifest.spec}: {entry.path} read back wrong bytes")
        if entry.path != "common.bin":
            tags.add(data.split(b"|", 1)[0].decode())
    return {"spec": manifest.spec, "tags": sorted(tags), "files": len(streams)}


def prune(store: AssetStore, rng: random.Random) -> dict[str, Any]:
    done = store.prune(store.plan_prune(keep=rng.choice((0, 1, 2))))
    return {"removed": len(done.remove)}


def verify(store: AssetStore) -> dict[str, Any]:
    results = store.verify()
    return {
        "checked": len(results),
        "bad": [(r.spec, list(r.problems)) for r in results if not r.ok],
    }


def choose(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.3:
        return "push-explicit" if roll < 0.07 else "push"
    if roll < 0.7:
        return "pull"
    return "prune" if roll < 0.85 else "verify"


def run(
    kind: str, store: AssetStore, work: Path, worker: int, op: int, rng: random.Random
) -> dict[str, Any]:
    if kind.startswith("push"):
        return push(store, work, worker, op, rng, explicit=kind == "push-explicit")
    if kind == "pull":
        return pull(store, rng)
    return prune(store, rng) if kind == "prune" else verify(store)


def main() -> None:
    worker, seed, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    out, work = Path(sys.argv[4]), Path(sys.argv[5])
    rng = random.Random(seed * 100 + worker)
    store = AssetStore.from_env()
    deadline = time.monotonic() + seconds
    op = 0
    with out.open("w") as log:
        while time.monotonic() < deadline:
            started = time.monotonic()
            kind = choose(rng)
            try:
                record = {"code": 0, **run(kind, store, work, worker, op, rng)}
            except AssetStoreError as exc:
                record = {"code": exc.exit_code, "error": f"{type(exc).__name__}: {exc}"}
            except Exception as exc:  # a bug: it would be exit code 1
                record = {"code": 1, "error": f"{type(exc).__name__}: {exc}"}
            seconds_taken = round(time.monotonic() - started, 3)
            record.update(kind=kind, worker=worker, op=op, seconds=seconds_taken)
            log.write(json.dumps(record) + "\n")
            log.flush()
            op += 1


if __name__ == "__main__":
    main()
