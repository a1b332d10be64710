"""``gcs``: Google Cloud Storage through gcsfs (and its emulators, fake-gcs-server).

Large files go up as resumable uploads, one part after another (GCS takes the parts of
one upload in order), read and hashed once.
"""

from __future__ import annotations

import logging
import types
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ..io.stream import Callback
from .base import Entry
from .objectstore import ObjectStoreBackend
from .registry import GCS

log = logging.getLogger("assetstore")
_PAGE = 1000
# gcsfs wraps these in its own retry decorator (6 tries, sleeping up to 32 s each time:
# an unreachable endpoint took a minute and a half to fail). Use the undecorated ones.
_GCSFS_RETRIED = ("_request", "_get_file_request", "_get_file_concurrent")


def finish_options(options: dict[str, Any], sources: dict[str, str]) -> None:
    """``STORAGE_EMULATOR_HOST`` and no credentials: send none, as Google's SDKs do,
    rather than search the default chain (which probes a metadata server). A plain
    ``endpoint_url`` (a private endpoint of the real service) keeps the default chain."""
    emulator = sources.get("storage.endpoint_url") == "env STORAGE_EMULATOR_HOST"
    if emulator and "endpoint_url" in options and "token" not in options:
        options["token"] = "anon"
        sources["storage.token"] = "env STORAGE_EMULATOR_HOST (an emulator: anonymous)"


class GcsBackend(ObjectStoreBackend):
    provider = GCS

    def make_filesystem(self) -> Any:
        import aiohttp
        import fsspec

        kwargs = dict(self.options)
        # gcsfs passes requests_timeout to every request; its default None is no timeout.
        kwargs.setdefault(
            "requests_timeout",
            aiohttp.ClientTimeout(
                total=None, sock_connect=self.timeouts.connect, sock_read=self.timeouts.read
            ),
        )
        cls: Any = fsspec.get_filesystem_class("gcs")
        if kwargs.get("endpoint_url"):
            # Emulators speak the JSON API only: never gcsfs's experimental gRPC
            # subclass, whose bucket probe stalls for a minute against them.
            import gcsfs.core

            cls = gcsfs.core.GCSFileSystem
        fs = cls(skip_instance_cache=True, use_listings_cache=False, **kwargs)
        for name in _GCSFS_RETRIED:
            inner = getattr(getattr(type(fs), name, None), "__wrapped__", None)
            if inner is None:
                log.debug("gcsfs.%s has no __wrapped__: its own retries stay on", name)
                continue
            setattr(fs, name, types.MethodType(inner, fs))
        return fs

    async def listing(self, prefix: str, *, recursive: bool = True) -> AsyncIterator[list[Entry]]:
        bucket, key, _ = self.fs.split_path(prefix.rstrip("/") + "/")
        query: dict[str, Any] = {"prefix": key, "maxResults": _PAGE}
        if not recursive:
            query["delimiter"] = "/"
        while True:
            try:
                page = await self.request(
                    0, self.fs._call, "GET", "b/{}/o", bucket, json_out=True, **query
                )
            except FileNotFoundError:
                return
            items = page.get("items", [])
            yield [Entry(f"{bucket}/{item['name']}", int(item.get("size", 0))) for item in items]
            if not page.get("nextPageToken"):
                return
            query["pageToken"] = page["nextPageToken"]

    async def upload_file(
        self, source: Path, path: str, *, callback: Callback, window: int
    ) -> tuple[str, int]:
        total = source.stat().st_size
        if total <= self.part_size:
            return await super().upload_file(source, path, callback=callback, window=window)
        from gcsfs.core import initiate_upload, upload_chunk

        bucket, key, _ = self.fs.split_path(path)
        location = await self.request(0, initiate_upload, self.fs, bucket, key)

        async def send(number: int, data: bytes, _extra: object) -> None:
            offset = (number - 1) * self.part_size
            await self.request(len(data), upload_chunk,
                self.fs, location, data, offset, total, "application/octet-stream",
            )  # fmt: skip
            callback.relative_update(len(data))

        # window=1: the parts of one resumable upload are taken in order only.
        return await self.send_parts(source, send, window=1)

    async def bucket_exists(self) -> bool:
        try:
            await self.request(0, self.fs._call, "GET", "b/{}", self.bucket, json_out=True)
        except FileNotFoundError:
            return False
        return True

    async def create_bucket(self) -> None:
        await self.request(0, self.fs._mkdir, self.bucket)

    def sign(self, path: str, expires: int) -> str:
        return str(self.fs.sign(path, expiration=expires, version="v4"))

    def plain_url(self, path: str) -> str:
        return str(self.fs.url(path))
