"""Packs on the `local` provider and in pure functions: `tar -x` recovers a pack with no
assetstore, a deploy dir serves the sub-path it was pulled with, the CLI says what it
packs, and the pieces that cut and merge ranges keep their bounds."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from assetstore import AssetNotFoundError, AssetStore
from assetstore.model import pack

Cli = Callable[..., tuple[int, str, str]]
Tree = Callable[..., Path]


def small_files(count: int, size: int = 300) -> dict[str, bytes]:
    return {f"d{i % 4}/f{i:04d}.txt": os.urandom(size) for i in range(count)}


def tree_of(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in path.rglob("*") if p.is_file()}


@pytest.mark.skipif(shutil.which("tar") is None, reason="no tar command")
def test_tar_x_recovers_a_pack_with_no_assetstore(
    store: AssetStore, local_env: dict[str, str], make_tree: Tree, tmp_path: Path
) -> None:
    files = {**small_files(100), "naïve/ünïcode.txt": b"u", "a/" + "b" * 150: b"long"}
    store.push(make_tree(files), "data/x")
    bucket = Path(local_env["ASSETSTORE_STORAGE_BUCKET"])
    out = tmp_path / "untarred"
    out.mkdir()
    for found in sorted((bucket / "assets/data/x/0.0").glob("pack-*.tar")):
        subprocess.run(["tar", "-x", "-f", str(found), "-C", str(out)], check=True)
    assert tree_of(out) == files


def test_a_deploy_dir_serves_the_sub_path_it_was_pulled_with(
    cli: Cli, local_env: dict[str, str], make_tree: Tree, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    files = small_files(80)
    cli("push", str(make_tree(files)), "m")
    deploy = tmp_path / "deploy"
    code, out, err = cli("pull", "m[d1]", "--to", str(deploy))
    assert code == 0, err
    assert tree_of(Path(out.strip())) == {p[3:]: d for p, d in files.items() if p[:3] == "d1/"}
    monkeypatch.delenv("ASSETSTORE_STORAGE_PROVIDER")
    monkeypatch.delenv("ASSETSTORE_STORAGE_BUCKET")
    served = AssetStore.from_env(assets_dir=deploy)
    assert served.get("m[d1/f0005.txt]").read_bytes() == files["d1/f0005.txt"]
    with pytest.raises(AssetNotFoundError, match="not in the assets dir"):
        served.get("m[d2]")  # not pulled: the deploy dir does not hold it
    with pytest.raises(AssetNotFoundError, match="no version of m matches m in the assets"):
        served.get("m")  # the whole version is not there either


def test_push_dry_run_and_no_pack_say_what_goes_into_packs(
    cli: Cli, local_env: dict[str, str], make_tree: Tree
) -> None:
    tree = make_tree({**small_files(70), "big.bin": os.urandom(2 * 2**20)})
    code, out, _ = cli("push", str(tree), "m", "--dry-run")
    assert code == 0 and "(70 in packs)" in out.splitlines()[0]
    assert "pack  d0/f0000.txt" in out and "send  big.bin" in out
    code, out, _ = cli("push", str(tree), "m", "--dry-run", "--no-pack", "--json")
    assert code == 0 and '"packed_files": 0' in out
    assert cli("push", str(tree), "m", "--no-pack")[:2] == (0, "m:0.0\n")
    bucket = Path(local_env["ASSETSTORE_STORAGE_BUCKET"])
    assert not list((bucket / "assets/m/0.0").glob("pack-*"))


def test_config_mistakes_in_pack_settings_are_refused(local_env: dict[str, str]) -> None:
    from assetstore import ConfigError

    for env in ({"ASSETSTORE_PACK_MAX": "lots"}, {"ASSETSTORE_PACK_MIN_FILES": "0"},
                {"ASSETSTORE_PACK": "maybe"}, {"ASSETSTORE_PACK_FILE_MAX": "0"}):  # fmt: skip
        with pytest.raises(ConfigError, match=next(iter(env))):
            AssetStore.from_env({**local_env, **env})
    chosen = AssetStore.from_env({**local_env, "ASSETSTORE_PACK_MAX": "2MiB"}).settings
    assert chosen.pack_max == 2 * 2**20


def test_packs_are_cut_at_their_size_and_never_empty() -> None:
    files = [(f"f{i}", 1000) for i in range(10)] + [("huge", 10_000), ("after", 1)]
    packs = pack.split(files, 4096)
    assert all(packs) and [i for group in packs for i in group] == list(range(12))
    for group in packs:
        taken = sum(pack.packed_size(*files[i]) for i in group) + len(pack.END)
        assert taken <= 4096 or len(group) == 1
    assert [12 - 2 in g for g in packs].count(True) == 1


def test_reads_merge_neighbours_within_the_gap_and_the_most() -> None:
    located = [
        (0, 100, "a"),
        (100 + pack.READ_GAP, 10, "b"),
        (10**6, 10, "c"),
        (10**6 + 20, 5, "d"),
    ]
    merged = list(pack.coalesce(located, most=2**20))
    assert [(start, end, [m[2] for m in members]) for start, end, members in merged] == [
        (0, 110 + pack.READ_GAP, ["a", "b"]),
        (10**6, 10**6 + 25, ["c", "d"]),
    ]
    capped = list(pack.coalesce([(i * 100, 100, i) for i in range(10)], most=250))
    assert [len(members) for *_, members in capped] == [2, 2, 2, 2, 2]
    assert list(pack.coalesce([], most=1)) == []


def test_pack_names_skip_the_names_of_files() -> None:
    taken = {"pack-0000-t.tar", "x"}
    assert pack.pack_names(2, taken, "t") == ["pack-0001-t.tar", "pack-0002-t.tar"]
    assert pack.pack_names(0, (), "t") == []


@pytest.mark.parametrize("path", ["a", "d1/f.txt", "x" * 100, "x" * 101, "naïve.txt"])
def test_a_header_is_what_tarfile_writes(path: str) -> None:
    import tarfile

    for size in (0, 4096, 999_999):
        info = tarfile.TarInfo(path)
        info.size, info.mtime, info.mode = size, 1_700_000_000, 0o644
        expected = info.tobuf(tarfile.PAX_FORMAT, encoding="utf-8", errors="strict")
        assert pack.header(path, size, 1_700_000_000) == expected
        assert pack.packed_size(path, size) == len(expected) + pack.padded(size)
