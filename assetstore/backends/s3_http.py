"""The direct path of the ``s3`` backend, the two requests a transfer makes per file:
GET (ranged) of an object straight over aiohttp, on a URL obstore presigns (botocore's
own ``S3SigV4Auth`` signs where obstore may not), and PUT of a whole object through
obstore (``s3_put.py``).

Why: botocore's whole request path costs about 2 ms of CPU a request (endpoint rules,
event hooks, parsing), most of a 10,000-file transfer (benchmarks/findings.md), and its
signer alone about 100 µs (obstore's: 13 µs). obstore's GETs are not used: they refuse
the 200-with-Content-Range answers rclone gives every ranged GET (NotPartial).

Nothing here reads a private attribute of botocore or s3fs, and no answer is read past
what was asked for.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import parse_qs, quote

from ..io.pool import on_loop
from . import s3_put
from .s3_put import SSE_OPTIONS, PutSettings, make_store

log = logging.getLogger("assetstore")

# Answers that say the request was built wrongly for this bucket (a redirect to another
# region, a signature or header the store refuses): from then on, s3fs does it all.
_GIVE_UP_STATUSES = {301, 307, 400, 403}
# How long a presigned GET URL is valid: it is used at once; the margin covers clocks.
_URL_LIFETIME = datetime.timedelta(hours=1)


class S3Direct:
    """GET (ranged, over aiohttp) and PUT (through obstore) of objects of one s3fs
    filesystem. What botocore decides comes from botocore: the URL (endpoint,
    addressing) and the signing region from a URL it presigns, the credentials from the
    session, the GET's signature from its ``S3SigV4Auth``. Anything but a success returns
    None/False, and the caller asks s3fs, whose errors are the ones assetstore knows."""

    def __init__(self, fs: Any, put: PutSettings | None, verify: bool | str) -> None:
        self.fs = fs
        self.enabled = True
        self.put_settings = put
        self._verify = verify
        self._session: Any = None
        self._buckets: dict[str, _Bucket | None] = {}
        self._stores: dict[str, Any] = {}
        self._signers: dict[tuple[str, str, str, str | None], Any] = {}

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
            or set(extra) - set(SSE_OPTIONS)
            or config.get("signature_version") != "s3v4"
            or config.get("proxies")
        ):
            return None
        verify = (options or {}).get("client_kwargs", {}).get("verify", True)
        put = None
        if s3_put.available(os.environ):  # else s3fs makes the PUTs
            put = PutSettings({k: str(v) for k, v in extra.items()}, verify,
                              config.get("connect_timeout"), config.get("read_timeout"),
                              _env_proxy)  # fmt: skip
        return cls(fs, put, verify)

    async def get(self, path: str, start: int, end: int) -> bytes | None:
        """Bytes ``[start, end)`` of the object — never more, whatever the store sends
        (None: not a success, ask s3fs)."""
        if end <= start:
            return b""
        headers = {"range": f"bytes={start}-{end - 1}"}
        response = await self._send_get(path, headers)
        if response is None:
            return None
        async with response:
            if response.status not in (200, 206):
                self._refused(response.status)
                return None
            if "content-range" not in response.headers and start > 0:
                raise OSError(f"the store ignored the Range header of a GET of {path}")
            return await _read_at_most(response.content, end - start)

    async def put(self, path: str, data: bytes | bytearray) -> bool:
        """Write the object; False: not a success, ask s3fs."""
        if self.put_settings is None:
            return False
        from obstore import put_async
        from obstore.exceptions import PermissionDeniedError, UnauthenticatedError

        bucket, key, _ = self.fs.split_path(path)
        store = self._stores.get(bucket) or await self._store(bucket)
        if store is None:
            return False
        try:
            await put_async(store, key, data)
        except (PermissionDeniedError, UnauthenticatedError) as exc:
            self._refused(f"{type(exc).__name__}")
            return False
        except Exception as exc:  # obstore's errors are answered by s3fs's, below
            log.debug("S3 PUT through obstore failed, s3fs tries: %s", str(exc)[:200])
            return False
        return True

    async def _store(self, bucket: str) -> Any | None:
        where = self._buckets.get(bucket) or await self._locate(bucket)
        if where is None:
            self.enabled = False
            return None
        static = None
        if self.fs.key and self.fs.secret:
            static = await self._credentials()
        assert self.put_settings is not None
        store = make_store(bucket, where.base, where.region, credentials=self._credentials,
                           static=static, settings=self.put_settings)  # fmt: skip
        self._stores[bucket] = store
        return store

    def _refused(self, why: int | str) -> None:
        if (why in _GIVE_UP_STATUSES or isinstance(why, str)) and self.enabled:
            self.enabled = False
            log.debug("S3 direct path refused (%s): s3fs makes every request now", why)

    async def _send_get(self, path: str, headers: dict[str, str]) -> Any:
        """The GET, signed and sent (its response), or None when there is nothing to
        sign with."""
        import yarl

        bucket, key, _ = self.fs.split_path(path)
        where = self._buckets.get(bucket) or await self._locate(bucket)
        credentials = await self._credentials()
        if where is None or credentials is None:
            self.enabled = False
            return None
        if self.put_settings is not None:
            url = self._presigned(bucket, key, where, credentials)
        else:
            url, headers = _signed_by_botocore(key, headers, where, credentials)
        # encoded=True: the path goes out exactly as it was signed, never re-quoted
        return await self._http(url).request(
            "GET", yarl.URL(url, encoded=True), headers=headers, proxy=where.proxy
        )

    def _presigned(self, bucket: str, key: str, where: _Bucket, credentials: Any) -> str:
        """``key``'s URL signed by obstore (query-string SigV4, in Rust: about 13 µs a
        request against botocore's 100 µs, most of a 10,000-file pull's signing). The
        Range header is left unsigned, as S3 allows."""
        import obstore

        held = (bucket, credentials.access_key, credentials.secret_key, credentials.token)
        store = self._signers.get(held)
        if store is None:
            assert self.put_settings is not None
            store = make_store(bucket, where.base, where.region, credentials=self._credentials,
                               static=credentials, settings=self.put_settings)  # fmt: skip
            self._signers = {held: store}  # credentials that changed are not used again
        return obstore.sign(store, "GET", key, _URL_LIFETIME)

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


def _signed_by_botocore(
    key: str, headers: dict[str, str], where: _Bucket, credentials: Any
) -> tuple[str, dict[str, str]]:
    """The URL and headers of a request signed by botocore's ``S3SigV4Auth`` (where
    obstore does not sign: not installed, or steered by the environment)."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest

    url = where.base + quote(key, safe="/~")
    # The Host header is given, not left to the signer and aiohttp to work out (each
    # its own way, a fifth of the signer's time): both use this one value.
    request = AWSRequest(method="GET", url=url, headers={**headers, "host": where.host})
    S3SigV4Auth(credentials, "s3", where.region).add_auth(request)
    return url, dict(request.headers.items())


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
