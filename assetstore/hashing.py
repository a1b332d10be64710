"""sha256 computed while bytes stream, and the progress-callback protocol."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO, Protocol

CHUNK = 4 * 1024 * 1024


class Callback(Protocol):
    """The part of ``fsspec.callbacks.Callback`` the library calls: any fsspec callback
    (``TqdmCallback`` included) fits."""

    def set_size(self, size: int | None) -> None: ...

    def relative_update(self, inc: int = 1) -> None: ...


class NoProgress:
    """The null callback: the library reports progress to nobody by default."""

    def set_size(self, size: int | None) -> None:
        pass

    def relative_update(self, inc: int = 1) -> None:
        pass


def digest(hasher: hashlib._Hash) -> str:
    return f"sha256:{hasher.hexdigest()}"


def copy_hashing(
    source: BinaryIO, target: BinaryIO, *, callback: Callback, chunk: int = CHUNK
) -> tuple[str, int]:
    """Copy ``source`` to ``target`` in bounded chunks; return its sha256 and size."""
    hasher = hashlib.sha256()
    size = 0
    while block := source.read(chunk):
        hasher.update(block)
        target.write(block)
        size += len(block)
        callback.relative_update(len(block))
    return digest(hasher), size


def sha256_file(path: Path, *, chunk: int = CHUNK) -> str:
    """The ``sha256:<hex>`` of a local file, read in bounded chunks."""
    hasher = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(chunk):
            hasher.update(block)
    return digest(hasher)
