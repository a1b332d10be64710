"""The rest of a transfer's requests through obstore, for a configuration given in full
(``s3_static.py``): whole and ranged GETs, HEAD, conditional PUT, listings, bulk
delete, and a probe of the bucket. With these and the direct path's PUTs, a push or a
pull of such a store loads neither botocore nor aiohttp.

Each method returns None (or False) for anything but a success or a definitive answer
("not found", "already there"); the backend then asks s3fs, whose errors are the ones
assetstore knows and classifies (``faults.py``). A refusal (credentials, permissions)
turns the direct path off, as a refused PUT does; so do a few failures in a row, after
which s3fs makes every request. A transient fault (5xx, 408, 429, a connection that
fails) is not asked again at once: it is raised as ``ServerFault`` or
``ConnectionFault``, so that retrying stays the policy's alone (one request an
attempt).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, TypeVar

from .base import Entry
from .s3_http import S3Direct, split
from .s3_put import finished

log = logging.getLogger("assetstore")
T = TypeVar("T")
Request = Callable[..., Awaitable[Any]]  # Backend.request

_FAILURES_BEFORE_GIVING_UP = 3
_PAGE = 1000
# A prefix no key of assetstore's has: listing it is one request, which succeeds only
# when the bucket exists.
_PROBE = ".assetstore-bucket-probe"


# How obstore's messages give a server's answer, and the words of a failed connection.
_STATUS = re.compile(r"status code: (\d{3})")
_CONNECTION = re.compile(r"error sending request|connection|timed out|dns error|body error", re.I)


class ServerFault(OSError):
    """A transient answer of the server (5xx, 408, 429) to a request through obstore."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status  # what faults.http_status reads


class ConnectionFault(ConnectionError):
    """A request through obstore that could not reach the server, or was cut off."""


class Skipped(Exception):
    """obstore could not finish a request; s3fs goes on from where it stopped."""

    def __init__(self, after: str | None) -> None:
        super().__init__(after)
        self.after = after  # the last key yielded before it stopped


class LeanRequests:
    """Requests through the obstore store of ``direct`` (its buckets, keys, settings)."""

    def __init__(self, direct: S3Direct, request: Request) -> None:
        self.direct = direct
        self.request = request  # the backend's: bounded in time, retried on transient faults
        self.ranged = True  # rclone answers ranged GETs 200 + Content-Range: obstore refuses
        self._failures = 0

    @property
    def enabled(self) -> bool:
        return self.direct.enabled

    async def exists(self, path: str) -> bool | None:
        import obstore

        store, key = await self._store(path)
        if store is None:
            return None
        try:
            await finished(lambda: obstore.head_async(store, key))
        except FileNotFoundError:
            return self._answered(False)
        except Exception as exc:
            self._failed("HEAD", exc)
            return None
        return self._answered(True)

    async def read(self, path: str, start: int, end: int | None) -> bytes | None:
        """Bytes ``[start, end)``; whole objects only from 0 (None: ask s3fs)."""
        import obstore

        store, key = await self._store(path)
        ranged = end is not None or start > 0
        if store is None or (ranged and not self.ranged):
            return None
        try:
            if end is None and start == 0:
                got = await finished(lambda: obstore.get_async(store, key))
                data = await finished(lambda: got.bytes_async())
            elif end is None or end <= start:
                return None if end is None else b""
            else:
                data = await finished(
                    lambda: obstore.get_range_async(store, key, start=start, end=end)
                )
        except FileNotFoundError as exc:
            self._answered(None)
            raise FileNotFoundError(f"not found: {path}") from exc
        except Exception as exc:
            self._failed("GET", exc)  # raises a transient fault
            if ranged:
                self.ranged = False  # the store's ranged answers are left to aiohttp
            return None
        self._answered(None)
        return bytes(data) if end is None else bytes(memoryview(data)[: end - start])

    async def create(self, path: str, data: bytes) -> bool | None:
        from obstore import put_async
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        store, key = await self._store(path)
        if store is None:
            return None
        try:
            await finished(lambda: put_async(store, key, data, mode="create"))
        except (AlreadyExistsError, PreconditionError):
            return self._answered(False)
        except Exception as exc:
            self._failed("conditional PUT", exc)
            return None
        return self._answered(True)

    async def delete(self, paths: list[str]) -> bool:
        """Delete ``paths`` (one bucket's), a bulk request per 1,000; False: ask s3fs."""

        store, _ = await self._store(paths[0])
        if store is None or len({split(p)[0] for p in paths}) > 1:
            return False
        keys = [split(p)[1] for p in paths]
        for start in range(0, len(keys), _PAGE):
            chunk = keys[start : start + _PAGE]
            if not await self.request(0, self._delete, store, chunk):
                return False  # deleting again is harmless: s3fs deletes them all
        return self._answered(True)

    async def _delete(self, store: Any, keys: list[str]) -> bool:
        import obstore

        try:
            await finished(lambda: obstore.delete_async(store, keys))
        except Exception as exc:
            self._failed("DELETE", exc)
            return False
        return True

    async def bucket_exists(self, bucket: str) -> bool | None:
        """True when a listing of the bucket succeeds; None: s3fs decides."""
        import obstore

        store, _ = await self._store(bucket)
        if store is None:
            return None
        try:
            await finished(lambda: obstore.list_with_delimiter_async(store, _PROBE))
        except Exception as exc:
            self._failed("bucket probe", exc)
            return None
        return self._answered(True)

    async def listing(self, prefix: str, *, recursive: bool) -> AsyncIterator[list[Entry]]:
        """The objects under the folder ``prefix``, a page (one request) at a time, each
        sent through ``request``. Raises ``Skipped`` (after the last key it yielded)
        when obstore cannot go on."""
        folder = prefix.rstrip("/") + "/"
        store, key = await self._store(folder)
        if store is None:
            raise Skipped(None)
        bucket, last = split(folder)[0], None
        while True:
            page = await self.request(0, self._page, store, key, last, recursive=recursive)
            entries = _entries(bucket, page)
            if entries:
                yield entries
                last = split(entries[-1].path)[1]
            if not recursive or len(page) < _PAGE:
                return

    async def _page(self, store: Any, key: str, after: str | None, *, recursive: bool) -> list[Any]:
        """One page of the listing: the first 1,000 keys after ``after`` (start-after),
        or what is directly in the folder."""
        import obstore

        prefix = key.rstrip("/") or None
        try:
            if not recursive:
                found = await finished(lambda: obstore.list_with_delimiter_async(store, prefix))
                return list(found["objects"])
            pages = obstore.list(store, prefix, offset=after, chunk_size=_PAGE)
            try:
                return list(await finished(lambda: pages.__anext__()))
            except StopAsyncIteration:
                return []
        except Exception as exc:
            self._failed("listing", exc)
            raise Skipped(after) from exc

    async def _store(self, path: str) -> tuple[Any | None, str]:
        bucket, key = split(path)
        if not self.enabled:
            return None, key
        return await self.direct.store(bucket), key

    def _answered(self, answer: T) -> T:
        self._failures = 0
        return answer

    def _failed(self, doing: str, exc: Exception) -> None:
        """Note a failure; raise it when it is transient (see the module's doc)."""
        from obstore.exceptions import PermissionDeniedError, UnauthenticatedError

        log.debug("S3 %s through obstore failed: %s", doing, str(exc)[:200])
        transient = _transient(doing, exc)
        if transient is not None:
            raise transient from exc
        self._failures += 1
        if isinstance(exc, (PermissionDeniedError, UnauthenticatedError)):
            self.direct.refused(type(exc).__name__)
        elif self._failures >= _FAILURES_BEFORE_GIVING_UP:
            self.direct.refused(f"{self._failures} failures in a row")


def _transient(doing: str, exc: Exception) -> OSError | None:
    """``exc`` as an error ``faults`` calls transient, or None when it is not one."""
    text = str(exc).strip()
    line = f"S3 {doing} failed: {text.splitlines()[0][:300] if text else type(exc).__name__}"
    found = _STATUS.search(text)
    if found:
        status = int(found[1])
        return ServerFault(line, status) if status >= 500 or status in (408, 429) else None
    return ConnectionFault(line) if _CONNECTION.search(text) else None


def _entries(bucket: str, objects: Iterable[Any]) -> list[Entry]:
    return [Entry(f"{bucket}/{o['path']}", int(o["size"])) for o in objects]
