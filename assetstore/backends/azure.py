"""``az``: Azure Blob Storage through adlfs and the azure-storage-blob client it builds.

Large files go up as blocks, ``window`` at once, read and hashed once in order, then
committed as one block list.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ..io.stream import Callback
from .base import Entry
from .objectstore import ObjectStoreBackend
from .registry import AZURE

log = logging.getLogger("assetstore")
_PAGE = 1000


class AzureBackend(ObjectStoreBackend):
    parallel_parts = True
    provider = AZURE

    def make_filesystem(self) -> Any:
        import adlfs

        fs = adlfs.AzureBlobFileSystem(skip_instance_cache=True, **self.options)
        _leave_retries_to_us(fs, self.timeouts.connect, self.timeouts.read)
        return fs

    def _container(self, path: str) -> tuple[Any, str]:
        container, key, _ = self.fs.split_path(path)
        return self.fs.service_client.get_container_client(container), key

    async def write(self, path: str, data: bytes | bytearray) -> None:
        # azure-storage-blob concatenates what it uploads with bytes: a bytearray (a
        # pack, built in place) fails there with a TypeError.
        await super().write(path, bytes(data))

    async def listing(self, prefix: str, *, recursive: bool = True) -> AsyncIterator[list[Entry]]:
        container_client, key = self._container(prefix.rstrip("/") + "/x")
        start = key[:-1]  # the folder, with its "/"
        if recursive:
            blobs = container_client.list_blobs(name_starts_with=start, results_per_page=_PAGE)
        else:
            blobs = container_client.walk_blobs(name_starts_with=start, results_per_page=_PAGE)
        pages = blobs.by_page()
        container = container_client.container_name
        while True:
            try:
                page = await self.request(0, pages.__anext__)
            except StopAsyncIteration:
                return
            except Exception as exc:
                if type(exc).__name__ == "ResourceNotFoundError":  # no container: nothing
                    return
                raise
            entries = []
            async for blob in page:
                if getattr(blob, "size", None) is not None:  # not a prefix ("folder")
                    entries.append(Entry(f"{container}/{blob.name}", int(blob.size)))
            yield entries

    async def upload_file(
        self, source: Path, path: str, *, callback: Callback, window: int
    ) -> tuple[str, int]:
        if source.stat().st_size <= self.part_size:
            return await super().upload_file(source, path, callback=callback, window=window)
        from azure.storage.blob import BlobBlock

        container_client, key = self._container(path)
        blob = container_client.get_blob_client(key)
        ids: dict[int, str] = {}

        async def send(number: int, data: bytes, _extra: object) -> None:
            ids[number] = base64.b64encode(f"{number:08d}".encode()).decode()
            await self.request(len(data), blob.stage_block, ids[number], data, length=len(data))
            callback.relative_update(len(data))

        sha256, size = await self.send_parts(source, send, window=window)
        blocks = [BlobBlock(block_id=ids[n]) for n in sorted(ids)]
        await self.request(0, blob.commit_block_list, blocks)
        return sha256, size

    async def bucket_exists(self) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        client = self.fs.service_client.get_container_client(self.bucket)
        try:
            await self.request(0, client.get_container_properties)
        except ResourceNotFoundError:
            return False
        return True

    async def create_bucket(self) -> None:
        await self.request(0, self.fs.service_client.create_container, self.bucket)

    def sign(self, path: str, expires: int) -> str:
        return str(self.fs.sign(path, expiration=expires))

    def plain_url(self, path: str) -> str:
        container, blob, _ = self.fs.split_path(path)
        return str(self.fs.service_client.get_blob_client(container, blob).url).split("?", 1)[0]


def _leave_retries_to_us(fs: Any, connect: float, read: float) -> None:
    """adlfs offers no way to pass retry or connection settings to the client it builds;
    their defaults (3 retries from 15 s backoff, 20 s connect timeout) make an
    unreachable endpoint take minutes to fail. Adjust the client adlfs built (attributes
    of the Azure SDK's pipeline: if they move, its own retries stay on, and say so)."""
    client = fs.service_client
    policy = getattr(getattr(client, "_config", None), "retry_policy", None)
    transport = getattr(getattr(client, "_pipeline", None), "_transport", None)
    connection = getattr(transport, "connection_config", None)
    if policy is None or connection is None:
        log.debug("unknown azure-storage-blob client layout: its own retries stay on")
        return
    for attribute in ("total_retries", "connect_retries", "read_retries", "status_retries"):
        setattr(policy, attribute, 0)
    connection.timeout = connect
    connection.read_timeout = read
