"""Warm gets: a cached version is served from a manifest parsed once per process, and
``assetstore.get`` reuses its store, but neither may serve anything stale: a changed
manifest, environment, working directory or config file is read again. Also: which
backend errors an unpinned spec falls back to the cache on, and what importing costs
in modules."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import assetstore
from assetstore import (
    AssetNotFoundError,
    AssetStore,
    BackendError,
    IntegrityError,
    Manifest,
    Version,
)
from assetstore import environment as store_module
from assetstore.cache import memo as cache_module
from assetstore.model.manifest import parse_manifest
from assetstore.repository.repository import Scan

Tree = Callable[..., Path]


@pytest.fixture
def pushed(store: AssetStore, make_tree: Tree) -> AssetStore:
    """``m:0.0`` (files ``a``, ``b``, ``d/c``, empty dir ``logs/old``) in the bucket."""
    store.push(make_tree({"a": b"A", "b": b"B", "d/c": b"C"}, empty_dirs=("logs/old",)), "m")
    return store


def manifest_copy(store: AssetStore) -> Path:
    return store.cache.manifest_file("m", Version(0, 0))


def rewrite_in_place(path: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Edit a cached manifest the hardest way to notice: same file (inode), same size,
    same modification time."""
    before = path.stat()
    raw = json.loads(path.read_bytes())
    edit(raw)
    data = json.dumps(raw, separators=(",", ":"), sort_keys=True).encode()
    assert len(data) == before.st_size
    with path.open("r+b") as stream:  # no truncation, no new inode
        stream.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_ino == before.st_ino


def rename_b_to_x(raw: dict[str, Any]) -> None:
    for entry in raw["files"]:
        if entry["path"] == "b":
            entry["path"] = "x"


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The manifests the cache parses (name:version), in order."""
    seen: list[str] = []
    real = parse_manifest

    def counting(data: bytes, *, name: str, version: Version) -> Manifest:
        seen.append(f"{name}:{version}")
        return real(data, name=name, version=version)

    monkeypatch.setattr(cache_module, "parse_manifest", counting)
    return seen


# -- the manifest memo -----------------------------------------------------------------
def test_an_unchanged_cached_manifest_is_parsed_once(pushed: AssetStore, parses: list[str]) -> None:
    first = pushed.get("m:0.0")
    for _ in range(3):
        assert pushed.get("m:0.0[d/c]").read_bytes() == b"C"
        assert AssetStore.from_env().get("m:0.0") == first  # another store, same process
        assert assetstore.get("m:0.0[a]") == first / "a"
    assert parses == []  # the download left its manifest in the memo: never parsed here
    cache_module.MANIFESTS.clear()
    for _ in range(3):
        assetstore.get("m:0.0")
    assert parses == ["m:0.0"]


@pytest.mark.parametrize("get", ["store", "module"])
def test_a_manifest_changed_on_disk_after_a_get_is_read_again(pushed: AssetStore, get: str) -> None:
    def fetch(spec: str) -> Path:
        return pushed.get(spec) if get == "store" else assetstore.get(spec)

    fetch("m:0.0")  # the whole version (a sub-path alone makes a partial one, no copy)
    assert fetch("m:0.0[b]").read_bytes() == b"B"
    rewrite_in_place(manifest_copy(pushed), rename_b_to_x)
    with pytest.raises(AssetNotFoundError, match="no file or folder 'b'"):
        fetch("m:0.0[b]")
    assert fetch("m:0.0[x]") == pushed.cache.version_dir("m", Version(0, 0)) / "x"


def test_a_change_the_file_stamps_do_not_show_is_still_seen(
    pushed: AssetStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A filesystem with coarse times may not change any stamp on a quick rewrite: a
    recently changed manifest is compared byte for byte, not trusted on its stamps."""
    monkeypatch.setattr(cache_module, "_identity_of", lambda info: (0, 0, 0, 0, 0))
    pushed.get("m:0.0")  # the download's own copy
    cache_module.MANIFESTS.clear()
    pushed.get("m:0.0[b]")  # read and parsed
    pushed.get("m:0.0[b]")  # read again: the file is recent
    rewrite_in_place(manifest_copy(pushed), rename_b_to_x)
    with pytest.raises(AssetNotFoundError, match="no file or folder 'b'"):
        pushed.get("m:0.0[b]")


def test_a_replaced_manifest_is_read_again(pushed: AssetStore) -> None:
    pushed.get("m:0.0")
    copy = manifest_copy(pushed)
    raw = json.loads(copy.read_bytes())
    rename_b_to_x(raw)
    replacement = copy.with_name("new.json")
    replacement.write_bytes(json.dumps(raw).encode())
    replacement.replace(copy)
    assert pushed.get("m:0.0[x]").name == "x"


def test_a_corrupted_manifest_fails_every_time_until_repaired(pushed: AssetStore) -> None:
    pushed.get("m:0.0")
    copy = manifest_copy(pushed)
    good = copy.read_bytes()
    copy.write_bytes(good[: len(good) // 2])
    for _ in range(2):
        with pytest.raises(IntegrityError, match="malformed"):
            pushed.get("m:0.0")
        with pytest.raises(IntegrityError, match="malformed"):
            assetstore.get("m:0.0")
    raw = json.loads(good)
    raw["version"] = "0.1"  # a manifest that lies about which version it is
    copy.write_bytes(json.dumps(raw).encode())
    with pytest.raises(IntegrityError, match=r"names m:0\.1 instead"):
        pushed.get("m:0.0")
    copy.write_bytes(good)
    assert pushed.get("m:0.0[a]").read_bytes() == b"A"


def test_a_pruned_version_is_downloaded_again(pushed: AssetStore) -> None:
    pushed.get("m:0.0")
    pushed.cache.remove("m", Version(0, 0))
    assert not manifest_copy(pushed).exists()
    assert (pushed.get("m:0.0") / "a").read_bytes() == b"A"


def test_sub_paths_name_files_folders_and_empty_folders(pushed: AssetStore) -> None:
    root = pushed.get("m:0.0")
    for sub_path in ["a", "d/c", "d", "logs", "logs/old"]:
        assert pushed.get(f"m:0.0[{sub_path}]") == root / sub_path
    for sub_path in ["c", "d/c/e", "lo", "logs/ol", "logs/old/x"]:
        with pytest.raises(AssetNotFoundError, match="no file or folder"):
            pushed.get(f"m:0.0[{sub_path}]")


def test_the_memo_holds_a_bounded_number_of_files() -> None:
    memo = cache_module.ManifestMemo(max_files=3, max_entries=10)
    manifests = []
    for i in range(3):
        entries = tuple(assetstore.FileEntry(f"f{j}", 1, "sha256:" + "0" * 64) for j in range(2))
        manifests.append(Manifest(f"m{i}", Version(0, 0), "dir", entries, "", ""))
    for i, manifest in enumerate(manifests):
        memo._keep(f"/x/{i}", cache_module._Memo((0, 0, 0, 0, i), manifest, None))
    assert list(memo._entries) == ["/x/2"]  # two files each: one manifest fits
    too_big = Manifest("big", Version(0, 0), "dir", manifests[0].files * 2, "", "")
    memo._keep("/x/big", cache_module._Memo((0, 0, 0, 0, 9), too_big, None))
    assert list(memo._entries) == ["/x/2"]


# -- pre-downloaded, read-only ---------------------------------------------------------
@pytest.fixture
def read_only_dir(pushed: AssetStore, tmp_path: Path) -> Iterator[Path]:
    deploy = tmp_path / "deploy"
    pushed.with_assets_dir(deploy).get("m:0.0")
    paths = [deploy, *deploy.rglob("*")]
    for path in paths:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    yield deploy
    for path in paths:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def test_module_get_serves_a_read_only_pre_downloaded_dir(
    read_only_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ASSETSTORE_STORAGE_PROVIDER")
    monkeypatch.delenv("ASSETSTORE_STORAGE_BUCKET")
    monkeypatch.setenv("ASSETSTORE_ASSETS_DIR", str(read_only_dir))
    before = sorted((str(p), p.stat().st_mtime_ns) for p in read_only_dir.rglob("*"))
    for _ in range(3):
        assert assetstore.get("m:0.0[a]").read_bytes() == b"A"
        assert assetstore.get("m").name == "0.0"
    assert sorted((str(p), p.stat().st_mtime_ns) for p in read_only_dir.rglob("*")) == before


# -- assetstore.get and its settings ---------------------------------------------------
def test_module_get_follows_the_environment(
    pushed: AssetStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = assetstore.get("m:0.0")
    monkeypatch.setenv("ASSETSTORE_ASSETS_DIR", str(tmp_path / "other"))
    assert assetstore.get("m:0.0") == tmp_path / "other" / "m" / "0.0"
    monkeypatch.setenv("ASSETSTORE_ASSETS_DIR", str(first.parent.parent))
    assert assetstore.get("m:0.0") == first
    monkeypatch.setenv("ASSETSTORE_WORKERS", "0")  # invalid: raised on each call
    for _ in range(2):
        with pytest.raises(assetstore.ConfigError, match="ASSETSTORE_WORKERS"):
            assetstore.get("m:0.0")
    monkeypatch.delenv("ASSETSTORE_WORKERS")
    monkeypatch.delenv("ASSETSTORE_STORAGE_PROVIDER")  # now pre-downloaded mode
    with pytest.raises(AssetNotFoundError, match="pre-downloaded mode"):
        assetstore.get("m:9.9")


def test_module_get_reads_an_explicit_environ_mapping(
    pushed: AssetStore, local_env: dict[str, str], tmp_path: Path
) -> None:
    environ = {**local_env, "ASSETSTORE_ASSETS_DIR": str(tmp_path / "one")}
    assert assetstore.get("m:0.0", environ=environ) == tmp_path / "one" / "m" / "0.0"
    environ["ASSETSTORE_ASSETS_DIR"] = str(tmp_path / "two")
    assert assetstore.get("m:0.0", environ=environ) == tmp_path / "two" / "m" / "0.0"


def test_module_get_follows_the_working_directory(
    pushed: AssetStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSETSTORE_ASSETS_DIR", "relative-cache")
    for folder in ["x", "y", "x"]:
        (tmp_path / folder).mkdir(exist_ok=True)
        monkeypatch.chdir(tmp_path / folder)
        assert assetstore.get("m:0.0") == tmp_path / folder / "relative-cache" / "m" / "0.0"


@pytest.mark.parametrize("settle", ["recent", "settled"])
def test_module_get_follows_the_config_file(
    pushed: AssetStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    settle: str,
) -> None:
    if settle == "settled":  # a config file old enough for its stamps to be trusted
        monkeypatch.setattr(store_module, "_SETTLE_NS", 0)
    bucket = os.environ["ASSETSTORE_STORAGE_BUCKET"]
    for key in ["ASSETSTORE_STORAGE_PROVIDER", "ASSETSTORE_STORAGE_BUCKET"]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "assetstore.yaml"

    def declare(prefix: str) -> None:
        config.write_text(
            "storage:\n"
            f"  backends: {{team: {{type: local, path: {bucket}}}}}\n"
            f"  stores: {{assets: {{backend: team, prefix: {prefix}}}}}\n"
        )

    declare("assets")
    assert assetstore.get("m:0.0[a]").read_bytes() == b"A"
    declare("elsewhere")  # no m:0.1 there
    with pytest.raises(AssetNotFoundError, match="elsewhere"):
        assetstore.get("m:0.1")
    config.unlink()  # no config, no provider: pre-downloaded mode
    with pytest.raises(AssetNotFoundError, match="pre-downloaded mode"):
        assetstore.get("m:0.1")


# -- resolving an unpinned spec when the backend fails ---------------------------------
def _failing(store: AssetStore, monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    async def fail(*args: object, **kwargs: object) -> AsyncIterator[list[object]]:
        raise exc
        yield []  # an async generator, as listings are

    monkeypatch.setattr(store.remote.backend, "listing", fail)


@pytest.mark.parametrize(
    ("exc", "fragment"),
    [
        (PermissionError(13, "Access Denied"), "permission denied"),
        (NotADirectoryError(20, "Not a directory"), "NotADirectoryError"),
        (ValueError("the backend answered nonsense"), "nonsense"),
    ],
)
def test_a_backend_that_answers_with_an_error_is_not_fallen_back_from(
    pushed: AssetStore,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    exc: BaseException,
    fragment: str,
) -> None:
    pushed.get("m:0.0")
    fresh = AssetStore.from_env(retry_attempts=1)
    _failing(fresh, monkeypatch, exc)
    with (
        caplog.at_level(logging.WARNING, logger="assetstore"),
        pytest.raises(BackendError, match=fragment),
    ):
        fresh.get("m")
    assert "cached match" not in caplog.text


@pytest.mark.parametrize(
    "exc", [ConnectionRefusedError(111, "Connection refused"), TimeoutError("timed out")]
)
def test_an_unreachable_backend_is_fallen_back_from(
    pushed: AssetStore, monkeypatch: pytest.MonkeyPatch, exc: BaseException
) -> None:
    cached = pushed.get("m:0.0")
    fresh = AssetStore.from_env(retry_attempts=1)
    _failing(fresh, monkeypatch, exc)
    assert fresh.get("m") == cached
    pushed.cache.manifest_file("m", Version(0, 0)).unlink()
    with pytest.raises(BackendError, match="unreachable"):  # nothing cached: the error
        fresh.get("m")


@pytest.mark.parametrize("unreachable", [True, False])
def test_the_remote_s_word_on_reachability_wins(
    pushed: AssetStore, monkeypatch: pytest.MonkeyPatch, unreachable: bool
) -> None:
    """``BackendError.unreachable``, when set, decides; the exception chain is only
    consulted when it is None."""
    cached = pushed.get("m:0.0")
    fresh = AssetStore.from_env()

    def scan(name: str) -> Scan:  # the one listing a resolution makes
        try:
            raise ConnectionResetError("reset")  # the chain alone would say unreachable
        except ConnectionResetError as exc:
            raise BackendError("listing failed", unreachable=unreachable) from exc

    monkeypatch.setattr(fresh.remote, "scan", scan)
    if unreachable:
        assert fresh.get("m") == cached
    else:
        with pytest.raises(BackendError, match="listing failed"):
            fresh.get("m")


# -- what importing loads --------------------------------------------------------------
def _loaded(code: str, env: dict[str, str]) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sys.modules))"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return set(done.stdout.split())


HEAVY = {
    "assetstore.repository", "assetstore.backends.base", "assetstore.transfer",
    "assetstore.cache.prune", "assetstore.catalog", "fsspec", "click", "sqlalchemy", "filelock",
    "concurrent.futures", "asyncio",
}  # fmt: skip


def test_importing_loads_the_exceptions_only() -> None:
    loaded = _loaded("import assetstore", {})
    assert {m for m in loaded if m.startswith("assetstore")} == {"assetstore", "assetstore.errors"}


def test_a_warm_get_loads_no_backend_code(pushed: AssetStore, local_env: dict[str, str]) -> None:
    pushed.get("m:0.0")
    loaded = _loaded("import assetstore; assetstore.get('m:0.0')", local_env)
    assert "assetstore.store" in loaded
    assert not loaded & HEAVY


def test_cli_help_loads_no_backend_code() -> None:
    loaded = _loaded("from assetstore.cli import main; main(['--help'])", {})
    assert "click" in loaded
    assert not loaded & (HEAVY - {"click"})
    assert "assetstore.store" not in loaded


def test_info_hands_out_a_manifest_of_its_own(pushed: AssetStore) -> None:
    pushed.get("m:0.0")
    pushed.info("m:0.0").metadata["mine"] = "changed"
    assert "mine" not in pushed.info("m:0.0").metadata
    assert "mine" not in AssetStore.from_env().info("m:0.0").metadata


def test_the_fast_path_check_agrees_with_the_explained_one() -> None:
    """``check_relpath`` accepts through one regex what ``_relpath_problem`` finds
    nothing wrong with; both must agree on every string."""
    import random

    from assetstore.model import paths

    alphabet = "ab./\\:C\x00\x1f\x7f\u00e9 "
    rng = random.Random(5)
    for _ in range(50_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        fast = paths._CLEAN.fullmatch(text) is not None
        assert fast == (paths._relpath_problem(text) is None), repr(text)
