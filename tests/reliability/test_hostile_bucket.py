"""A hostile or corrupted bucket, and symlink tricks in the assets dir: refused with
clear errors and documented exit codes, nothing written outside the assets dir, nothing
partial installed. Bucket cases run on the `local` provider and on S3 (moto)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import ByteCounter, run_cli_process

from assetstore import AssetStore, CacheError, IntegrityError, Version
from assetstore.model import manifest as manifest_module

from .support import sha256_bytes

Tree = Callable[..., Path]
SHA = "sha256:" + "0" * 64


@dataclass
class Bucket:
    """A store's backend, and a way to write behind its back."""

    env: dict[str, str]
    raw: Any
    root: str  # bucket/prefix on ``raw``

    def put(self, key: str, data: bytes) -> None:
        self.raw.pipe_file(f"{self.root}/{key}", data)

    def manifest(self, name: str, version: str, /, **fields: Any) -> None:
        body: dict[str, Any] = {
            "format": 1, "name": name, "version": version, "kind": "dir", "metadata": {},
            "pushed_at": "2026-01-01T00:00:00+00:00", "pushed_by": "mallory",
            "files": [{"path": "a", "size": 1, "sha256": SHA}],
        }  # fmt: skip
        body.update(fields)
        self.put(f".manifests/{name}/{version}.json", json.dumps(body).encode())


@pytest.fixture(params=["local", "s3"])
def bucket(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Bucket]:
    cache = {"ASSETSTORE_ASSETS_DIR": str(tmp_path / "home" / "assets")}
    (tmp_path / "home" / "assets").mkdir(parents=True)
    if request.param == "local":
        from fsspec.implementations.local import LocalFileSystem

        folder = str(tmp_path / "bucket")
        env = {"ASSETSTORE_STORAGE_PROVIDER": "local", "ASSETSTORE_STORAGE_BUCKET": folder}
        yield Bucket({**env, **cache}, LocalFileSystem(auto_mkdir=True), f"{folder}/assets")
        return
    s3 = request.getfixturevalue("moto_s3")
    name = s3.bucket(f"hostile-{abs(hash(request.node.nodeid)) % 10**8}")
    yield Bucket({**s3.env(name), **cache}, s3.raw, f"{name}/assets")
    s3.raw.rm(name, recursive=True)


def _outside(tmp_path: Path) -> set[Path]:
    """Everything under the test's folder but the assets dir and the local bucket."""
    inside = (tmp_path / "home" / "assets", tmp_path / "bucket")
    return {p for p in tmp_path.rglob("*") if not any(p == i or i in p.parents for i in inside)}


def _nothing_installed(store: AssetStore, name: str, version: str) -> None:
    v = Version.parse(version)
    assert not store.cache.version_dir(name, v).exists()
    assert not store.cache.manifest_file(name, v).exists()
    staging = store.cache.state / "staging"
    assert not staging.exists() or not any(staging.iterdir())


def _at(stored_at: Any) -> dict[str, Any]:
    return {"path": "a", "size": 1, "sha256": SHA, "stored_at": stored_at}


HOSTILE = [
    ("dotdot", {"files": [{"path": "../../../escape", "size": 1, "sha256": SHA}]}, "'..'"),
    ("absolute", {"files": [{"path": "/tmp/escape", "size": 1, "sha256": SHA}]}, "relative"),
    ("backslash", {"files": [{"path": "..\\escape", "size": 1, "sha256": SHA}]}, "backslash"),
    ("dotdot-dir", {"empty_dirs": ["a/../../escape"]}, "'..'"),
    ("duplicate", {"files": [{"path": "a", "size": 1, "sha256": SHA}] * 2}, "duplicate"),
    (
        "file-and-folder",
        {
            "files": [
                {"path": "a", "size": 1, "sha256": SHA},
                {"path": "a/b", "size": 1, "sha256": SHA},
            ]
        },
        "both a file and a folder",
    ),
    ("negative-size", {"files": [{"path": "a", "size": -1, "sha256": SHA}]}, "non-negative"),
    ("bad-sha", {"files": [{"path": "a", "size": 1, "sha256": "md5:00"}]}, "sha256"),
    ("other-name", {"name": "evil"}, "names evil:0.0 instead"),
    ("other-version", {"version": "9.9"}, "names m:9.9 instead"),
    ("path-not-text", {"files": [{"path": 7, "size": 1, "sha256": SHA}]}, "must be a string"),
    ("dirs-not-a-list", {"empty_dirs": {"x": 1}}, "'empty_dirs' must be a list"),
    ("entry-not-an-object", {"files": [["a", 1]]}, "must be an object"),
    ("files-not-a-list", {"files": {"a": 1}}, "'files' must be a list"),
    ("unknown-format", {"format": 5}, "unsupported format"),
    ("format-4-with-files", {"format": 4}, "keeps its files in shards"),
    ("stored-at-dotdot", {"files": [_at("../../escape")]}, "invalid version"),
    ("stored-at-not-older", {"files": [_at("0.0/a")]}, "older than 0.0"),
    ("stored-at-not-text", {"files": [_at(["0.0/a"])]}, "must be a string"),
]


# Parsing is the same on every backend: every case on `local`, a few on S3.
ON_S3 = {"dotdot", "absolute", "duplicate", "other-name", "path-not-text"}
HOSTILE_RUNS = [
    pytest.param(where, *case, id=f"{where}-{case[0]}")
    for where in ("local", "s3")
    for case in HOSTILE
    if where == "local" or case[0] in ON_S3
]


@pytest.mark.parametrize(("bucket", "case", "fields", "reason"), HOSTILE_RUNS, indirect=["bucket"])
def test_hostile_manifests_are_refused_and_nothing_is_written(
    bucket: Bucket, tmp_path: Path, case: str, fields: dict[str, Any], reason: str
) -> None:
    bucket.manifest("m", "0.0", **fields)
    bucket.put("m/0.0/a", b"x")
    before = _outside(tmp_path)
    store = AssetStore.from_env(bucket.env)
    with pytest.raises(IntegrityError, match=reason.replace("\\", "\\\\")):
        store.get("m:0.0")
    if case in ("dotdot", "duplicate"):  # the command line: exit 5, one line
        done = run_cli_process(["-q", "pull", "m"], bucket.env)
        assert done.returncode == 5, done.stderr
        assert done.stderr.startswith("assetstore: error: manifest of m:0.0")
        assert len(done.stderr.strip().splitlines()) == 1
    _nothing_installed(store, "m", "0.0")
    assert _outside(tmp_path) == before
    assert not list(tmp_path.parent.glob("escape*")) and not Path("/tmp/escape").exists()


MALFORMED = [b"{not json", b"", b"\xff\xfe", b"[]", b"null", b'"text"', b"{" * 100_000,
             gzip.compress(b"{not json"), gzip.compress(b"{}")[:12], b"\x1f\x8b"]  # fmt: skip


@pytest.mark.parametrize(
    ("bucket", "data"),
    [*(("local", data) for data in MALFORMED), ("s3", b""), ("s3", b"{not json")],
    indirect=["bucket"],
)
def test_malformed_manifest_bytes_are_refused(bucket: Bucket, data: bytes) -> None:
    bucket.put(".manifests/m/0.0.json", data)
    store = AssetStore.from_env(bucket.env)
    assert store.versions("m") == [Version(0, 0)]  # listed: it is the commit point...
    with pytest.raises(IntegrityError, match="malformed"):  # ...but never trusted
        store.get("m")
    _nothing_installed(store, "m", "0.0")


def _lying(bucket: Bucket, declared: int, actual: bytes, sha: str | None = None) -> None:
    entry = {"path": "a", "size": declared, "sha256": sha or sha256_bytes(actual)}
    bucket.manifest("m", "0.0", files=[entry])
    bucket.put("m/0.0/a", actual)


@pytest.mark.parametrize(
    ("declared", "actual", "same_sha"),
    [
        (10, b"x" * 20, True),  # the object is larger than the manifest says
        (20, b"x" * 10, True),  # smaller
        (10**15, b"x" * 10, True),  # an absurd size: no allocation, no wait
        (0, b"x" * 10, True),  # an "empty" file that is not
        (10, b"y" * 10, False),  # the right size, other bytes
    ],
    ids=["larger", "smaller", "absurd", "not-empty", "other-bytes"],
)
def test_sizes_that_lie_are_integrity_failures(
    bucket: Bucket, declared: int, actual: bytes, same_sha: bool
) -> None:
    _lying(bucket, declared, actual, None if same_sha else sha256_bytes(b"x" * declared))
    store = AssetStore.from_env(bucket.env)
    with pytest.raises(IntegrityError, match="a does not match its manifest"):
        store.get("m")
    _nothing_installed(store, "m", "0.0")
    if declared == 10 and len(actual) == 20:  # the command line: exit 5
        done = run_cli_process(["-q", "pull", "m"], bucket.env)
        assert done.returncode == 5 and "does not match its manifest" in done.stderr


def test_a_reference_to_other_bytes_is_an_integrity_failure(bucket: Bucket) -> None:
    """A manifest whose file refers to an earlier version's object (``stored_at``) is
    held to the same check: the bytes found there must be the ones it declares."""
    bucket.manifest("m", "0.0", files=[{"path": "a", "size": 4, "sha256": sha256_bytes(b"evil")}])
    bucket.put("m/0.0/a", b"evil")
    entry = {"path": "b", "size": 4, "sha256": sha256_bytes(b"good"), "stored_at": "0.0/a"}
    bucket.manifest("m", "0.1", format=2, files=[entry])
    store = AssetStore.from_env(bucket.env)
    with pytest.raises(IntegrityError, match="b does not match its manifest"):
        store.get("m:0.1")
    _nothing_installed(store, "m", "0.1")
    assert (store.get("m:0.0") / "a").read_bytes() == b"evil"


@pytest.mark.parametrize("declared", [0, 1000, 6 * 2**20])
def test_an_object_larger_than_declared_is_not_read_to_its_end(
    bucket: Bucket, declared: int
) -> None:
    """A hostile bucket cannot make a pull download (or hold in memory) far more than
    the manifest declares: the transfer stops one chunk past the declared size."""
    _lying(bucket, declared, os.urandom(declared + 24 * 2**20))
    counted = ByteCounter()
    with pytest.raises(IntegrityError, match="does not match its manifest"):
        AssetStore.from_env(bucket.env).get("m", callback=counted)
    assert counted.bytes <= declared + 4 * 2**20 + 1


def test_a_lying_object_never_fills_memory(bucket: Bucket, tmp_path: Path) -> None:
    """The same, measured: a process pulling a 1,000-byte file that is really 200 MiB
    keeps its peak memory far below 200 MiB."""
    _lying(bucket, 1000, b"z" * (200 * 2**20))
    code = (
        "import sys\n"
        "from assetstore import AssetStore, IntegrityError\n"
        "try:\n    AssetStore.from_env().get('m')\nexcept IntegrityError:\n    pass\n"
        "else:\n    sys.exit('no IntegrityError')\n"
        # VmHWM, not ru_maxrss: the latter keeps the forking parent's peak across exec
        "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **bucket.env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    peak_kib = int(done.stdout.strip())
    assert peak_kib < 150 * 1024, f"peak RSS {peak_kib // 1024} MiB"


def test_an_enormous_file_count_is_refused(bucket: Bucket, monkeypatch: pytest.MonkeyPatch) -> None:
    """More entries than the limit (1,000,000; lowered here to keep the test small) is a
    malformed manifest, before any byte moves."""
    monkeypatch.setattr(manifest_module, "MAX_FILES", 1000)
    monkeypatch.setattr(manifest_module, "MAX_EMPTY_DIRS", 1000)
    entries = [{"path": f"f{i}", "size": 1, "sha256": SHA} for i in range(1001)]
    bucket.manifest("m", "0.0", files=entries)
    store = AssetStore.from_env(bucket.env)
    with pytest.raises(IntegrityError, match="at most 1000 entries"):
        store.get("m")
    bucket.manifest("m", "0.1", files=entries[:10], empty_dirs=[f"d{i}" for i in range(1001)])
    with pytest.raises(IntegrityError, match="at most 1000 entries"):
        store.get("m:0.1")
    _nothing_installed(store, "m", "0.0")


def test_a_folder_bomb_is_refused(bucket: Bucket, monkeypatch: pytest.MonkeyPatch) -> None:
    """A few bytes of manifest declaring many folders for few files (empty dirs, or
    deep paths) would make a pull create them all: refused before anything is written
    (the margin, 10,000 folders beyond one per file, is lowered here)."""
    monkeypatch.setattr(manifest_module, "EXTRA_FOLDERS", 100)
    store = AssetStore.from_env(bucket.env)
    bucket.manifest("m", "0.0", empty_dirs=[f"d{i}" for i in range(150)])
    with pytest.raises(IntegrityError, match="150 folders for 1 files"):
        store.get("m:0.0")
    deep = "/".join(f"s{i}" for i in range(120))
    files = [{"path": f"{deep}/x{i}/f", "size": 1, "sha256": SHA} for i in range(2)]
    bucket.manifest("m", "0.1", files=files)
    with pytest.raises(IntegrityError, match="folders for 2 files"):
        store.get("m:0.1")
    _nothing_installed(store, "m", "0.0")
    # At the real margin, through the CLI: 10,002 empty folders for one file.
    bucket.manifest("m", "0.2", empty_dirs=[f"d{i}" for i in range(10_002)])
    done = run_cli_process(["-q", "pull", "m:0.2"], bucket.env)
    assert done.returncode == 5 and "10002 folders for 1 files" in done.stderr, done.stderr
    _nothing_installed(store, "m", "0.2")


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("a\ud800b", "lone surrogate"),
        ("a\u2028b", "line separators"),
        ("a\x85b", "control characters"),
        ("x" * 256, "longer than 255 bytes"),
        ("/".join("d" * 129), "more than 128 segments"),
        ("/".join(["s"] * 990), "more than 128 segments"),
    ],
    ids=["surrogate", "line-separator", "c1-control", "long-segment", "deep", "very-deep"],
)
def test_paths_no_filesystem_can_hold_are_malformed(bucket: Bucket, path: str, why: str) -> None:
    """Refused as malformed (exit 5, one line): never an encoding error (7), a
    RecursionError (1), or a version that can be pushed and never pulled."""
    bucket.put(
        ".manifests/m/0.0.json",
        json.dumps({
            "format": 1, "name": "m", "version": "0.0", "kind": "dir", "metadata": {},
            "pushed_at": "2026-01-01T00:00:00+00:00", "pushed_by": "mallory",
            "files": [{"path": path, "size": 1, "sha256": SHA}],
        }).encode("utf-8", "surrogatepass"),
    )  # fmt: skip
    done = run_cli_process(["-q", "pull", "m:0.0"], bucket.env)
    assert done.returncode == 5, done.stderr
    assert why in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_file_inside_an_empty_dir_of_the_same_name_is_a_clash(bucket: Bucket) -> None:
    bucket.manifest("m", "0.0", empty_dirs=["a/b"])  # and the file "a"
    done = run_cli_process(["-q", "pull", "m:0.0"], bucket.env)
    assert done.returncode == 5 and "is both a file and a folder" in done.stderr, done.stderr


# A reservation is never read gzip-compressed: gzip bytes there are only unreadable,
# which the plain case covers.
@pytest.mark.parametrize(
    ("where", "gzip_it"),
    [("manifest", False), ("manifest", True), ("reservation", False)],
    ids=["manifest-plain", "manifest-gzip", "reservation-plain"],
)
def test_deeply_nested_json_is_malformed_not_a_crash(
    bucket: Bucket, make_tree: Tree, where: str, gzip_it: bool
) -> None:
    bomb = b"[" * 200_000 + b"]" * 200_000
    data = gzip.compress(bomb) if gzip_it else bomb
    if where == "manifest":
        bucket.put(".manifests/m/0.0.json", data)
        done = run_cli_process(["-q", "pull", "m:0.0"], bucket.env)
        assert done.returncode == 5 and "nested too deeply" in done.stderr, done.stderr
        return
    bucket.put(".manifests/m/2.0.reserved", data)
    source = make_tree({"a": b"1"})
    pushed = run_cli_process(
        ["-q", "push", str(source), "m:2.0", "--reclaim-after", "0"], bucket.env
    )
    assert pushed.returncode == 0, pushed.stderr  # unreadable: reclaimed
    bucket.put(".manifests/m/3.0.reserved", data)
    repaired = run_cli_process(["repair", "--older-than", "3600"], bucket.env)
    assert repaired.returncode == 0 and "reclaimed m:3.0" in repaired.stdout, repaired.stderr


def test_a_large_file_count_whose_objects_are_missing_fails_fast(
    bucket: Bucket, tmp_path: Path
) -> None:
    """50,000 listed files, none in the bucket: exit 3 at the first missing one, the
    rest cancelled, the staging folder removed."""
    entries = [{"path": f"d{i % 100}/f{i}", "size": 1, "sha256": SHA} for i in range(50_000)]
    bucket.manifest("m", "0.0", files=entries)
    done = run_cli_process(["-q", "pull", "m"], bucket.env, timeout=60)
    assert done.returncode == 3, done.stderr
    assert "not found" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    _nothing_installed(AssetStore.from_env(bucket.env), "m", "0.0")


def test_stray_objects_in_the_bucket_are_ignored(bucket: Bucket, make_tree: Tree) -> None:
    """Keys that look almost like versions, data without a manifest, files a manifest
    does not list: none of them is a version, none reaches the cache, none breaks a
    listing."""
    store = AssetStore.from_env(bucket.env)
    store.push(make_tree({"a.txt": b"real"}), "m")
    bucket.put(".manifests/m/01.2.json", b"{}")  # not canonical: not a version
    bucket.put(".manifests/m/00.1.reserved", b"junk")
    bucket.put(".manifests/m/3.0.json.tmp", b"{}")
    bucket.put("m/0.0/extra.bin", b"not listed")  # beside a committed version's files
    bucket.put("m/7.0/half.bin", b"no manifest")  # an interrupted push's data
    bucket.put(".manifests/m/2.0.reserved", b"\x00not json")  # an unreadable reservation
    assert store.versions("m") == [Version(0, 0)]
    path = store.get("m")
    assert sorted(p.name for p in path.iterdir()) == ["a.txt"]
    assert all(r.ok for r in store.verify())
    done = run_cli_process(["-q", "versions", "m"], bucket.env)
    assert (done.returncode, done.stdout) == (0, "0.0\n")
    repaired = run_cli_process(["repair", "--older-than", "3600"], bucket.env)
    assert repaired.returncode == 0 and "reclaimed m:2.0" in repaired.stdout  # unreadable
    assert run_cli_process(["-q", "push", str(path), "m:2.0"], bucket.env).returncode == 0


# -- symlink tricks in the assets dir -------------------------------------------------
@pytest.fixture
def local_store(local_env: dict[str, str], make_tree: Tree, tmp_path: Path) -> AssetStore:
    store = AssetStore.from_env()
    store.push(make_tree({"a.txt": b"asset bytes", "d/b.txt": b"more"}), "m")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "precious.txt").write_bytes(b"keep me")
    return store


def _outside_untouched(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    assert sorted(p.name for p in outside.rglob("*")) == ["precious.txt"]
    assert (outside / "precious.txt").read_bytes() == b"keep me"


@pytest.mark.parametrize(
    "link",
    ["m", "m/0.0", ".assetstore/staging", ".assetstore/manifests", ".assetstore/locks"],
)
def test_a_symlink_leading_out_of_the_assets_dir_is_refused(
    local_store: AssetStore, local_env: dict[str, str], tmp_path: Path, link: str
) -> None:
    planted = local_store.cache.root / link
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.symlink_to(tmp_path / "outside", target_is_directory=True)
    if link == "m/0.0":  # a planted version is only trusted if it has a manifest copy
        local_store.cache.manifest_file("m", Version(0, 0)).parent.mkdir(parents=True)
    with pytest.raises(CacheError, match="a symlink in the assets dir leads it out"):
        AssetStore.from_env().get("m:0.0", force=True)
    done = run_cli_process(["-q", "pull", "--force", "m:0.0"], local_env)
    assert done.returncode == 8, done.stderr
    assert "symlink in the assets dir leads it out" in done.stderr
    _outside_untouched(tmp_path)


def test_a_symlinked_resume_folder_is_refused(
    local_env: dict[str, str], make_tree: Tree, tmp_path: Path
) -> None:
    """Large files download through .assetstore/partial/ (to resume them): a link
    planted there is refused too."""
    store = AssetStore.from_env()
    store.push(make_tree({"big.bin": os.urandom(17 * 2**20)}), "big")
    (tmp_path / "outside").mkdir()
    store.cache.state.mkdir(parents=True, exist_ok=True)
    (store.cache.state / "partial").symlink_to(tmp_path / "outside", target_is_directory=True)
    with pytest.raises(CacheError, match="a symlink in the assets dir leads it out"):
        store.get("big")
    assert list((tmp_path / "outside").iterdir()) == []


@pytest.mark.parametrize("dangling", [False, True], ids=["to-a-file", "dangling"])
def test_a_symlink_planted_as_a_partial_download_is_never_written_through(
    local_env: dict[str, str], make_tree: Tree, tmp_path: Path, dangling: bool
) -> None:
    """A link planted at .assetstore/partial/<sha256> (the resumable download of a file
    of 16 MiB or more) does not make a pull create, truncate or fill the file it points
    to, nor end up as the version's file: the pull replaces it and succeeds."""
    data = os.urandom(17 * 2**20)
    store = AssetStore.from_env()
    pushed = store.push(make_tree({"big.bin": data}), "big")
    (tmp_path / "outside").mkdir()
    target = tmp_path / "outside" / ("created-here" if dangling else "precious.txt")
    if not dangling:
        target.write_bytes(b"keep me")
    partial = store.cache.state / "partial"
    partial.mkdir(parents=True)
    (partial / pushed.files[0].sha256.removeprefix("sha256:")).symlink_to(target)
    done = run_cli_process(["-q", "pull", "big"], local_env)
    assert done.returncode == 0, done.stderr
    installed = Path(done.stdout.strip()) / "big.bin"
    assert not installed.is_symlink() and installed.read_bytes() == data
    if dangling:
        assert not target.exists()
    else:
        assert target.read_bytes() == b"keep me"
    assert all(r.ok for r in AssetStore.from_env().verify())


@pytest.mark.parametrize("kind", ["progress", "lock", "partial-lock", "hashes"])
def test_a_symlink_planted_as_a_cache_file_is_never_followed(
    local_env: dict[str, str], make_tree: Tree, tmp_path: Path, kind: str
) -> None:
    """The heartbeat (``locks/<name>/<version>.progress``), the lock files and the hash
    cache are opened without following a link: a dangling one planted there creates
    nothing outside the assets dir, and the command still works."""
    data = os.urandom(17 * 2**20)
    source = make_tree({"big.bin": data})
    store = AssetStore.from_env()
    pushed = store.push(source, "big")
    target = tmp_path / "outside" / "created-here"
    target.parent.mkdir()
    state = store.cache.state
    planted = {
        "progress": state / "locks" / "big" / "0.0.progress",
        "lock": state / "locks" / "big" / "0.0.lock",
        "partial-lock": state / "partial" / (pushed.files[0].sha256[7:] + ".lock"),
        "hashes": state / "hashes.db",
    }[kind]
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.unlink(missing_ok=True)
    planted.symlink_to(target)
    args = ["push", str(source), "big"] if kind == "hashes" else ["pull", "big"]
    done = run_cli_process(["-q", *args], {**local_env, "ASSETSTORE_WORKERS": "1"})
    assert done.returncode == 0, done.stderr
    assert not target.exists()


def test_prune_never_deletes_through_a_symlink(
    local_store: AssetStore, local_env: dict[str, str], tmp_path: Path
) -> None:
    """A version folder replaced by a link to a folder elsewhere: prune refuses to
    remove it (it would rename and delete the folder the link points to)."""
    local_store.get("m")
    version = local_store.cache.version_dir("m", Version(0, 0))
    os.rename(version, tmp_path / "moved")
    version.symlink_to(tmp_path / "outside", target_is_directory=True)
    with pytest.raises(CacheError, match="symlink in the assets dir leads it out"):
        local_store.prune(local_store.plan_prune(keep=0))
    done = run_cli_process(["prune", "--keep", "0"], local_env)
    assert done.returncode == 8, done.stderr
    _outside_untouched(tmp_path)


def test_a_cached_file_swapped_for_a_symlink_is_caught_and_repaired(
    local_store: AssetStore, local_env: dict[str, str], tmp_path: Path
) -> None:
    path = local_store.get("m")
    (path / "a.txt").unlink()
    (path / "a.txt").symlink_to(tmp_path / "outside" / "precious.txt")
    [result] = local_store.verify()
    assert result.problems == ("a.txt: missing",)
    done = run_cli_process(["verify"], local_env)
    assert done.returncode == 5 and "corrupt in the cache: m:0.0" in done.stderr
    repaired = run_cli_process(["-q", "pull", "--force", "m"], local_env)
    assert repaired.returncode == 0, repaired.stderr
    assert (path / "a.txt").read_bytes() == b"asset bytes" and not (path / "a.txt").is_symlink()
    assert all(r.ok for r in local_store.verify())
    _outside_untouched(tmp_path)


def test_a_symlinked_assets_dir_itself_is_fine(
    local_env: dict[str, str], make_tree: Tree, tmp_path: Path
) -> None:
    """The assets dir may itself be a link (to a bigger disk): only links inside it that
    lead out of it are refused."""
    real = tmp_path / "big-disk" / "assets"
    real.mkdir(parents=True)
    linked = tmp_path / "assets-link"
    linked.symlink_to(real, target_is_directory=True)
    store = AssetStore.from_env({**local_env, "ASSETSTORE_ASSETS_DIR": str(linked)})
    store.push(make_tree({"a.txt": b"1"}), "m")
    assert (store.get("m") / "a.txt").read_bytes() == b"1"
    assert (real / "m" / "0.0" / "a.txt").exists()
    done = store.prune(store.plan_prune(keep=0))
    assert [f"{i.name}:{i.version}" for i in done.remove] == ["m:0.0"]


# -- the same lie on every object store --------------------------------------------------
@pytest.fixture(scope="module", params=["gcs", "az"])
def other_store(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The environment of a fresh bucket on fake-gcs-server or Azurite."""
    from .support import servers

    pytest.importorskip("gcsfs" if request.param == "gcs" else "adlfs")
    start = servers.fake_gcs if request.param == "gcs" else servers.azurite
    try:
        with start() as server:
            if request.param == "gcs":
                env = {"STORAGE_EMULATOR_HOST": server.endpoint_url, "GOOGLE_CLOUD_PROJECT": "t"}
            else:
                env = {"AZURE_STORAGE_CONNECTION_STRING": server.connection_string}
            yield {
                **env,
                "ASSETSTORE_STORAGE_PROVIDER": request.param,
                "ASSETSTORE_STORAGE_BUCKET": "hostile",
                "ASSETSTORE_AUTO_CREATE_BUCKET": "true",
            }
    except servers.ServerUnavailable as exc:
        servers.unavailable(f"{request.param}: {exc}")


@pytest.mark.parametrize("actual", [b"", b"x" * 30], ids=["emptied", "larger"])
def test_a_lying_object_is_an_integrity_failure_on_gcs_and_azure(
    other_store: dict[str, str], tmp_path: Path, make_tree: Tree, actual: bytes
) -> None:
    """GCS and Azure answer 416 to a range of an empty object, as S3 does: still exit 5."""
    env = {**other_store, "ASSETSTORE_ASSETS_DIR": str(tmp_path / "assets")}
    store = AssetStore.from_env(env)
    name = f"lie/{tmp_path.name[-20:].strip('_-.') or 'x'}"
    pushed = store.push(make_tree({"a": b"0123456789"}), name)
    store.remote.fs.pipe_file(store.remote.data_path(name, pushed.version, "a"), actual)
    with pytest.raises(IntegrityError, match="a does not match its manifest"):
        AssetStore.from_env({**env, "ASSETSTORE_ASSETS_DIR": str(tmp_path / "other")}).get(name)


# -- a cache that lies -----------------------------------------------------------------
def test_a_version_folder_without_its_manifest_copy_is_never_trusted(
    local_store: AssetStore, local_env: dict[str, str]
) -> None:
    """Only a folder installed with its manifest copy is a cached version: one found
    without it (the copy deleted, junk written in) is replaced by a verified download,
    not kept because a rename onto it failed."""
    path = local_store.get("m")
    local_store.cache.manifest_file("m", Version(0, 0)).unlink()
    (path / "a.txt").write_bytes(b"junk!")
    fresh = AssetStore.from_env()
    assert fresh.get("m:0.0[a.txt]").read_bytes() == b"asset bytes"
    assert all(r.ok for r in fresh.verify())
    done = run_cli_process(["-q", "pull", "m:0.0[a.txt]"], local_env)
    assert Path(done.stdout.strip()).read_bytes() == b"asset bytes"


@pytest.mark.parametrize("extra", ["dir-link", "file-link", "empty-dir", "file"])
def test_verify_reports_anything_beyond_the_manifest(
    local_store: AssetStore, local_env: dict[str, str], tmp_path: Path, extra: str
) -> None:
    path = local_store.get("m")
    if extra == "dir-link":
        (path / "etc").symlink_to(tmp_path / "outside", target_is_directory=True)
    elif extra == "file-link":
        (path / "d" / "x").symlink_to(tmp_path / "outside" / "precious.txt")
    elif extra == "empty-dir":
        (path / "d" / "new").mkdir()
    else:
        (path / "d" / "new.txt").write_bytes(b"")
    [result] = local_store.verify()
    assert not result.ok and len(result.problems) == 1, result.problems
    done = run_cli_process(["verify"], local_env)
    assert done.returncode == 5 and "not in the manifest" in done.stdout, done.stdout
    _outside_untouched(tmp_path)


def test_force_in_pre_downloaded_mode_says_it_needs_a_provider(
    local_store: AssetStore, local_env: dict[str, str]
) -> None:
    local_store.get("m")
    offline = {**local_env, "ASSETSTORE_STORAGE_PROVIDER": "", "ASSETSTORE_STORAGE_BUCKET": ""}
    done = run_cli_process(["-q", "pull", "--force", "m:0.0"], offline)
    assert done.returncode == 6 and "needs a storage provider" in done.stderr, done.stderr
    assert run_cli_process(["-q", "pull", "m:0.0"], offline).returncode == 0


@pytest.mark.parametrize("link", ["m/0.1", "m", ".manifests/m"])
def test_a_symlink_in_a_local_bucket_leading_out_is_refused(
    local_store: AssetStore, local_env: dict[str, str], make_tree: Tree, tmp_path: Path, link: str
) -> None:
    """As the cache does: a folder of a ``local`` bucket that a symlink leads out of
    the bucket is never written through by a push."""
    planted = Path(local_env["ASSETSTORE_STORAGE_BUCKET"]) / "assets" / link
    if planted.exists():
        os.rename(planted, tmp_path / "moved-away")
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.symlink_to(tmp_path / "outside", target_is_directory=True)
    done = run_cli_process(["-q", "push", str(make_tree({"z": b"1"})), "m:0.1"], local_env)
    assert done.returncode == 7 and "symlink in the bucket folder" in done.stderr, done.stderr
    _outside_untouched(tmp_path)
