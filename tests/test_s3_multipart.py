"""Part sizes of concurrent multipart uploads (the uploads themselves run against a real
S3 server in tests/backends)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from botocore.httpchecksum import Crc32Checksum

from assetstore.backends.objectstore import _read_part
from assetstore.backends.s3 import _crc32, part_size_for

MIB = 2**20


def test_part_size_is_the_configured_one_while_10000_parts_suffice(tmp_path: Path) -> None:
    source = tmp_path / "f"
    with source.open("wb") as stream:
        stream.truncate(10_000 * 8 * MIB)  # sparse: no disk used
    assert part_size_for(8 * MIB, source.stat().st_size) == 8 * MIB


def test_part_size_grows_for_files_needing_more_than_10000_parts(tmp_path: Path) -> None:
    source = tmp_path / "f"
    size = 200 * 2**30  # 200 GiB, sparse
    with source.open("wb") as stream:
        stream.truncate(size)
    part = part_size_for(8 * MIB, source.stat().st_size)
    assert part > 8 * MIB and -(-size // part) <= 10_000


@pytest.mark.parametrize("data", [b"", b"abc", bytes(range(256)) * 4099])
def test_part_checksum_is_the_crc32_botocore_would_have_sent(data: bytes) -> None:
    expected = Crc32Checksum()
    expected.update(data)
    assert _crc32(data) == expected.b64digest()


def test_reading_parts_hashes_every_byte_once_and_ends_with_none(tmp_path: Path) -> None:
    content = bytes(range(256)) * 1000
    source = tmp_path / "f"
    source.write_bytes(content)
    hasher, parts = hashlib.sha256(), []
    with source.open("rb") as stream:
        while part := _read_part(stream, hasher, 100_000, None):
            parts.append(part[0])
    assert b"".join(parts) == content and [len(p) for p in parts] == [100_000, 100_000, 56_000]
    assert hasher.hexdigest() == hashlib.sha256(content).hexdigest()
