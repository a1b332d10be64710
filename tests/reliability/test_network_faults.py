"""Network faults between assetstore and a real S3 server (moto): a seeded proxy
answers 500 / 503 SlowDown / 429, resets connections mid-body, truncates responses and
stalls past the read timeout on 10% of requests, while threads run mixed pushes and
pulls through the library, and through the CLI for exit codes.

Every operation must succeed with verified bytes or fail with a documented exit code
(never 1), within the bound its retry settings imply; afterwards, read through a clean
client, the bucket holds only complete versions whose bytes are exactly one pusher's,
every reported push is there, every cache verifies, and ``repair`` removes whatever the
failed pushes could not clean up themselves.

CI runs 90 operations; ``ASSETSTORE_TEST_FULL_RELIABILITY=1`` runs 1,000 (see
docs/reliability.md for the figures and the command).
"""

from __future__ import annotations

import logging
import random
import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli_process

from assetstore import AssetStore, Version
from assetstore.errors import AssetStoreError

from .conftest import FULL, trials
from .support import (
    EXIT_CODES,
    S3,
    BucketAudit,
    HeadSafeFaultProxy,
    audit_bucket,
    cache_files,
    write_report,
)

pytestmark = pytest.mark.integration

NAMES = ("net/a", "net/b", "net/c")
FAULT_RATE = 0.10
SEED = 20261122
THREADS = 4
CLI_SHARE = 0.08  # of operations run as `assetstore` processes, for their exit codes
READ_TIMEOUT = 1.0
STALL_SECONDS = 1.6  # past the read timeout: the client gives up on the request first
RETRY_ATTEMPTS = 6
RETRY_DEADLINE = 10.0
# An operation is a handful of sequential backend calls; each gives up within the retry
# deadline plus one last attempt. 60 s is far beyond what a healthy run needs, and far
# below "hung".
OP_BOUND_SECONDS = 60.0
# A failure is allowed only as: 7 (the backend kept failing past the retry policy) or,
# for pushes of an explicit version, 4 (already taken).
ALLOWED = {"push": {7}, "push-explicit": {4, 7}, "pull": {7}}


@dataclass
class Outcome:
    op: int
    kind: str  # push, push-explicit, pull
    via: str  # lib, cli
    code: int  # 0 or the exit code (the exception's, in-process)
    seconds: float
    spec: str | None = None  # push: the version pushed; pull: the version installed
    error: str = ""
    files: dict[str, bytes] = field(default_factory=dict)  # pull: what the cache held
    sub_path: bool = False  # pull: of NAME[tag.txt], which fetches that file alone


def _source(root: Path, name: str, op: int | str, rng: random.Random) -> Path:
    """A tree whose every file but ``common.bin`` carries the op's tag: a version that
    mixed two pushes would show two tags."""
    folder = root / f"src-{op}-{name.replace('/', '_')}"
    tag = f"op-{op}|".encode()
    (folder / "d").mkdir(parents=True)
    (folder / "common.bin").write_bytes(name.encode() * 2000)  # unchanged: reused, not sent
    (folder / "tag.txt").write_bytes(tag)
    for i in range(rng.randint(1, 3)):
        size = rng.choice((1_000, 30_000, 150_000))
        (folder / "d" / f"x{i}.bin").write_bytes(tag + rng.randbytes(size))
    if rng.random() < 0.03:  # a few large files: several ranged reads, a multipart upload
        (folder / "big.bin").write_bytes(tag + rng.randbytes(6 * 2**20))
    return folder


class Workload:
    def __init__(self, s3: S3, bucket: str, proxy_url: str, tmp: Path, attempts: int) -> None:
        self.tmp = tmp
        self.env = s3.env(
            bucket,
            endpoint=proxy_url,
            ASSETSTORE_READ_TIMEOUT_SECONDS=str(READ_TIMEOUT),
            ASSETSTORE_CONNECT_TIMEOUT_SECONDS="2",
            ASSETSTORE_RETRY_ATTEMPTS=str(attempts),
            ASSETSTORE_RETRY_DEADLINE_SECONDS=str(RETRY_DEADLINE),
            ASSETSTORE_WORKERS="4",
            ASSETSTORE_PART_SIZE_MIB="5",
        )
        self.stores = [
            AssetStore.from_env({**self.env, "ASSETSTORE_ASSETS_DIR": str(tmp / f"cache{i}")})
            for i in range(THREADS)
        ]
        self.cli_cache = tmp / "cli-cache"
        self.pushed: list[str] = []  # versions reported pushed: pinned pulls choose among them
        self._lock = threading.Lock()
        self._local = threading.local()
        self._slot = iter(range(THREADS))

    def store(self) -> AssetStore:
        if not hasattr(self._local, "store"):
            with self._lock:
                self._local.store = self.stores[next(self._slot)]
        return self._local.store  # type: ignore[no-any-return]

    def run(self, op: int) -> Outcome:
        rng = random.Random(SEED * 1000 + op)
        name = rng.choice(NAMES)
        kind = "push" if rng.random() < 0.45 else "pull"
        via = "cli" if rng.random() < CLI_SHARE else "lib"
        if kind == "push":
            target = name
            if rng.random() < 0.15:
                kind, target = "push-explicit", f"{name}:{rng.randint(1, 3)}.{rng.randint(0, 9)}"
            return self._push(op, kind, via, target, _source(self.tmp, name, op, rng))
        return self._pull(op, via, self._pull_spec(name, rng), force=rng.random() < 0.1)

    def _pull_spec(self, name: str, rng: random.Random) -> str:
        with self._lock:
            mine = [s for s in self.pushed if s.startswith(f"{name}:")]
        roll = rng.random()
        if roll < 0.35 and mine:
            return rng.choice(mine)
        if roll < 0.5 and mine:
            return f"{rng.choice(mine).rsplit('.', 1)[0]}"  # name:MAJOR, the newest MAJOR.x
        if roll < 0.6:
            return f"{name}[tag.txt]"
        return name

    def _push(self, op: int, kind: str, via: str, target: str, source: Path) -> Outcome:
        started = time.monotonic()
        if via == "cli":
            done = run_cli_process(
                ["-q", "push", str(source), target, "--meta", f"op={op}"],
                {**self.env, "ASSETSTORE_ASSETS_DIR": str(self.cli_cache)},
            )
            outcome = Outcome(op, kind, via, done.returncode, time.monotonic() - started)
            if done.returncode == 0:
                outcome.spec = done.stdout.strip()
            else:
                outcome.error = done.stderr
        else:
            try:
                manifest = self.store().push(source, target, metadata={"op": str(op)})
            except AssetStoreError as exc:
                outcome = Outcome(op, kind, via, exc.exit_code, time.monotonic() - started)
                outcome.error = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # a bug: the CLI would exit 1
                outcome = Outcome(op, kind, via, 1, time.monotonic() - started)
                outcome.error = f"{type(exc).__name__}: {exc}"
            else:
                outcome = Outcome(op, kind, via, 0, time.monotonic() - started, manifest.spec)
        if outcome.code == 0:
            with self._lock:
                self.pushed.append(str(outcome.spec))
        return outcome

    def _pull(self, op: int, via: str, spec: str, *, force: bool) -> Outcome:
        started = time.monotonic()
        flags = ["--force"] if force else []
        if via == "cli":
            done = run_cli_process(
                ["-q", "pull", spec, *flags],
                {**self.env, "ASSETSTORE_ASSETS_DIR": str(self.cli_cache)},
            )
            outcome = Outcome(op, "pull", via, done.returncode, time.monotonic() - started)
            path = Path(done.stdout.strip()) if done.returncode == 0 else None
            outcome.error = done.stderr
        else:
            path = None
            try:
                path = self.store().get(spec, force=force)
                outcome = Outcome(op, "pull", via, 0, 0.0)
            except AssetStoreError as exc:
                outcome = Outcome(op, "pull", via, exc.exit_code, 0.0)
                outcome.error = f"{type(exc).__name__}: {exc}"
            except Exception as exc:
                outcome = Outcome(op, "pull", via, 1, 0.0, error=f"{type(exc).__name__}: {exc}")
            outcome.seconds = time.monotonic() - started
        if path is not None:
            root = path.parent if spec.endswith("]") else path
            outcome.spec = f"{spec.split(':')[0].split('[')[0]}:{root.name}"
            outcome.files = cache_files(root)  # read now: a later --force may swap it
            outcome.sub_path = spec.endswith("]")
        return outcome


class _RetryCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.retries: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("transient fault ("):
            self.retries[str(record.args[0]) if record.args else "?"] += 1  # type: ignore[index]


@dataclass(frozen=True)
class Profile:
    name: str
    rate: float
    attempts: int
    ci: int
    full: int


PROFILES = [
    # The figure: 10% of requests fail; the default-like retry policy absorbs it.
    Profile("network-faults", FAULT_RATE, RETRY_ATTEMPTS, ci=90, full=1000),
    # Harsh: 30% of requests fail and only 3 attempts are made, so that many operations
    # do fail, and the clean-up paths of failed pushes run under faults too.
    Profile("network-faults-harsh", 0.30, 3, ci=30, full=300),
]


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_mixed_pushes_and_pulls_through_a_faulty_network(
    profile: Profile, moto_s3: S3, tmp_path: Path
) -> None:
    count = trials(full=profile.full, ci=profile.ci)
    bucket = moto_s3.bucket(profile.name)
    seeded = AssetStore.from_env(
        {**moto_s3.env(bucket), "ASSETSTORE_ASSETS_DIR": str(tmp_path / "seed-cache")}
    )
    seed_rng = random.Random(SEED)
    for name in NAMES:  # one version of each name before the faults start
        seeded.push(_source(tmp_path, name, "seed", seed_rng), name, metadata={"op": "seed"})

    retries = _RetryCounter()
    logging.getLogger("assetstore").addHandler(retries)
    started = time.monotonic()
    try:
        with HeadSafeFaultProxy(
            moto_s3.endpoint_url, rate=profile.rate, seed=SEED, stall_seconds=STALL_SECONDS
        ) as proxy:
            work = Workload(moto_s3, bucket, proxy.url, tmp_path, profile.attempts)
            with ThreadPoolExecutor(THREADS) as pool:
                outcomes = list(pool.map(work.run, range(count)))
            faults = dict(proxy.counts)
    finally:
        logging.getLogger("assetstore").removeHandler(retries)
    elapsed = time.monotonic() - started

    _check_outcomes(outcomes)
    audit = audit_bucket(moto_s3.raw, f"{bucket}/assets")
    ambiguous = _check_bucket(audit, outcomes)
    cached = _check_caches(work, audit)
    leftovers = _repair_and_recheck(moto_s3, bucket, audit, tmp_path)

    seconds = sorted(o.seconds for o in outcomes)
    report: dict[str, Any] = {
        "full_run": FULL,
        "operations": count,
        "threads": THREADS,
        "fault_rate": profile.rate,
        "retry_attempts": profile.attempts,
        "retry_deadline_seconds": RETRY_DEADLINE,
        "read_timeout_seconds": READ_TIMEOUT,
        "stall_seconds": STALL_SECONDS,
        "seed": SEED,
        "by_kind": dict(sorted(Counter(f"{o.kind}/{o.via}" for o in outcomes).items())),
        "succeeded": sum(1 for o in outcomes if o.code == 0),
        "failed_by_exit_code": {
            str(k): v for k, v in sorted(Counter(o.code for o in outcomes if o.code).items())
        },
        "requests_through_proxy": sum(faults.values()),
        "faults_injected": {k: v for k, v in sorted(faults.items()) if k != "ok"},
        "retries_in_process": sum(retries.retries.values()),
        "retried_exceptions": dict(retries.retries.most_common(8)),
        "committed_versions": len(audit.manifests),
        "pushes_committed_but_reported_failed": len(ambiguous),
        **leftovers,
        "cached_versions_verified": cached,
        "op_seconds": {
            "median": round(statistics.median(seconds), 2),
            "p99": round(seconds[max(0, int(len(seconds) * 0.99) - 1)], 2),
            "max": round(seconds[-1], 2),
            "bound": OP_BOUND_SECONDS,
        },
        "elapsed_seconds": round(elapsed, 1),
    }
    write_report(profile.name, report, tmp_path)
    assert sum(report["faults_injected"].values()) >= count * profile.rate, report
    if profile.rate <= FAULT_RATE:  # at 10%, the retry policy absorbs nearly every fault
        assert report["failed_by_exit_code"].get("7", 0) <= count * 0.02, report


def _check_outcomes(outcomes: list[Outcome]) -> None:
    """Every operation succeeded, or failed with a documented, expected exit code (as a
    one-line message, on the command line), within the bound."""
    unexpected = [o for o in outcomes if o.code and o.code not in ALLOWED[o.kind]]
    assert not unexpected, [(o.op, o.kind, o.via, o.code, o.error) for o in unexpected[:5]]
    assert all(o.code in EXIT_CODES for o in outcomes)
    for o in outcomes:
        if o.via == "cli" and o.code:
            assert o.error.startswith("assetstore: error: "), o.error
            assert len(o.error.strip().splitlines()) == 1, o.error
    slowest = max(outcomes, key=lambda o: o.seconds)
    assert slowest.seconds < OP_BOUND_SECONDS, slowest


def _check_bucket(audit: BucketAudit, outcomes: list[Outcome]) -> list[str]:
    """Complete versions whose bytes are one pusher's; every push reported done is there
    with its own bytes; every pull got the committed bytes. Returns the pushes that
    reported a failure although their version was committed."""
    assert not audit.problems, audit.problems[:5]
    for (name, version), files in audit.contents.items():
        op = audit.manifests[(name, version)].metadata["op"]
        assert files["common.bin"] == name.encode() * 2000
        tags = {data.split(b"|", 1)[0] for path, data in files.items() if path != "common.bin"}
        assert tags == {f"op-{op}".encode()}, f"{name}:{version} mixes {tags}"

    pushes = [o for o in outcomes if o.kind.startswith("push")]
    committed = {f"{n}:{v}": m for (n, v), m in audit.manifests.items()}
    for o in pushes:
        if o.code == 0:
            assert o.spec in committed, f"op {o.op}: {o.spec} reported pushed, but is not there"
            assert committed[str(o.spec)].metadata["op"] == str(o.op)
    reported = {str(o.op) for o in pushes if o.code == 0} | {"seed"}
    ambiguous = [m.spec for m in committed.values() if m.metadata["op"] not in reported]
    # A push whose commit landed but whose every answer was lost reports 7 although its
    # version exists (complete and verified above): the one ambiguous outcome.
    failed = {str(o.op) for o in pushes if o.code == 7}
    assert all(committed[s].metadata["op"] in failed for s in ambiguous), ambiguous

    for o in outcomes:
        if o.kind == "pull" and o.code == 0:
            name, version = str(o.spec).split(":")
            whole = audit.contents[(name, Version.parse(version))]
            if o.sub_path:  # NAME[tag.txt] fetches that file (unless all of it was there)
                assert "tag.txt" in o.files, o.spec
                whole = {path: data for path, data in whole.items() if path in o.files}
            assert o.files == whole, o.spec
    return ambiguous


def _check_caches(work: Workload, audit: BucketAudit) -> int:
    """Every cache holds only complete versions that verify and equal the bucket's, and
    no staging folder is left behind. Returns how many cached versions were checked."""
    cli = AssetStore.from_env({**work.env, "ASSETSTORE_ASSETS_DIR": str(work.cli_cache)})
    cached = 0
    for store in [*work.stores, cli]:
        results = store.verify()
        assert all(r.ok for r in results), [r for r in results if not r.ok]
        for name in store.cache.names():
            for version in store.cache.versions(name):
                cached += 1
                files = cache_files(store.cache.version_dir(name, version))
                assert files == audit.contents[(name, version)], f"{name}:{version}"
        staging = store.cache.state / "staging"
        assert not staging.exists() or not any(staging.iterdir())
    return cached


def _repair_and_recheck(s3: S3, bucket: str, audit: BucketAudit, tmp: Path) -> dict[str, int]:
    """What failed pushes could not remove themselves keeps its reservation, so that
    ``repair`` finds it; after repair no reservation and no orphan data remain."""
    reserved = set(audit.reservations)
    assert set(audit.orphans) <= reserved, (audit.orphans, audit.reservations)
    if reserved:
        time.sleep(1.1)  # reservations record whole seconds: make them older than 0 s
    clean = AssetStore.from_env({**s3.env(bucket), "ASSETSTORE_ASSETS_DIR": str(tmp / "repair")})
    repaired = clean.repair(older_than=0)
    assert all(r.reclaimed for r in repaired), [r.to_dict() for r in repaired]
    after = audit_bucket(s3.raw, f"{bucket}/assets")
    assert (after.reservations, after.orphans, after.problems) == ([], [], [])
    # A push that failed after deciding to commit is finished by repair, complete.
    assert after.manifests.keys() == audit.manifests.keys() | audit.decided
    return {
        "reservations_left_then_repaired": len(reserved),
        "orphan_data_folders_then_repaired": len(audit.orphans),
    }
