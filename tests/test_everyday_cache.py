"""Partial pulls (--include/--exclude), the cache report (cache ls / rm, prune
--max-size), plain exports and the async API, as a user calls them."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

import assetstore
from assetstore import AssetStore
from assetstore.errors import AssetNotFoundError, CacheError, ExportConflictError

Cli = Callable[..., tuple[int, str, str]]
Tree = Callable[..., Path]
FILES = {"config.json": b"{}", "weights.bin": b"w" * 5000, "tok/vocab.txt": b"v" * 300}


def test_partial_pull_fetches_only_matches_and_a_full_get_completes_it(
    store: AssetStore, make_tree: Tree, cli: Cli, tmp_path: Path
) -> None:
    store.push(make_tree(FILES), "m")
    code, out, _ = cli("pull", "m:0.0", "--include", "*.json", "--include", "tok/")
    assert code == 0
    root = Path(out.strip())
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == [
        "config.json", "tok/vocab.txt"]  # fmt: skip
    assert not store.cache.has("m", assetstore.Version(0, 0))  # never the complete version
    offline = AssetStore.from_env(assets_dir=str(tmp_path / "cache"), provider="")
    with pytest.raises(AssetNotFoundError):
        offline.get("m:0.0")
    assert cli("cache", "ls", "--json")[1].count('"partial"') == 1
    assert cli("verify", "m")[0] == 0
    (root / "config.json").write_bytes(b"[]")  # corrupt what the partial version holds
    assert cli("verify", "m")[0] == 5
    assert store.get("m:0.0") == root  # completes it, fetching the changed file again
    assert (root / "weights.bin").read_bytes() == FILES["weights.bin"]
    assert (root / "config.json").read_bytes() == b"{}"
    assert not store.cache.partial_record("m", assetstore.Version(0, 0)).exists()


def test_two_partial_pulls_hold_the_union(store: AssetStore, make_tree: Tree) -> None:
    store.push(make_tree(FILES), "m")
    root = store.get("m:0.0", include=["*.json"])
    store.get("m:0.0", include=["tok/*"])
    held = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert held == ["config.json", "tok/vocab.txt"]
    with pytest.raises(AssetNotFoundError, match="no file"):
        store.get("m:0.0", include=["*.nothing"])


def test_cache_rm_and_prune_max_size(store: AssetStore, make_tree: Tree, cli: Cli) -> None:
    for i in range(3):
        store.push(make_tree({"w.bin": bytes([i]) * 10_000}), "m")
        path = store.get(f"m:0.{i}")
        os.utime(path, (1_000_000 + i, 1_000_000 + i))  # 0.0 used least recently
    listed = json.loads(cli("cache", "ls", "--json")[1])
    assert [(v["spec"], v["state"], v["files"]) for v in listed] == [
        ("m:0.0", "complete", 1), ("m:0.1", "complete", 1), ("m:0.2", "complete", 1)]  # fmt: skip
    code, out, _ = cli("prune", "--max-size", "25kB", "--json")
    assert code == 0
    assert [i["spec"] for i in json.loads(out)["remove"]] == ["m:0.0"]
    assert cli("prune", "--max-size", "lots")[0] == 2
    assert cli("cache", "rm", "m:0.1")[0] == 0
    assert [v.spec for v in store.cached_versions()] == ["m:0.2"]
    assert cli("cache", "rm", "m:0.1")[0] == 3
    lock = store.cache.locks.try_lock("m", assetstore.Version(0, 2))  # a pull holds it
    try:
        with pytest.raises(CacheError, match=r"kept m:0\.2"):
            AssetStore.from_env().remove_cached(["m"])
    finally:
        lock.release()  # type: ignore[attr-defined]
    assert store.cache.has("m", assetstore.Version(0, 2))


def test_export_is_plain_verified_and_refuses_to_overwrite(
    store: AssetStore, make_tree: Tree, cli: Cli, tmp_path: Path
) -> None:
    store.push(make_tree(FILES), "m")
    target = tmp_path / "out"
    code, out, _ = cli("export", "m:0.0", str(target), "--json")
    assert code == 0 and len(json.loads(out)["written"]) == 3
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()) == [
        "config.json", "tok/vocab.txt", "weights.bin"]  # fmt: skip
    assert json.loads(cli("export", "m:0.0", str(target), "--json")[1])["written"] == []
    (target / "config.json").write_bytes(b"mine")
    with pytest.raises(ExportConflictError):
        store.export("m:0.0", target)
    assert (target / "config.json").read_bytes() == b"mine"
    store.export("m:0.0", target, force=True)
    assert (target / "config.json").read_bytes() == b"{}"
    cached = store.get("m:0.0") / "weights.bin"
    cached.chmod(0o644)
    cached.write_bytes(b"x" * 5000)  # a poisoned cache is never exported
    with pytest.raises(assetstore.IntegrityError):
        store.export("m:0.0", tmp_path / "other")
    assert not (tmp_path / "other" / "weights.bin").exists()


def test_export_refuses_a_symlink_out_of_the_folder(
    store: AssetStore, make_tree: Tree, tmp_path: Path
) -> None:
    store.push(make_tree(FILES), "m")
    target, outside = tmp_path / "out", tmp_path / "outside"
    target.mkdir()
    outside.mkdir()
    (target / "tok").symlink_to(outside)
    with pytest.raises(CacheError, match="symlink"):
        store.export("m:0.0", target)
    assert list(outside.iterdir()) == []


def test_async_gets_run_concurrently_without_blocking_the_loop(
    store: AssetStore, make_tree: Tree
) -> None:
    for i in range(4):
        store.push(make_tree({"w.bin": bytes([i]) * 100_000}), f"m{i}")

    async def main() -> tuple[list[Path], int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        paths = await asyncio.gather(*(store.aget(f"m{i}") for i in range(4)),
                                     assetstore.aget("m0"))  # fmt: skip
        pushed = await store.apush(make_tree({"a": b"a"}), "new")
        assert (await store.ainfo(pushed.spec)).spec == "new:0.0"
        task.cancel()
        return list(paths), ticks

    paths, ticks = asyncio.run(main())
    assert [(p / "w.bin").read_bytes()[:1] for p in paths] == [bytes([i]) for i in (0, 1, 2, 3, 0)]
    assert ticks > 4  # the loop ran while the downloads did


def test_shell_completion_offers_names_and_versions_offline(
    store: AssetStore, make_tree: Tree, local_env: dict[str, str]
) -> None:
    import subprocess
    import sys

    for _ in range(2):
        store.push(make_tree(FILES), "models/bert", force_new=True)
    env = {**os.environ, **local_env, "ASSETSTORE_STORAGE_BUCKET": "/nonexistent/never-read",
           "_ASSETSTORE_COMPLETE": "zsh_complete"}  # fmt: skip

    def complete(words: str) -> list[str]:
        env.update(COMP_WORDS=words, COMP_CWORD="2")
        done = subprocess.run([sys.executable, "-m", "assetstore"], env=env, check=True,
                              capture_output=True, text=True)  # fmt: skip
        return done.stdout.splitlines()[1::3]

    assert complete("assetstore pull mod") == ["models/bert"]
    assert complete("assetstore pull models/bert:") == ["models/bert:0.1", "models/bert:0.0"]
