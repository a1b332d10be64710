"""copy_hashing and kernel_copy_hashing: the digest and size of what the target holds,
whatever the blocks."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from assetstore.io.stream import NoProgress, copy_hashing, digest, kernel_copy_hashing

kernel_copy = pytest.mark.skipif(
    not hasattr(os, "copy_file_range"), reason="os.copy_file_range is Linux only"
)


@pytest.mark.parametrize("size", [0, 1, 4096, 4096 * 3, 4096 * 3 + 7])
def test_copies_and_hashes_every_block_in_order(size: int) -> None:
    data = bytes(i % 251 for i in range(size))
    target = io.BytesIO()
    got = copy_hashing(io.BytesIO(data), target, callback=NoProgress(), chunk=4096)
    assert target.getvalue() == data
    assert got == (digest(hashlib.sha256(data)), size)


def test_continues_a_prefix_and_stops_at_the_limit() -> None:
    held, rest = b"a" * 5000, bytes(range(256)) * 100
    prefix = hashlib.sha256(held)
    target = io.BytesIO()
    got = copy_hashing(
        io.BytesIO(rest), target, callback=NoProgress(), chunk=1000,
        prefix=(prefix, len(held)), limit=len(held) + 12_345,
    )  # fmt: skip
    assert target.getvalue() == rest[:12_345]
    assert got == (digest(hashlib.sha256(held + rest[:12_345])), len(held) + 12_345)


def test_a_failed_write_is_raised() -> None:
    class Full(io.BytesIO):
        def write(self, data: bytes, /) -> int:
            if self.tell() >= 8192:
                raise OSError(28, "No space left on device")
            return super().write(data)

    with pytest.raises(OSError, match="No space"):
        copy_hashing(io.BytesIO(b"x" * 20_000), Full(), callback=NoProgress(), chunk=4096)


@kernel_copy
@pytest.mark.parametrize("size", [0, 1, 4096 * 3 + 7])
def test_kernel_copy_hashes_what_the_target_holds(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    (tmp_path / "src").write_bytes(data)
    counted: list[int] = []

    class Counting(NoProgress):
        def relative_update(self, inc: int = 1) -> None:
            counted.append(inc)

    with (tmp_path / "src").open("rb") as src, (tmp_path / "dst").open("w+b") as dst:
        got = kernel_copy_hashing(src, dst, callback=Counting(), chunk=4096)
    assert (tmp_path / "dst").read_bytes() == data
    assert got == (digest(hashlib.sha256(data)), size) and sum(counted) == size


@kernel_copy
def test_kernel_copy_resumes_at_the_prefix_and_stops_at_the_limit(tmp_path: Path) -> None:
    data = os.urandom(20_000)
    (tmp_path / "src").write_bytes(data)
    (tmp_path / "dst").write_bytes(data[:5000])  # what an interrupted copy left
    prefix = (hashlib.sha256(data[:5000]), 5000)
    with (tmp_path / "src").open("rb") as src, (tmp_path / "dst").open("r+b") as dst:
        got = kernel_copy_hashing(
            src, dst, callback=NoProgress(), chunk=4096, prefix=prefix, limit=12_345
        )
    assert (tmp_path / "dst").read_bytes() == data[:12_345]
    assert got == (digest(hashlib.sha256(data[:12_345])), 12_345)


@kernel_copy
def test_kernel_copy_steps_aside_when_the_kernel_cannot_copy(tmp_path: Path) -> None:
    """A pipe is no file copy_file_range copies from: None, and nothing written."""
    read_end, write_end = os.pipe()
    os.write(write_end, b"bytes in a pipe")
    os.close(write_end)
    with os.fdopen(read_end, "rb") as src, (tmp_path / "dst").open("w+b") as dst:
        assert kernel_copy_hashing(src, dst, callback=NoProgress()) is None
    assert (tmp_path / "dst").read_bytes() == b""
