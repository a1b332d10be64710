"""Part sizes of concurrent multipart uploads (the uploads themselves run against a real
S3 server in tests/backends)."""

from __future__ import annotations

from pathlib import Path

from assetstore.multipart import _part_size

MIB = 2**20


def test_part_size_is_the_configured_one_while_10000_parts_suffice(tmp_path: Path) -> None:
    source = tmp_path / "f"
    with source.open("wb") as stream:
        stream.truncate(10_000 * 8 * MIB)  # sparse: no disk used
    assert _part_size(8 * MIB, source) == 8 * MIB


def test_part_size_grows_for_files_needing_more_than_10000_parts(tmp_path: Path) -> None:
    source = tmp_path / "f"
    size = 200 * 2**30  # 200 GiB, sparse
    with source.open("wb") as stream:
        stream.truncate(size)
    part = _part_size(8 * MIB, source)
    assert part > 8 * MIB and -(-size // part) <= 10_000
