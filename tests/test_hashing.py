"""copy_hashing: the digest and size of what the target holds, whatever the blocks."""

from __future__ import annotations

import hashlib
import io

import pytest

from assetstore.hashing import NoProgress, copy_hashing, digest


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
