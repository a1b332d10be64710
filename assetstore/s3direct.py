"""Object GETs and PUTs on S3 straight over aiohttp, signed with SigV4 here.

botocore spends about 2 ms of CPU on every request (endpoint rules, some twenty event
hooks, a user-agent string, response parsing): for a version of 10,000 small files that
is most of a push or pull (profiled in docs/benchmarks.md). This module does the two
requests a transfer makes per file — GET (ranged) and PUT of one object — with a
fraction of that. Everything else stays with s3fs and botocore, and so does every
answer that is not a success: the caller repeats the request through s3fs, whose
errors (and redirects, region hints, retried signatures) are the ones assetstore
already knows. Connection failures are raised as they are (aiohttp's exceptions,
which the retry policy classifies by name).

What botocore decides is taken from botocore, once per bucket: the URL (endpoint,
path-style or virtual-host addressing) and the signing region come from a presigned
URL it makes; the credentials are the client's own, refreshed by botocore. A
configuration this module does not model (anonymous access, another signature
version, requester-pays, customer-provided keys, proxies in the config) keeps every
request on s3fs.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import weakref
from datetime import datetime, timezone
from typing import Any, NamedTuple
from urllib.parse import parse_qs, quote, urlsplit

log = logging.getLogger("assetstore")

_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# s3fs's extra request arguments this module turns into headers; any other keeps s3fs.
_PUT_HEADERS = {
    "ServerSideEncryption": "x-amz-server-side-encryption",
    "SSEKMSKeyId": "x-amz-server-side-encryption-aws-kms-key-id",
}
# Answers that say the request was built wrongly for this bucket (a redirect to another
# region, a signature or header the store refuses): from then on, s3fs does it all.
_GIVE_UP_STATUSES = {301, 307, 400, 403}


class S3Direct:
    """Lean GET/PUT of objects in the buckets of one s3fs filesystem."""

    def __init__(self, fs: Any, put_headers: dict[str, str]) -> None:
        self.fs = fs
        self.enabled = True
        self._put_headers = put_headers
        self._session: Any = None
        self._buckets: dict[str, _Bucket] = {}
        self._keys: dict[tuple[str, str, str], bytes] = {}  # signing keys by day

    @classmethod
    def for_fs(cls, fs: Any) -> S3Direct | None:
        """The fast path for ``fs``, or None when its configuration is one s3fs keeps."""
        extra = dict(getattr(fs, "s3_additional_kwargs", None) or {})
        config = dict(getattr(fs, "config_kwargs", None) or {})
        unsupported = (
            getattr(fs, "anon", False)
            or getattr(fs, "req_kw", None)
            or set(extra) - set(_PUT_HEADERS)
            or config.get("signature_version") != "s3v4"  # assetstore's default
            or config.get("proxies")
        )
        if unsupported:
            return None
        return cls(fs, {_PUT_HEADERS[k]: str(v) for k, v in extra.items()})

    async def get(self, path: str, start: int, end: int) -> bytes | None:
        """Bytes ``[start, end)`` of the object, or None: ask s3fs (it was no success)."""
        if end <= start:
            return b""
        headers = {"range": f"bytes={start}-{end - 1}"}
        request = await self._request("GET", path, headers, b"", _EMPTY_SHA256)
        if request is None:
            return None
        async with request as response:
            if response.status not in (200, 206):
                self._refused(response.status)
                return None
            data: bytes = await response.read()
            ranged = "content-range" in response.headers  # rclone says so with a 200
        return data if ranged else data[start:end]  # no range: the whole object came

    async def put(self, path: str, data: bytes, sha256: str | None = None) -> bool:
        """Write the object (``sha256``: the hex digest of ``data``, if the caller has
        it); False: ask s3fs (it was no success)."""
        headers = {**self._put_headers, "content-length": str(len(data))}
        payload = sha256 or hashlib.sha256(data).hexdigest()
        request = await self._request("PUT", path, headers, data, payload)
        if request is None:
            return False
        async with request as response:
            await response.read()
            if response.status == 200:
                return True
            self._refused(response.status)
            return False

    def _refused(self, status: int) -> None:
        if status in _GIVE_UP_STATUSES and self.enabled:
            self.enabled = False
            log.debug("S3 fast path refused (HTTP %d): s3fs makes every request now", status)

    async def _request(
        self, method: str, path: str, headers: dict[str, str], body: bytes, payload: str
    ) -> Any | None:
        """The request, signed and sent (a context manager for its response), or None
        when there is nothing to sign with."""
        import yarl

        bucket, key, _ = self.fs.split_path(path)
        client = await self._client(bucket)
        where = self._buckets.get(bucket) or await self._locate(bucket, client)
        # botocore's own object, which it refreshes. A private method: if it is gone,
        # the fast path turns itself off rather than failing the transfer.
        get_credentials = getattr(client, "_get_credentials", None)
        credentials = get_credentials() if get_credentials is not None else None
        if where is None or credentials is None:
            self.enabled = False
            return None
        frozen = await credentials.get_frozen_credentials()
        url = where.base + quote(key, safe="/~")
        signed = self._sign(method, url, where.region, frozen, payload, headers)
        # encoded=True: the path goes out exactly as it was signed, never re-quoted
        return self._session.request(
            method,
            yarl.URL(url, encoded=True),
            data=body or None,
            headers=signed,
            proxy=where.proxy,
        )

    async def _client(self, bucket: str) -> Any:
        await self.fs.set_session()
        return await self.fs.get_s3(bucket)  # a per-region client when s3fs keeps them

    async def _locate(self, bucket: str, client: Any) -> _Bucket | None:
        """The bucket's base URL and signing region, as botocore would use them (None:
        botocore would not sign with SigV4)."""
        if self._session is None:
            self._session = _new_session(client)
            weakref.finalize(self, _close, self.fs.loop, self._session)
        presigned = await client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=60
        )
        url, _, query = presigned.partition("?")
        credential = parse_qs(query).get("X-Amz-Credential")  # key/day/region/s3/aws4_request
        if not credential or not url.endswith("/k"):
            return None
        base = url[: -len("k")]
        located = _Bucket(base, credential[0].split("/")[2], _env_proxy(base))
        self._buckets[bucket] = located
        return located

    def _sign(
        self,
        method: str,
        url: str,
        region: str,
        credentials: Any,
        payload: str,
        headers: dict[str, str],
        now: str | None = None,
    ) -> dict[str, str]:
        """SigV4 (AWS's "Signature Version 4 signing process"): the request's headers
        with ``x-amz-date``, ``x-amz-content-sha256`` and ``authorization`` added."""
        now = now or datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        parts = urlsplit(url)
        signed = {
            **headers,
            "host": parts.netloc,
            "x-amz-content-sha256": payload,
            "x-amz-date": now,
        }
        if credentials.token:
            signed["x-amz-security-token"] = credentials.token
        names = sorted(signed)
        canonical = "\n".join(
            [method, parts.path, "", *(f"{n}:{signed[n].strip()}" for n in names), "",
             ";".join(names), payload]
        )  # fmt: skip
        scope = f"{now[:8]}/{region}/s3/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{now}\n{scope}\n" + _sha256_hex(canonical)
        key = self._signing_key(credentials.secret_key, now[:8], region)
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        signed["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={signature}"
        )
        del signed["host"]  # aiohttp sends it from the URL
        return signed

    def _signing_key(self, secret: str, day: str, region: str) -> bytes:
        cached = self._keys.get((secret, day, region))
        if cached is None:
            cached = ("AWS4" + secret).encode()
            for part in (day, region, "s3", "aws4_request"):
                cached = hmac.new(cached, part.encode(), hashlib.sha256).digest()
            self._keys = {(secret, day, region): cached}  # one key: the current one
        return cached


class _Bucket(NamedTuple):
    base: str  # URL of the bucket's root, ending in "/"
    region: str  # the signing region
    proxy: str | None  # from HTTP(S)_PROXY unless NO_PROXY names the host


def _env_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url``, as botocore finds it."""
    from urllib.request import getproxies, proxy_bypass

    parts = urlsplit(url)
    proxy = getproxies().get(parts.scheme)
    if not proxy or proxy_bypass(parts.hostname or ""):
        return None
    return proxy


def _sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _new_session(client: Any) -> Any:
    """An aiohttp session with the botocore client's timeouts and TLS settings."""
    import aiohttp

    config = client.meta.config
    timeout = aiohttp.ClientTimeout(
        sock_connect=config.connect_timeout, sock_read=config.read_timeout
    )
    return aiohttp.ClientSession(
        timeout=timeout,
        connector=aiohttp.TCPConnector(limit=0, ssl=_ssl_context(client)),
        # Not trust_env: aiohttp would then read ~/.netrc in a thread for every
        # request. The proxy (HTTP(S)_PROXY, NO_PROXY) is found once per bucket.
        auto_decompress=False,
        # the bytes as stored: no content coding a proxy could add on the way
        headers={"accept-encoding": "identity"},
        skip_auto_headers=("Content-Type",),
    )


def _ssl_context(client: Any) -> Any:
    """False (no verification) or a context with the CA bundle botocore verifies with."""
    import ssl

    from botocore.httpsession import get_cert_path

    # A private attribute: if aiobotocore moves it, verify with the default bundle.
    session = getattr(getattr(client, "_endpoint", None), "http_session", None)
    verify = getattr(session, "_verify", True)
    if verify is False or not str(client.meta.endpoint_url).startswith("https:"):
        return False  # no TLS to set up (loading the CA bundle takes ~20 ms)
    return ssl.create_default_context(cafile=get_cert_path(verify))


def _close(loop: asyncio.AbstractEventLoop, session: Any) -> None:
    """Close the session on its loop if the loop still runs; else drop its sockets."""
    try:
        if loop.is_running():
            future = asyncio.run_coroutine_threadsafe(session.close(), loop)
            if not _on(loop):  # waiting on the loop's own thread would block it
                future.result(timeout=5)
        elif session.connector is not None:
            session.connector._close()
    except Exception as exc:  # closing at exit: nothing left to tell
        log.debug("closing the S3 fast path's session: %s", exc)


def _on(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
