"""``s3``: AWS and every S3-compatible store (MinIO, Cloudflare R2, Tencent COS, Ceph,
rclone), through s3fs — and for the two requests a transfer makes per file, GET and PUT
of one object, through the direct path of ``s3_http.py``. For a configuration given in
full (an endpoint, path-style, keys: ``s3_static.py``) the other requests of a transfer
go through obstore too (``s3_lean.py``), and s3fs is only made for what they leave.

Large files go up in parts, ``window`` at once, read and hashed once in order; a failed
upload is aborted, so no orphaned parts keep costing storage.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ..errors import BackendError, ConfigError
from ..io.stream import Callback
from . import faults
from .base import Entry
from .objectstore import ObjectStoreBackend
from .registry import S3
from .s3_http import S3Direct
from .s3_lean import LeanRequests, Skipped
from .s3_static import static_access

log = logging.getLogger("assetstore")
_MAX_PARTS = 10_000  # S3's limit on the parts of one upload
_PAGE = 1000  # keys a listing or a bulk delete takes per request (S3's maximum)


def finish_options(options: dict[str, Any], _sources: dict[str, str]) -> None:
    """A KMS key id means SSE-KMS on every upload; it contradicts SSE ``AES256``."""
    extra = options.get("s3_additional_kwargs", {})
    if "SSEKMSKeyId" not in extra:
        return
    if extra.get("ServerSideEncryption", "aws:kms") != "aws:kms":
        raise ConfigError(
            "AWS_KMS_KEY_ID is set, which means SSE-KMS, but ASSETSTORE_S3_SSE="
            f"{extra['ServerSideEncryption']!r}: set ASSETSTORE_S3_SSE=aws:kms or unset one"
        )
    extra["ServerSideEncryption"] = "aws:kms"


class S3Backend(ObjectStoreBackend):
    parallel_parts = True
    provider = S3

    def make_filesystem(self) -> Any:
        import s3fs

        kwargs = dict(self.options)
        config = dict(kwargs.get("config_kwargs") or {})
        config.setdefault("signature_version", "s3v4")  # SigV2 presigned URLs are long gone
        config.setdefault("connect_timeout", self.timeouts.connect)
        config.setdefault("read_timeout", self.timeouts.read)
        config.setdefault("retries", {"mode": "standard", "total_max_attempts": 1})
        # Every download is verified against its sha256, so botocore need not check the
        # CRC of responses (rclone, asked for a range, sends the whole object's CRC and
        # botocore then fails the read), nor hash each upload's body once more to sign it.
        config.setdefault("response_checksum_validation", "when_required")
        config["s3"] = {"payload_signing_enabled": False, **(config.get("s3") or {})}
        kwargs["config_kwargs"] = config
        fs = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False, **kwargs)
        fs.retries = 1  # s3fs's own retry loop around each call (class default: 5)
        return fs

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """fsspec's loop, the one s3fs runs on once made (it may never be)."""
        from fsspec.asyn import get_loop

        loop: asyncio.AbstractEventLoop = get_loop()
        return loop

    @property
    def direct(self) -> S3Direct | None:
        """The direct GET/PUT path (``s3_http.py``), or None for a configuration it does
        not model."""
        if "_direct" not in self.__dict__:
            static = static_access(self.options)
            direct = None
            if static is not None:
                timeouts = (self.timeouts.connect, self.timeouts.read)
                direct = S3Direct.for_static(static, self.options, timeouts, lambda: self.fs)
            if direct is None:
                direct = S3Direct.for_fs(self.fs, self.options)
            self.__dict__["_direct"] = direct
        return self.__dict__["_direct"]  # type: ignore[no-any-return]

    def check_options(self) -> None:
        """A configuration given in full is checked by ``s3_static``; s3fs checks others."""
        direct = self.direct
        if direct is None or direct.static is None:
            super().check_options()

    @property
    def lean(self) -> LeanRequests | None:
        """The requests through obstore, while they are used (``s3_lean.py``)."""
        direct = self.direct
        if direct is None or direct.static is None or not direct.enabled:
            return None
        if "_lean" not in self.__dict__:
            self.__dict__["_lean"] = LeanRequests(direct, self.request)
        return self.__dict__["_lean"]  # type: ignore[no-any-return]

    # -- objects ---------------------------------------------------------------------------
    async def exists(self, path: str) -> bool:
        lean = self.lean
        if lean is not None and (found := await lean.exists(path)) is not None:
            return found
        return await super().exists(path)

    async def create(self, path: str, data: bytes) -> bool:
        lean = self.lean
        if lean is not None and (created := await lean.create(path, data)) is not None:
            return created
        return await super().create(path, data)

    async def read(self, path: str, start: int = 0, end: int | None = None) -> bytes:
        lean = self.lean
        if lean is not None and (got := await lean.read(path, start, end)) is not None:
            return got
        direct = self.direct
        if direct is not None and direct.enabled and end is not None:
            data = await direct.get(path, start, end)
            if data is not None:
                return data
        return await super().read(path, start, end)

    async def write(self, path: str, data: bytes | bytearray) -> None:
        direct = self.direct
        if direct is not None and direct.enabled and await direct.put(path, data):
            return
        await self.fs._pipe_file(path, data)

    async def listing(self, prefix: str, *, recursive: bool = True) -> AsyncIterator[list[Entry]]:
        after = None
        if (lean := self.lean) is not None:
            try:
                async for page in lean.listing(prefix, recursive=recursive):
                    yield page
                return
            except Skipped as skipped:  # s3fs goes on after the last key obstore gave
                after = skipped.after
        async for page in self._listing(prefix, recursive=recursive, after=after):
            yield page

    async def _listing(
        self, prefix: str, *, recursive: bool, after: str | None
    ) -> AsyncIterator[list[Entry]]:
        bucket, key, _ = self.fs.split_path(prefix.rstrip("/") + "/")
        request: dict[str, Any] = {"Bucket": bucket, "Prefix": key, "MaxKeys": _PAGE}
        if not recursive:
            request["Delimiter"] = "/"
        if after is not None:
            request["StartAfter"] = after
        while True:
            page = await self.request(0, self.fs._call_s3, "list_objects_v2", **request)
            yield [Entry(f"{bucket}/{o['Key']}", int(o["Size"])) for o in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return
            request["ContinuationToken"] = page["NextContinuationToken"]

    async def delete(self, paths: list[str]) -> None:
        """Up to 1,000 keys a request; a key S3 reports it could not delete is an error."""
        lean = self.lean
        if not paths or (lean is not None and await lean.delete(paths)):
            return
        for start in range(0, len(paths), _PAGE):
            chunk = [self.fs.split_path(p)[:2] for p in paths[start : start + _PAGE]]
            for bucket in {b for b, _ in chunk}:
                keys = [{"Key": k} for b, k in chunk if b == bucket]
                answer = await self.request(0, self.fs._call_s3,
                    "delete_objects", Bucket=bucket, Delete={"Objects": keys, "Quiet": True},
                )  # fmt: skip
                if answer.get("Errors"):
                    first = answer["Errors"][0]
                    raise OSError(f"could not delete {first.get('Key')}: {first.get('Code')}")

    async def upload_file(
        self, source: Path, path: str, *, callback: Callback, window: int
    ) -> tuple[str, int]:
        if source.stat().st_size <= self.part_size:
            return await super().upload_file(source, path, callback=callback, window=window)
        bucket, key, _ = self.fs.split_path(path)
        started = await self.request(0, self.fs._call_s3,
            "create_multipart_upload", Bucket=bucket, Key=key, **self._put_options,
        )  # fmt: skip
        ids = {"Bucket": bucket, "Key": key, "UploadId": started["UploadId"]}
        try:
            sha256, size, parts = await self._send_parts(source, ids, callback, window)
            done = {"Parts": [{"PartNumber": n, "ETag": parts[n]} for n in sorted(parts)]}
            await self.request(
                0, self.fs._call_s3, "complete_multipart_upload", MultipartUpload=done, **ids
            )
        except BaseException:
            try:
                await self.fs._call_s3("abort_multipart_upload", **ids)
            except Exception as exc:  # the upload already failed; say so, keep its error
                log.warning("could not abort the multipart upload of %s: %s", key, exc)
            raise
        return sha256, size

    @property
    def _put_options(self) -> dict[str, Any]:
        return dict(self.options.get("s3_additional_kwargs") or {})

    async def _send_parts(
        self, source: Path, ids: dict[str, str], callback: Callback, window: int
    ) -> tuple[str, int, dict[int, str]]:
        etags: dict[int, str] = {}
        # Stores that refuse checksums are configured with when_required: then no part
        # carries one, as with botocore.
        config = getattr(getattr(self.fs.s3, "meta", None), "config", None)
        with_crc = getattr(config, "request_checksum_calculation", None) == "when_supported"

        async def send(number: int, data: bytes, crc: str | None) -> None:
            checksum = {"ChecksumCRC32": crc} if crc else {}
            answer = await self.request(
                len(data), self.fs._call_s3,
                "upload_part", PartNumber=number, Body=data, **checksum, **ids,
            )  # fmt: skip
            etags[number] = answer["ETag"]
            callback.relative_update(len(data))

        part_size = part_size_for(self.part_size, source.stat().st_size)
        sha256, size = await self.send_parts(
            source, send, window=window, part_size=part_size, extra=_crc32 if with_crc else None
        )
        return sha256, size, etags

    # -- the bucket ---------------------------------------------------------------------------
    async def bucket_exists(self) -> bool:
        lean = self.lean
        if lean is not None and await lean.bucket_exists(self.bucket):
            return True
        try:
            await self.request(0, self.fs._call_s3, "head_bucket", Bucket=self.bucket)
        except FileNotFoundError:
            return await self._confirm_missing()
        return True

    async def _confirm_missing(self) -> bool:
        """A HEAD's 404 has no body: any web server gives it. S3 says NoSuchBucket in
        the body of a listing's 404; a server that does not is no S3 endpoint, and
        "create the bucket" would be advice that cannot help."""
        try:
            await self.request(0, self.fs._call_s3, "list_objects_v2", Bucket=self.bucket,
                               MaxKeys=1)  # fmt: skip
        except FileNotFoundError as exc:
            if faults.error_code(exc.__cause__ or exc.__context__ or exc) == "NoSuchBucket":
                return False
            endpoint = (self.options.get("client_kwargs") or {}).get("endpoint_url", "AWS")
            raise BackendError(
                f"{endpoint} answers as no S3 server does (404 without NoSuchBucket for "
                f"s3://{self.bucket}): check S3_ENDPOINT",
                unreachable=False,
            ) from exc
        return True

    async def create_bucket(self) -> None:
        params: dict[str, Any] = {"Bucket": self.bucket}
        region = (self.options.get("client_kwargs") or {}).get("region_name")
        # us-east-1 takes no LocationConstraint (AWS refuses it); R2's "auto" is no region.
        if region and region not in ("us-east-1", "auto"):
            params["CreateBucketConfiguration"] = {"LocationConstraint": region}
        await self.request(0, self.fs._call_s3, "create_bucket", **params)

    def sign(self, path: str, expires: int) -> str:
        return str(self.fs.sign(path, expiration=expires))

    def plain_url(self, path: str) -> str:
        # botocore knows the addressing style: sign, drop the signature
        return str(self.fs.url(path, expires=60)).split("?", 1)[0]


def part_size_for(configured: int, size: int) -> int:
    """The configured part size, or larger for a file that would need more than S3's
    10,000 parts; every part but the last is this size (R2 needs them equal)."""
    return max(configured, -(-size // _MAX_PARTS))


def _crc32(data: bytes) -> str:
    """The part's CRC32 as x-amz-checksum-crc32 wants it: base64 of the big-endian value."""
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
