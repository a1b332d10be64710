"""PUT of one whole object on the direct path of the ``s3`` backend, through obstore (the
bindings of the Rust ``object_store`` crate).

Why: a transfer makes one PUT per small file. Signed by botocore's ``S3SigV4Auth`` and
sent over aiohttp, each cost about 170 µs of the event loop's CPU for the signature alone,
12% of a 10,000-file push (benchmarks/findings.md); obstore signs, hashes and sends in
Rust, off the loop and without the GIL. Its ranged GETs are not used: they refuse the
``200`` with ``Content-Range`` that rclone answers (``s3_http.py`` keeps GETs).

What botocore decides still comes from botocore (the bucket's URL and signing region,
from a URL it presigns; the credentials, from the keys given or the session's chain).
obstore retries nothing (assetstore's policy does) and any failure is answered by s3fs,
whose errors are the ones assetstore knows.
"""

from __future__ import annotations

import asyncio
import atexit
import datetime
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from obstore.store import ClientConfig, S3Config, S3Credential, S3Store

# How long obstore may keep credentials from the session's chain before asking again:
# botocore refreshes them at least 10 minutes before they expire, so they outlive this.
_CREDENTIALS_KEPT = datetime.timedelta(minutes=5)
# obstore's own bound on a whole request (default 30 s) would cut a slow large PUT; the
# call's bound is assetstore's (io/policy.within), so this one only backs it up.
_REQUEST_BOUND = datetime.timedelta(hours=1)
# s3fs's extra request arguments for uploads, as obstore's configuration keys.
SSE_OPTIONS = {"ServerSideEncryption": "server_side_encryption", "SSEKMSKeyId": "sse_kms_key_id"}

# obstore reads AWS_* variables itself; what assetstore sets overrides them, but these
# would make its PUTs differ from s3fs's requests (encryption, payer, signing): when one
# is set, s3fs makes the PUTs.
_ENVIRONMENT_IT_WOULD_FOLLOW = (
    "AWS_SERVER_SIDE_ENCRYPTION", "AWS_SSE_KMS_KEY_ID", "AWS_SSE_BUCKET_KEY_ENABLED",
    "AWS_SSE_CUSTOMER_KEY_BASE64", "AWS_REQUEST_PAYER", "AWS_SKIP_SIGNATURE",
    "AWS_CHECKSUM_ALGORITHM", "AWS_UNSIGNED_PAYLOAD",
)  # fmt: skip

Credentials = Callable[[], Awaitable[Any]]  # -> botocore ReadOnlyCredentials or None
T = TypeVar("T")
# How long the interpreter's exit waits for obstore requests still running.
_EXIT_WAIT_SECONDS = 10.0
_in_flight: set[asyncio.Future[Any]] = set()
_starting = threading.Lock()  # a request starts, or the exit closes the door: not both
_exiting = False
_last_answer = 0.0  # when the last request ended (monotonic; 0: none yet)
# How long after the last answer the exit waits for Rust threads to leave Python.
_RUST_THREADS_LEAVE = 0.02


async def finished(start: Callable[[], Awaitable[T]]) -> T:
    """Start an obstore request (``start()``) and await it. It runs in Rust to its end
    even when the caller is cancelled (a timeout, a failed sibling), and a request that
    ends while Python finalizes makes the process abort (a Rust thread taking the GIL
    then is unwound by ``pthread_exit``: PyO3/pyo3-async-runtimes#40). So each is
    tracked until it ends, none starts once the interpreter exits, and the exit waits
    for those running."""
    with _starting:
        if _exiting:
            raise RuntimeError("the process is exiting: no new S3 request starts")
        future = asyncio.ensure_future(start())
        _in_flight.add(future)
    future.add_done_callback(_answered)
    return await asyncio.shield(future)


@atexit.register
def _wait_for_in_flight() -> None:
    """Close the door, wait for the requests running, then let the Rust threads that
    handed back the last answers leave Python (each still holds, or waits for, the GIL
    for a moment after its answer is seen: sleeping hands it over)."""
    global _exiting
    with _starting:
        _exiting = True
    deadline = time.monotonic() + _EXIT_WAIT_SECONDS
    while any(not f.done() for f in list(_in_flight)) and time.monotonic() < deadline:
        time.sleep(0.005)
    if _last_answer:
        time.sleep(max(0.0, _last_answer + _RUST_THREADS_LEAVE - time.monotonic()))


def _answered(future: asyncio.Future[Any]) -> None:
    global _last_answer
    _in_flight.discard(future)
    _last_answer = time.monotonic()


def available(environ: Mapping[str, str]) -> bool:
    """obstore is installed, and nothing in the environment would steer it away from
    the requests s3fs makes."""
    import importlib.util

    if any(environ.get(name) for name in _ENVIRONMENT_IT_WOULD_FOLLOW):
        return False
    return importlib.util.find_spec("obstore") is not None


def make_store(
    bucket: str,
    base: str,
    region: str,
    *,
    credentials: Credentials,
    static: Any | None,
    settings: PutSettings,
) -> S3Store:
    """An obstore S3 store whose object URLs are ``base`` + key (``base``: the bucket's
    URL as botocore addresses it, path- or virtual-hosted style). ``static``: fixed keys;
    else ``credentials`` is asked, every few minutes."""
    from obstore.store import S3Store

    # The endpoint is the bucket's own URL whatever the addressing style: obstore then
    # appends only the key.
    config: S3Config = {"endpoint": base.rstrip("/"), "virtual_hosted_style_request": True,
                        "region": region, **settings.sse}  # fmt: skip
    if static is not None:
        config["access_key_id"] = static.access_key
        config["secret_access_key"] = static.secret_key
        if static.token:
            config["session_token"] = static.token
    provider = None if static is not None else _provider(credentials)
    return S3Store(
        bucket, config=config, client_options=settings.client_options(base),
        retry_config={"max_retries": 0}, credential_provider=provider,  # type: ignore[arg-type]
    )  # fmt: skip


class PutSettings:
    """What of the backend's configuration a PUT through obstore needs."""

    def __init__(
        self,
        sse: dict[str, str],
        verify: bool | str,
        connect_timeout: float | None,
        read_timeout: float | None,
        proxy: Callable[[str], str | None],
    ) -> None:
        self.sse: S3Config = {SSE_OPTIONS[k]: v for k, v in sse.items()}  # type: ignore[assignment]
        self.verify = verify
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.proxy = proxy

    def client_options(self, base: str) -> ClientConfig:
        options: ClientConfig = {"allow_http": base.startswith("http:"),
                                   "timeout": _REQUEST_BOUND}  # fmt: skip
        if self.connect_timeout:
            options["connect_timeout"] = datetime.timedelta(seconds=self.connect_timeout)
        if self.read_timeout:
            options["read_timeout"] = datetime.timedelta(seconds=self.read_timeout)
        if self.verify is False:
            options["allow_invalid_certificates"] = True
        elif isinstance(self.verify, str):
            options["root_certificate"] = self.verify
        proxy = self.proxy(base)
        if proxy:
            options["proxy_url"] = proxy
        return options


def _provider(credentials: Credentials) -> Callable[[], Awaitable[S3Credential]]:
    async def provide() -> S3Credential:
        found = await credentials()
        if found is None:
            raise PermissionError("no AWS credentials found")
        return {
            "access_key_id": found.access_key, "secret_access_key": found.secret_key,
            "token": found.token,
            "expires_at": datetime.datetime.now(datetime.timezone.utc) + _CREDENTIALS_KEPT,
        }  # fmt: skip

    return provide
