"""``BucketStore``: the plumbing of one store over one backend — running its
coroutines on the backend's loop, each request bounded and retried; knowing whether the
bucket exists (and creating it when asked); and the one place where what a backend
raises becomes an assetstore error (``errors``), with the bucket and key named and no
secret. ``Repository`` (repository.py) builds on it."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from ..backends import faults
from ..backends.base import Backend, Entry
from ..errors import AssetNotFoundError, AssetStoreError, BackendError
from ..io import pool
from ..io.policy import RetryPolicy
from ..redact import MASK, scrub
from .layout import Layout

log = logging.getLogger("assetstore")
T = TypeVar("T")


class BucketStore(Layout):
    """A backend, a bucket and a prefix: the operations every part of a store shares."""

    def __init__(
        self,
        backend: Backend,
        *,
        prefix: str,
        retry: RetryPolicy | None = None,
        secrets: tuple[str, ...] = (),
        auto_create_bucket: bool = False,
        public_url_base: str | None = None,
    ) -> None:
        self.backend = backend
        self.bucket = backend.bucket.rstrip("/")
        super().__init__("/".join(part for part in (self.bucket, prefix) if part))
        self.url = self.url_of(self.root)
        self.retry = retry or RetryPolicy(faults.is_transient)
        backend.retry = self.retry  # every request the backend sends is retried by it
        self.auto_create_bucket = auto_create_bucket
        self.public_url_base = public_url_base
        self._secrets = secrets
        # Folders (local, memory) need no bucket; for object stores, known once seen.
        self._bucket_seen = not backend.provider.object_store

    @property
    def fs(self) -> Any:
        """The backend's fsspec filesystem (to look behind assetstore's back)."""
        return self.backend.fs

    @property
    def provider(self) -> str:
        return self.backend.provider.name

    @property
    def part_size(self) -> int:
        return self.backend.part_size

    def url_of(self, path: str) -> str:
        return self.backend.url_of(path)

    def key_of(self, path: str) -> str:
        return self.backend.key_of(path)

    # -- running backend calls -----------------------------------------------------------
    def run(self, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run ``work()`` on the backend's loop and wait for it."""
        return pool.run(self.backend.loop, work)

    async def call(
        self, fn: Callable[..., Awaitable[T]], *args: Any, size: int = 0, **kwargs: Any
    ) -> T:
        """One request ``fn(*args, **kwargs)``, moving about ``size`` bytes: retried on
        transient faults, each attempt cut after its budget."""
        return await self.backend.request(size, fn, *args, **kwargs)

    def _blocking(self, fn: Callable[..., Awaitable[T]], *args: Any, size: int = 0) -> T:
        return self.run(lambda: self.call(fn, *args, size=size))

    async def _listed(self, prefix: str, recursive: bool) -> list[Entry]:
        """Every page of a listing (each page one request, bounded and retried). Nothing
        there (no such folder, or no bucket at all: the caller asks which) is empty."""
        pages: AsyncIterator[list[Entry]] = self.backend.listing(prefix, recursive=recursive)
        try:
            return [entry async for page in pages for entry in page]
        except Exception as exc:
            if faults.is_not_found(exc):
                return []
            raise

    def listed(self, prefix: str, *, recursive: bool = True) -> list[Entry]:
        return self.run(lambda: self._listed(prefix, recursive))

    # -- the bucket itself -------------------------------------------------------------------
    @property
    def bucket_word(self) -> str:
        return self.backend.provider.bucket_word

    def bucket_exists(self) -> bool:
        """Whether the bucket (container) exists; a folder always does."""
        if self._bucket_seen:
            return True
        with self.errors(f"checking that the {self.bucket_word} exists at", path=self.bucket):
            found = self._blocking(self.backend.bucket_exists)
        self._bucket_seen = found
        return found

    def require_bucket(self, *, create: bool = False) -> None:
        """Fail clearly when the bucket is missing; with ``auto_create_bucket``, a missing
        bucket reads as empty and ``create=True`` (a push) creates it."""
        try:
            if self.bucket_exists():
                return
        except BackendError as exc:
            if not faults.is_denied(exc.__cause__ or exc):
                raise
            # Some roles may use the objects but not look at the bucket itself (GCS's
            # objectViewer has no storage.buckets.get): go on, the object calls will tell.
            log.debug("cannot tell whether the bucket exists (%s); going on", exc)
            self._bucket_seen = True
            return
        if not self.auto_create_bucket:
            raise self.missing_bucket()
        if create:
            self._create_bucket()

    def _create_bucket(self) -> None:
        with self.errors(f"creating the {self.bucket_word}", path=self.bucket):
            try:
                self._blocking(self.backend.create_bucket)
            except Exception:
                # Another process may have created it first: that is what we wanted.
                if not self._blocking(self.backend.bucket_exists):
                    raise
        self._bucket_seen = True

    def missing_bucket(self) -> BackendError:
        word = self.bucket_word
        return BackendError(
            f"the {word} {self.bucket!r} does not exist ({self.url_of(self.bucket)}): create "
            f"it, or set ASSETSTORE_AUTO_CREATE_BUCKET=true to have the first push create it",
            backend=self.url,
            unreachable=False,
        )

    # -- errors --------------------------------------------------------------------------------
    @contextmanager
    def errors(
        self, doing: str, *, path: str | None = None, not_found: bool = False
    ) -> Iterator[None]:
        """Translate whatever the backend raises into our errors: "not found" into
        ``AssetNotFoundError`` where ``not_found`` says it means that, a missing bucket
        and everything else into ``BackendError``. Messages name the bucket and the key
        (``path``), never a secret."""
        try:
            yield
        except AssetStoreError:
            raise
        except Exception as exc:
            raise self._translate(exc, doing, path, not_found=not_found) from exc

    def _translate(
        self, exc: Exception, doing: str, path: str | None, *, not_found: bool
    ) -> AssetStoreError:
        where = self.url_of(path) if path else self.url
        if faults.is_not_found(exc):
            if self._bucket_gone():
                return self.missing_bucket()
            if not_found:
                return AssetNotFoundError(
                    self._scrub(f"not found: {doing} {where}"), backend=self.url
                )
        message = self._scrub(f"{doing} {where} failed: {faults.describe(exc)}")
        return BackendError(message, backend=self.url, unreachable=faults.is_unreachable(exc))

    def _bucket_gone(self) -> bool:
        """After a "not found": was it the whole bucket? (One probe, on errors only; none
        from inside a transfer on the backend's loop, which the probe would wait on.)"""
        if self._bucket_seen or pool.on_loop(self.backend.loop):
            return False
        try:
            self._bucket_seen = bool(self._blocking(self.backend.bucket_exists))
        except Exception:
            return False
        return not self._bucket_seen

    def _scrub(self, text: str) -> str:
        return _SIGNATURE.sub(lambda m: f"{m[1]}={MASK}", scrub(text, self._secrets))


# Query parameters of presigned URLs and SAS tokens that carry a signature or a key id.
_SIGNATURE = re.compile(
    r"\b(sig|X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|X-Goog-Signature|"
    r"X-Goog-Credential|Signature|AWSAccessKeyId|AccountKey|SharedAccessSignature)=[^&;\s'\"]+",
    re.IGNORECASE,
)
