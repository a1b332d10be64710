"""The direct path of the ``s3`` backend: GET (ranged) and PUT of one object straight
over aiohttp, signed by botocore's own ``S3SigV4Auth``.

Why: botocore's whole request path costs about 2 ms of CPU a request (endpoint rules,
event hooks, parsing), most of a 10,000-file push; its signer alone about 75 µs
(benchmarks/findings.md). obstore was measured as the replacement and kept out: it
refuses the 200-with-Content-Range answers rclone gives every ranged GET (NotPartial).

Nothing here reads a private attribute of botocore or s3fs, and no answer is read past
what was asked for.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import parse_qs, quote

from botocore.auth import EMPTY_SHA256_HASH, S3SigV4Auth

from ..io.pool import on_loop

log = logging.getLogger("assetstore")

# s3fs's extra request arguments that become headers; any other keeps every request on s3fs.
_PUT_HEADERS = {
    "ServerSideEncryption": "x-amz-server-side-encryption",
    "SSEKMSKeyId": "x-amz-server-side-encryption-aws-kms-key-id",
}
# Answers that say the request was built wrongly for this bucket (a redirect to another
# region, a signature or header the store refuses): from then on, s3fs does it all.
_GIVE_UP_STATUSES = {301, 307, 400, 403}


class S3Direct:
    """GET (ranged) and PUT of objects of one s3fs filesystem, straight over aiohttp.
    What botocore decides comes from botocore: the URL (endpoint, addressing) and the
    signing region from a URL it presigns, the credentials from the session, the
    signature from its ``S3SigV4Auth``. Anything but a success returns None/False, and
    the caller asks s3fs, whose errors are the ones assetstore knows."""

    def __init__(self, fs: Any, put_headers: dict[str, str], verify: bool | str) -> None:
        self.fs = fs
        self.enabled = True
        self._put_headers = put_headers
        self._verify = verify
        self._session: Any = None
        self._buckets: dict[str, _Bucket | None] = {}

    @classmethod
    def for_fs(cls, fs: Any, options: Mapping[str, Any] | None = None) -> S3Direct | None:
        """The direct path for ``fs``, or None when its configuration is one s3fs keeps
        (anonymous access, another signature version, requester-pays, customer keys,
        proxies in the config)."""
        extra = dict(getattr(fs, "s3_additional_kwargs", None) or {})
        config = dict(getattr(fs, "config_kwargs", None) or {})
        if (
            getattr(fs, "anon", False)
            or getattr(fs, "req_kw", None)
            or set(extra) - set(_PUT_HEADERS)
            or config.get("signature_version") != "s3v4"
            or config.get("proxies")
        ):
            return None
        verify = (options or {}).get("client_kwargs", {}).get("verify", True)
        return cls(fs, {_PUT_HEADERS[k]: str(v) for k, v in extra.items()}, verify)

    async def get(self, path: str, start: int, end: int) -> bytes | None:
        """Bytes ``[start, end)`` of the object — never more, whatever the store sends
        (None: not a success, ask s3fs)."""
        if end <= start:
            return b""
        headers = {"range": f"bytes={start}-{end - 1}"}
        response = await self._send("GET", path, headers, b"", EMPTY_SHA256_HASH)
        if response is None:
            return None
        async with response:
            if response.status not in (200, 206):
                self._refused(response.status)
                return None
            if "content-range" not in response.headers and start > 0:
                raise OSError(f"the store ignored the Range header of a GET of {path}")
            return await _read_at_most(response.content, end - start)

    async def put(self, path: str, data: bytes, sha256: str | None = None) -> bool:
        """Write the object (``sha256``: the hex digest of ``data``, when known); False:
        not a success, ask s3fs."""
        headers = {**self._put_headers, "content-length": str(len(data))}
        digest = sha256 or hashlib.sha256(data).hexdigest()
        response = await self._send("PUT", path, headers, data, digest)
        if response is None:
            return False
        async with response:
            await _read_at_most(response.content, 64 * 1024)
            if response.status == 200:
                return True
            self._refused(response.status)
            return False

    def _refused(self, status: int) -> None:
        if status in _GIVE_UP_STATUSES and self.enabled:
            self.enabled = False
            log.debug("S3 direct path refused (HTTP %d): s3fs makes every request now", status)

    async def _send(
        self, method: str, path: str, headers: dict[str, str], body: bytes, payload: str
    ) -> Any:
        """The request, signed (``payload``: the body's hex sha256) and sent (its
        response), or None when there is nothing to sign with."""
        import yarl
        from botocore.awsrequest import AWSRequest

        bucket, key, _ = self.fs.split_path(path)
        where = self._buckets.get(bucket) or await self._locate(bucket)
        credentials = await self._credentials()
        if where is None or credentials is None:
            self.enabled = False
            return None
        url = where.base + quote(key, safe="/~")
        # The Host header is given, not left to the signer and aiohttp to work out (each
        # its own way, a fifth of the signer's time): both use this one value.
        headers = {**headers, "host": where.host}
        request = AWSRequest(method=method, url=url, headers=headers, data=body)
        _KnownPayload(credentials, "s3", where.region, payload).add_auth(request)
        signed = dict(request.headers.items())
        # encoded=True: the path goes out exactly as it was signed, never re-quoted
        return await self._http(url).request(
            method, yarl.URL(url, encoded=True), data=body or None, headers=signed,
            proxy=where.proxy,
        )  # fmt: skip

    async def _credentials(self) -> Any | None:
        """The keys given, else the session's chain (refreshed by botocore)."""
        from botocore.credentials import ReadOnlyCredentials

        if self.fs.key and self.fs.secret:
            return ReadOnlyCredentials(self.fs.key, self.fs.secret, self.fs.token)
        await self.fs.set_session()
        found = await self.fs.session.get_credentials()
        return None if found is None else await found.get_frozen_credentials()

    async def _locate(self, bucket: str) -> _Bucket | None:
        """The bucket's base URL and signing region, as botocore would use them, and
        the proxy the environment names for it."""
        await self.fs.set_session()
        client = await self.fs.get_s3(bucket)
        presigned = await client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=60
        )
        url, _, query = presigned.partition("?")
        credential = parse_qs(query).get("X-Amz-Credential")  # key/day/region/s3/aws4_request
        located = None
        if credential and url.endswith("/k"):
            base = url[: -len("k")]
            region = credential[0].split("/")[2]
            located = _Bucket(base, _host(base), region, _env_proxy(base))
        self._buckets[bucket] = located
        return located

    def _http(self, url: str) -> Any:
        if self._session is None:
            import weakref

            import aiohttp

            config = self.fs.config_kwargs
            secure = url.startswith("https:")  # no TLS to set up: no CA bundle (~20 ms)
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(
                    sock_connect=config.get("connect_timeout"), sock_read=config.get("read_timeout")
                ),
                connector=aiohttp.TCPConnector(
                    limit=0, ssl=_ssl(self._verify) if secure else False
                ),
                # Not trust_env: aiohttp would then read ~/.netrc in a thread for every
                # request. The proxy (HTTP(S)_PROXY, NO_PROXY) is found once per bucket.
                auto_decompress=False,
                headers={"accept-encoding": "identity"},  # the bytes as stored
                skip_auto_headers=("Content-Type",),
            )
            weakref.finalize(self, _close, self.fs.loop, self._session)
        return self._session


class _KnownPayload(S3SigV4Auth):  # type: ignore[misc]  # botocore has no types
    """botocore's S3 signer, given the body's sha256 instead of hashing it again (an
    upload's bytes were hashed as they were read: one digest for the manifest and the
    signature). Everything else is botocore's: canonical request, key, signature."""

    def __init__(self, credentials: Any, service: str, region: str, payload: str) -> None:
        super().__init__(credentials, service, region)
        self._payload = payload

    def payload(self, request: Any) -> str:
        return self._payload


class _Bucket(NamedTuple):
    base: str  # URL of the bucket's root, ending in "/"
    host: str  # its Host header: host[:port], the port only when not the scheme's own
    region: str  # the signing region
    proxy: str | None  # from HTTP(S)_PROXY unless NO_PROXY names the host


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    host = parts.netloc.rpartition("@")[2]
    if parts.port is not None and parts.port == default:
        host = host.rpartition(":")[0]
    return host


def _env_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url``, as botocore finds it."""
    from urllib.parse import urlsplit
    from urllib.request import getproxies, proxy_bypass

    parts = urlsplit(url)
    proxy = getproxies().get(parts.scheme)
    if not proxy or proxy_bypass(parts.hostname or ""):
        return None
    return proxy


def _ssl(verify: bool | str) -> Any:
    """The TLS verification botocore would do: none, a CA bundle, or the default one."""
    import ssl

    from botocore.httpsession import get_cert_path

    if verify is False:
        return False
    return ssl.create_default_context(cafile=get_cert_path(verify))


def _close(loop: asyncio.AbstractEventLoop, session: Any) -> None:
    """Close the session on its loop if the loop still runs; else drop its sockets."""
    try:
        if loop.is_running():
            future = asyncio.run_coroutine_threadsafe(session.close(), loop)
            if not on_loop(loop):  # waiting on the loop's own thread would block it
                future.result(timeout=5)
    except Exception as exc:  # closing at exit: nothing left to tell
        log.debug("closing the S3 direct path's session: %s", exc)


async def _read_at_most(stream: Any, limit: int) -> bytes:
    """Up to ``limit`` bytes of a response body; the rest is never read."""
    chunks: list[bytes] = []
    held = 0
    while held < limit and (chunk := await stream.read(limit - held)):
        chunks.append(chunk)
        held += len(chunk)
    return b"".join(chunks)
