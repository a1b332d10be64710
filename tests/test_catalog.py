"""The catalog: written through on push, rebuilt from the manifests, keyed by backend."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from assetstore import AssetStore, Version

Tree = Callable[..., Path]


def test_every_push_is_recorded(store: AssetStore, make_tree: Tree) -> None:
    store.push(make_tree({"a": b"12", "b/c": b"345"}), "m", metadata={"k": "v"})
    store.push(make_tree({"a": b"1"}), "m")
    entries = store.history("m")
    assert [str(e.version) for e in entries] == ["0.0", "0.1"]
    first = entries[0]
    assert (first.kind, first.total_size, first.file_count, first.metadata) == (
        "dir",
        5,
        2,
        {"k": "v"},
    )
    assert first.pushed_by == store.info("m:0.0").pushed_by


def test_deleting_the_catalog_loses_nothing(
    store: AssetStore, make_tree: Tree, local_env: dict[str, str]
) -> None:
    for _ in range(3):
        store.push(make_tree({"a": b"1"}), "m", force_new=True)
    store.push(make_tree({"x": b"1"}), "other")
    expected = [(e.name, e.version, e.total_size) for e in store.history()]
    store.catalog.engine.dispose()
    (store.cache.state / "catalog.db").unlink()

    fresh = AssetStore.from_env()
    assert fresh.history() == []
    assert fresh.versions("m") == [Version(0, 2), Version(0, 1), Version(0, 0)]  # still works
    report = fresh.sync_catalog()
    assert sorted(report.added) == ["m:0.0", "m:0.1", "m:0.2", "other:0.0"]
    assert report.unchanged == 0
    assert [(e.name, e.version, e.total_size) for e in fresh.history()] == expected
    assert fresh.sync_catalog().unchanged == 4


def test_sync_flags_rows_whose_manifest_is_gone_and_can_forget_them(
    store: AssetStore, make_tree: Tree
) -> None:
    store.push(make_tree({"a": b"1"}), "m")
    store.push(make_tree({"a": b"2"}), "m")
    manifest = store.remote.manifest_path("m", Version(0, 1))
    saved = store.remote.fs.cat_file(manifest)
    store.remote.fs.rm_file(manifest)
    assert store.sync_catalog().flagged_missing == ["m:0.1"]
    assert [e.missing_since is not None for e in store.history("m")] == [False, True]
    assert store.sync_catalog().flagged_missing == []  # flagged once, not again
    store.remote.fs.pipe_file(manifest, saved)
    assert store.sync_catalog().restored == ["m:0.1"]
    store.remote.fs.rm_file(manifest)
    assert store.sync_catalog(forget_missing=True).forgotten == ["m:0.1"]
    assert [str(e.version) for e in store.history("m")] == ["0.0"]


def test_one_catalog_indexes_several_backends(
    store: AssetStore, make_tree: Tree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSETSTORE_CATALOG_URL", f"sqlite:///{tmp_path / 'shared.db'}")
    a = AssetStore.from_env()
    b = AssetStore.from_env(bucket=str(tmp_path / "other-bucket"))
    a.push(make_tree({"a": b"1"}), "m")
    b.push(make_tree({"a": b"1"}), "m")
    b.push(make_tree({"a": b"1"}), "m", force_new=True)
    assert len(a.history("m")) == 1
    assert len(b.history("m")) == 2
    assert a.remote.url != b.remote.url


def test_an_unusable_catalog_does_not_fail_a_push(
    store: AssetStore,
    make_tree: Tree,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("ASSETSTORE_CATALOG_URL", "sqlite:////nonexistent-dir/x/catalog.db")
    pushed = AssetStore.from_env().push(make_tree({"a": b"1"}), "m")
    assert pushed.spec == "m:0.0"
    assert "catalog sync" in caplog.text


def test_one_malformed_manifest_does_not_stop_catalog_sync(
    store: AssetStore, make_tree: Tree, local_env: dict[str, str]
) -> None:
    """Every other manifest is indexed; each bad one is named; the exit code is 5."""
    import json

    from conftest import run_cli_process

    for name in ("a", "b", "c"):
        store.push(make_tree({"f": name.encode()}), name)
    bucket = Path(local_env["ASSETSTORE_STORAGE_BUCKET"]) / "assets" / ".manifests"
    (bucket / "b" / "0.0.json").write_bytes(b"{not json")
    store.catalog.engine.dispose()
    (store.cache.state / "catalog.db").unlink()
    done = run_cli_process(["catalog", "sync"], local_env)
    assert done.returncode == 5, done.stderr
    assert "skipped b:0.0: manifest of b:0.0 is malformed" in done.stdout
    assert "added a:0.0" in done.stdout and "added c:0.0" in done.stdout
    assert "b:0.0" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    as_json = json.loads(run_cli_process(["catalog", "sync", "--json"], local_env).stdout)
    assert [m["spec"] for m in as_json["malformed"]] == ["b:0.0"]
    assert sorted(e.name for e in AssetStore.from_env().history()) == ["a", "c"]


def test_one_reservation_that_cannot_be_reclaimed_does_not_stop_repair(
    store: AssetStore, make_tree: Tree, local_env: dict[str, str], tmp_path: Path
) -> None:
    import json

    from conftest import run_cli_process

    root = Path(local_env["ASSETSTORE_STORAGE_BUCKET"]) / "assets"
    owner = {"pushed_by": "ci", "host": "elsewhere", "reserved_at": "2020-01-01T00:00:00+00:00"}
    for name in ("a", "b"):
        (root / ".manifests" / name).mkdir(parents=True)
        (root / ".manifests" / name / "0.0.reserved").write_text(json.dumps(owner))
    (tmp_path / "outside").mkdir()
    (root / "a").mkdir()
    (root / "a" / "0.0").symlink_to(tmp_path / "outside", target_is_directory=True)
    done = run_cli_process(["repair", "--older-than", "60"], local_env)
    assert done.returncode == 7, done.stderr
    assert "failed a:0.0" in done.stdout and "reclaimed b:0.0" in done.stdout
    assert not (root / ".manifests" / "b" / "0.0.reserved").exists()
    assert (root / ".manifests" / "a" / "0.0.reserved").exists()
