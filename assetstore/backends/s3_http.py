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
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, quote

from ..io.pool import on_loop
from . import s3_put
from .s3_put import SSE_OPTIONS, PutSettings, make_store
from .s3_static import Located, StaticAccess, env_proxy, host_of

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
    session, the GET's signature from its ``S3SigV4Auth`` — or, for a configuration
    given in full (``static``, ``s3_static.py``), from that configuration, and then the
    filesystem is never made. Anything but a success returns None/False, and the caller
    asks s3fs, whose errors are the ones assetstore knows."""

    def __init__(
        self,
        fs: Callable[[], Any],
        put: PutSettings | None,
        verify: bool | str,
        timeouts: tuple[float | None, float | None],
        static: StaticAccess | None = None,
    ) -> None:
        self._fs = fs
        self.enabled = True
        self.put_settings = put
        self.static = static
        self._verify = verify
        self._timeouts = timeouts  # connect, read
        self._session: Any = None
        self._buckets: dict[str, Located | None] = {}
        self._stores: dict[str, Any] = {}
        self._signers: dict[tuple[str, str, str, str | None], Any] = {}

    @property
    def fs(self) -> Any:
        """The s3fs filesystem (made on first use)."""
        return self._fs()

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
        timeouts = (config.get("connect_timeout"), config.get("read_timeout"))
        return cls(lambda: fs, _put_settings(extra, verify, timeouts), verify, timeouts)

    @classmethod
    def for_static(
        cls,
        static: StaticAccess,
        options: Mapping[str, Any],
        timeouts: tuple[float, float],
        fs: Callable[[], Any],
    ) -> S3Direct | None:
        """The direct path for a configuration given in full: no botocore unless a
        request fails (``fs`` makes the filesystem then). None: obstore cannot be used."""
        extra = dict(options.get("s3_additional_kwargs") or {})
        put = _put_settings(extra, True, timeouts)
        if put is None or set(extra) - set(SSE_OPTIONS):
            return None
        return cls(fs, put, True, timeouts, static)

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
                self.refused(response.status)
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

        bucket, key = split(path)
        store = await self.store(bucket)
        if store is None:
            return False
        try:
            await s3_put.finished(lambda: put_async(store, key, data))
        except (PermissionDeniedError, UnauthenticatedError) as exc:
            self.refused(f"{type(exc).__name__}")
            return False
        except Exception as exc:  # obstore's errors are answered by s3fs's, below
            log.debug("S3 PUT through obstore failed, s3fs tries: %s", str(exc)[:200])
            return False
        return True

    async def store(self, bucket: str) -> Any | None:
        """The obstore store of ``bucket`` (None: obstore is not to be used)."""
        if bucket in self._stores:
            return self._stores[bucket]
        where = self._buckets.get(bucket) or await self._locate(bucket)
        if where is None:
            self.enabled = False
            return None
        static = None
        if self.static is not None or (self.fs.key and self.fs.secret):
            static = await self._credentials()
        assert self.put_settings is not None
        store = make_store(bucket, where.base, where.region, credentials=self._credentials,
                           static=static, settings=self.put_settings)  # fmt: skip
        self._stores[bucket] = store
        return store

    def refused(self, why: int | str) -> None:
        if (why in _GIVE_UP_STATUSES or isinstance(why, str)) and self.enabled:
            self.enabled = False
            log.debug("S3 direct path refused (%s): s3fs makes every request now", why)

    async def _send_get(self, path: str, headers: dict[str, str]) -> Any:
        """The GET, signed and sent (its response), or None when there is nothing to
        sign with."""
        import yarl

        bucket, key = split(path)
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

    def _presigned(self, bucket: str, key: str, where: Located, credentials: Any) -> str:
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
        if self.static is not None:
            return self.static.keys
        from botocore.credentials import ReadOnlyCredentials

        if self.fs.key and self.fs.secret:
            return ReadOnlyCredentials(self.fs.key, self.fs.secret, self.fs.token)
        await self.fs.set_session()
        found = await self.fs.session.get_credentials()
        return None if found is None else await found.get_frozen_credentials()

    async def _locate(self, bucket: str) -> Located | None:
        """The bucket's base URL and signing region, as botocore would use them, and
        the proxy the environment names for it."""
        if self.static is not None:
            self._buckets[bucket] = self.static.locate(bucket)
            return self._buckets[bucket]
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
            located = Located(base, host_of(base), region, env_proxy(base))
        self._buckets[bucket] = located
        return located

    def _http(self, url: str) -> Any:
        if self._session is None:
            import weakref

            import aiohttp

            connect, read = self._timeouts
            secure = url.startswith("https:")  # no TLS to set up: no CA bundle (~20 ms)
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(sock_connect=connect, sock_read=read),
                connector=aiohttp.TCPConnector(
                    limit=0, ssl=_ssl(self._verify) if secure else False
                ),
                # Not trust_env: aiohttp would then read ~/.netrc in a thread for every
                # request. The proxy (HTTP(S)_PROXY, NO_PROXY) is found once per bucket.
                auto_decompress=False,
                headers={"accept-encoding": "identity"},  # the bytes as stored
                skip_auto_headers=("Content-Type",),
            )
            weakref.finalize(self, _close, asyncio.get_running_loop(), self._session)
        return self._session


def split(path: str) -> tuple[str, str]:
    """The bucket and the key of a backend path (``bucket/key``)."""
    bucket, _, key = path.lstrip("/").partition("/")
    return bucket, key


def _put_settings(
    extra: Mapping[str, Any], verify: bool | str, timeouts: tuple[float | None, float | None]
) -> PutSettings | None:
    """What PUTs through obstore need, or None: s3fs makes the PUTs (obstore is missing,
    or the environment would steer it away)."""
    if not s3_put.available(os.environ):
        return None
    return PutSettings({k: str(v) for k, v in extra.items()}, verify, *timeouts, env_proxy)


def _signed_by_botocore(
    key: str, headers: dict[str, str], where: Located, credentials: Any
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
