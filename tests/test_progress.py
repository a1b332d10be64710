"""Progress: what a callback hears of a push, a pull, a resumed pull and a multi-asset
pull, and the bar the CLI draws from it (on a terminal: tests/test_cli.py)."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from assetstore import AssetStore
from assetstore.cli import bar as cli_bar
from assetstore.transfer import pull
from assetstore.transfer.many import get_many

Tree = Callable[..., Path]


class Recorder:
    """A callback that keeps what it is told; ``at_full`` runs when the count first
    reaches the total."""

    def __init__(self, at_full: Callable[[], object] = lambda: None) -> None:
        self.size = 0
        self.value = 0
        self.peak = 0
        self.names: list[str] = []
        self.at_full = at_full
        self.seen_at_full: object = None

    def set_size(self, size: int | None) -> None:
        self.size = size or 0

    def relative_update(self, inc: int = 1) -> None:
        before, self.value = self.value, self.value + inc
        self.peak = max(self.peak, self.value)
        if before < self.size <= self.value and self.seen_at_full is None:
            self.seen_at_full = self.at_full()

    def set_description(self, what: str) -> None:
        self.names.append(what)


def _uncache(store: AssetStore, name: str) -> None:
    """Leave ``name``'s newest version in the bucket only (a push may cache it)."""
    version = store.resolve(name)
    if store.cache.has(name, version):
        store.cache.remove(name, version)


def test_a_push_reaches_its_total_only_once_the_version_is_committed(
    store: AssetStore, local_env: dict[str, str], make_tree: Tree
) -> None:
    manifest = Path(local_env["ASSETSTORE_STORAGE_BUCKET"]) / "assets/.manifests/m/0.0.json"
    tree = make_tree({"a.bin": os.urandom(3 * 2**20), "b.txt": b"hello"})
    heard = Recorder(at_full=manifest.is_file)
    store.push(tree, "m", callback=heard)
    assert heard.names == ["m:0.0"]
    assert heard.size == 3 * 2**20 + 5 + 1  # the bytes, and the commit
    assert heard.value == heard.peak == heard.size
    assert heard.seen_at_full is True


def test_a_resumed_pull_counts_the_bytes_it_already_had(
    store: AssetStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pull, "RESUMABLE_SIZE", 2**20)
    data = os.urandom(9 * 2**20 + 11)
    (tmp_path / "w.bin").write_bytes(data)
    store.push(tmp_path / "w.bin", "m")
    _uncache(store, "m")
    partial = store.cache.state / "partial" / hashlib.sha256(data).hexdigest()
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(data[: len(data) // 2])
    heard = Recorder()
    store.get("m", callback=heard)
    assert heard.names == ["m:0.0"]
    assert heard.value == heard.peak == heard.size == len(data)


def test_a_multi_asset_pull_is_one_total_naming_every_asset(
    store: AssetStore, tmp_path: Path
) -> None:
    sizes = {"a": 2 * 2**20 + 1, "b": 700_000, "c": 3}
    for name, size in sizes.items():
        (tmp_path / name).write_bytes(os.urandom(size))
        store.push(tmp_path / name, f"x/{name}")
    for name in sizes:
        _uncache(store, f"x/{name}")
    heard = Recorder()
    found = get_many(store.settings, AssetStore, [f"x/{n}" for n in sizes], callback=heard)
    assert all(isinstance(path, Path) for path in found)
    assert heard.size == heard.value == heard.peak == sum(sizes.values())
    assert heard.names[0] == "3 assets"
    assert sorted(heard.names[-1].split(", ")) == ["x/a:0.0", "x/b:0.0", "x/c:0.0"]


def test_an_fsspec_tqdm_callback_plugs_in(store: AssetStore, tmp_path: Path) -> None:
    from fsspec.callbacks import TqdmCallback

    (tmp_path / "f").write_bytes(os.urandom(100_000))
    store.push(tmp_path / "f", "m")
    _uncache(store, "m")
    drawn = io.StringIO()
    callback = TqdmCallback(tqdm_kwargs={"file": drawn, "unit": "B"})
    store.get("m", callback=callback)
    assert callback.tqdm.n == callback.tqdm.total == 100_000
    callback.close()
    assert "100000/100000" in drawn.getvalue()


def test_the_bar_names_what_moves_with_bytes_rate_and_time_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drawn = io.StringIO()
    monkeypatch.setattr(cli_bar.sys, "stderr", drawn)
    bar = cli_bar.Bar("models/bert", held_back=1)
    bar.set_size(2 * 2**20 + 1)
    bar.set_description("models/bert:1.2")
    bar.relative_update(2**20 + 1)
    half = str(bar.tqdm)
    bar.relative_update(2**20 - 1)
    sent = str(bar.tqdm)
    bar.relative_update(1)
    committed = str(bar.tqdm)
    bar.close()
    assert half.startswith("models/bert:1.2   50%")
    assert "1.0 MiB / 2.0 MiB" in half
    assert "/s," in half
    assert half.endswith(" left")
    assert " 99%" in sent and "2.0 MiB / 2.0 MiB" in sent  # all sent, not yet committed
    assert "100%" in committed and "2.0 MiB / 2.0 MiB" in committed
