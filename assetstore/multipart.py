"""S3 multipart uploads with several parts in flight.

s3fs's writable file sends a large file's parts one after another. Here the file is
read and hashed once, in order, in a worker thread, while up to ``window`` parts travel
at once: memory stays bounded by ``window`` parts, and the sha256 is of the bytes sent.
A failed upload is aborted, so no orphaned parts keep costing storage.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from .errors import PushSourceError
from .hashing import Callback, digest

if TYPE_CHECKING:
    from .remote import Remote

log = logging.getLogger("assetstore")
_MAX_PARTS = 10_000  # S3's limit on the parts of one upload


async def upload_in_parts(
    remote: Remote, source: Path, path: str, *, callback: Callback, window: int
) -> tuple[str, int]:
    """Upload ``source`` to ``path``; return the (sha256, size) of what was sent."""
    bucket, key, _ = remote.fs.split_path(path)
    started = await remote.retry.call_async(
        remote.fs._call_s3, "create_multipart_upload", Bucket=bucket, Key=key
    )
    upload = _Upload(remote, bucket, key, started["UploadId"], callback)
    try:
        sha256, size = await upload.send(source, window)
        await upload.complete()
    except BaseException:
        await upload.abort()
        raise
    return sha256, size


class _Upload:
    def __init__(
        self, remote: Remote, bucket: str, key: str, upload_id: str, callback: Callback
    ) -> None:
        self.remote = remote
        self.ids = {"Bucket": bucket, "Key": key, "UploadId": upload_id}
        self.callback = callback
        self.etags: dict[int, str] = {}
        # Stores that refuse checksums are configured with when_required (for example
        # AWS_REQUEST_CHECKSUM_CALCULATION): then no part carries one, as with botocore.
        config = getattr(getattr(remote.fs.s3, "meta", None), "config", None)
        self.crc32 = getattr(config, "request_checksum_calculation", None) == "when_supported"

    async def send(self, source: Path, window: int) -> tuple[str, int]:
        hasher, size, number = hashlib.sha256(), 0, 0
        in_flight: set[asyncio.Task[None]] = set()
        try:
            with _open(source) as stream:
                part_size = _part_size(self.remote.part_size, source)
                while part := await asyncio.to_thread(_read_part, stream, hasher, part_size):
                    number += 1
                    size += len(part.data)
                    in_flight.add(asyncio.ensure_future(self._part(number, part)))
                    if len(in_flight) >= window:
                        done, in_flight = await asyncio.wait(
                            in_flight, return_when=asyncio.FIRST_COMPLETED
                        )
                        for task in done:
                            task.result()  # the first failure ends the upload
                if number == 0:  # an empty file is still one (empty) part
                    await self._part(1, _Part.of(b""))
            await asyncio.gather(*in_flight)
        finally:
            for task in in_flight:
                task.cancel()
        return digest(hasher), size

    async def _part(self, number: int, part: _Part) -> None:
        remote = self.remote
        size = len(part.data)
        response = await remote.retry.call_async(
            remote._bounded, size, self._send_part, number, part
        )
        self.etags[number] = response["ETag"]
        self.callback.relative_update(size)

    async def _send_part(self, number: int, part: _Part) -> Any:
        # The CRC32 botocore would compute on the event loop, computed in the reading thread.
        checksum = {"ChecksumCRC32": part.crc32} if self.crc32 else {}
        return await self.remote.fs._call_s3(
            "upload_part", PartNumber=number, Body=part.data, **checksum, **self.ids
        )

    async def complete(self) -> None:
        parts = [{"PartNumber": n, "ETag": self.etags[n]} for n in sorted(self.etags)]
        await self.remote.retry.call_async(
            self.remote.fs._call_s3,
            "complete_multipart_upload",
            MultipartUpload={"Parts": parts},
            **self.ids,
        )

    async def abort(self) -> None:
        try:
            await self.remote.fs._call_s3("abort_multipart_upload", **self.ids)
        except Exception as exc:  # the upload already failed; say so, keep its error
            log.warning("could not abort the multipart upload of %s: %s", self.ids["Key"], exc)


def _open(source: Path) -> BinaryIO:
    try:
        return source.open("rb")
    except OSError as exc:
        raise PushSourceError(f"cannot read {source}: {exc.strerror or exc}") from exc


def _part_size(configured: int, source: Path) -> int:
    """The configured part size, or larger for a file that needs over 10,000 parts;
    every part but the last is this size (R2 needs them equal)."""
    size = source.stat().st_size
    return max(configured, -(-size // _MAX_PARTS))


class _Part(NamedTuple):
    data: bytes
    crc32: str  # base64 of the big-endian CRC32, as S3's x-amz-checksum-crc32 wants it

    @classmethod
    def of(cls, data: bytes) -> _Part:
        crc = zlib.crc32(data).to_bytes(4, "big")
        return cls(data, base64.b64encode(crc).decode())


def _read_part(stream: BinaryIO, hasher: Any, size: int) -> _Part | None:
    """The next part, fed to ``hasher`` and checksummed (reading, sha256 and CRC32 all
    release the GIL: this runs in a thread); None at the end of the file."""
    data = stream.read(size)
    if not data:
        return None
    hasher.update(data)
    return _Part.of(data)
