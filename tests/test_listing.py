"""Seeing what is there: the long listings, repr(AssetStore), and the fields errors carry."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from assetstore import AssetNotFoundError, AssetStore, IntegrityError

Cli = Callable[..., tuple[int, str, str]]
Tree = Callable[..., Path]


@pytest.fixture
def three_versions(cli: Cli, local_env: dict[str, str], make_tree: Tree) -> None:
    for i in range(3):
        tree = make_tree({"a.bin": b"a" * (10 + i), "b.txt": b"b"})
        assert cli("push", str(tree), "models/bert")[0] == 0
    assert cli("push", str(make_tree({"w": b"w" * 5})), "vocab/en")[0] == 0
    assert cli("alias", "set", "models/bert@prod", "0.1")[0] == 0
    assert cli("alias", "set", "models/bert@canary", "0.2")[0] == 0
    assert cli("yank", "models/bert:0.2", "--reason", "broken tokenizer")[0] == 0


def test_versions_long_json_describes_each_version(cli: Cli, three_versions: None) -> None:
    code, out, _ = cli("versions", "models/bert", "--long", "--json")
    found = json.loads(out)
    assert code == 0
    assert [v["version"] for v in found] == ["0.2", "0.1", "0.0"]
    assert [v["size"] for v in found] == [13, 12, 11]
    assert {v["files"] for v in found} == {2}
    assert [v["aliases"] for v in found] == [["canary"], ["prod"], []]
    assert [v["yanked"] for v in found] == ["broken tokenizer", None, None]
    assert all(v["pushed_at"].startswith("20") and v["pushed_by"] for v in found)
    code, out, _ = cli("versions", "models/bert", "-l")
    lines = out.splitlines()
    assert "@canary" in lines[0] and "yanked: broken tokenizer" in lines[0]
    assert "@prod" in lines[1] and "13 B" in lines[0] and "2 files" in lines[2]


def test_list_long_json_gives_counts_and_the_latest_unyanked(
    cli: Cli, three_versions: None
) -> None:
    code, out, _ = cli("list", "--long", "--json")
    assert code == 0
    assert json.loads(out) == [
        {"name": "models/bert", "versions": 3, "latest": "0.1", "size": 12},
        {"name": "vocab/en", "versions": 1, "latest": "0.0", "size": 5},
    ]
    assert cli("list", "--json")[1] == json.dumps(["models/bert", "vocab/en"], indent=2) + "\n"


def test_long_listings_in_pre_downloaded_mode_read_the_assets_dir(
    cli: Cli, three_versions: None, local_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("pull", "models/bert@prod")[0] == 0
    monkeypatch.delenv("ASSETSTORE_STORAGE_PROVIDER")
    code, out, _ = cli("versions", "models/bert", "--long", "--json")
    assert code == 0
    assert [(v["version"], v["aliases"]) for v in json.loads(out)] == [("0.1", ["prod"])]
    code, out, _ = cli("list", "-l", "--json")
    assert json.loads(out) == [{"name": "models/bert", "versions": 1, "latest": "0.1", "size": 12}]


def test_repr_names_the_store_and_hides_secrets(tmp_path: Path) -> None:
    store = AssetStore.from_env(
        {"ASSETSTORE_STORAGE_PROVIDER": "s3", "ASSETSTORE_STORAGE_BUCKET": "team-bucket",
         "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEKEY", "AWS_SECRET_ACCESS_KEY": "s3cr3t-value"},
        assets_dir=tmp_path / "assets", prefix="ml",
    )  # fmt: skip
    text = repr(store)
    assert text == (
        f"AssetStore(provider='s3', bucket='team-bucket', prefix='ml', "
        f"assets_dir='{tmp_path / 'assets'}')"
    )
    assert "s3cr3t" not in text and "AKIA" not in text


def test_errors_carry_their_fields(store: AssetStore, make_tree: Tree) -> None:
    store.push(make_tree({"a.txt": b"good"}), "m")
    with pytest.raises(AssetNotFoundError) as missing:
        store.get("m:1")
    assert missing.value.spec == "m:1"
    assert missing.value.backend == store.remote.url
    with pytest.raises(AssetNotFoundError) as no_path:
        store.get("m:0.0[b.txt]")
    assert no_path.value.spec == "m:0.0[b.txt]"
    bucket = Path(store.settings.bucket or "")
    (bucket / "assets/m/0.0/a.txt").write_bytes(b"evil")
    with pytest.raises(IntegrityError) as bad:
        store.get("m:0.0", force=True)
    assert (bad.value.path, bad.value.name, bad.value.version) == ("a.txt", "m", "0.0")
    assert bad.value.expected is not None and bad.value.expected.startswith("sha256:")
    assert bad.value.actual not in (None, bad.value.expected)
    (bucket / "assets/m/0.0/a.txt").write_bytes(b"longer")
    with pytest.raises(IntegrityError) as short:
        store.get("m:0.0", force=True)
    # sizes when they differ (a download reads at most one byte past the manifest's size)
    assert short.value.expected == "4" and int(short.value.actual or 0) > 4
