"""Fixtures of the shared backend suite: ``backend`` runs a test once per provider, each
time on a fresh, empty bucket of its own on a real server started on 127.0.0.1.

Servers start once per session, only when a test needs them; a server that cannot
start skips its tests, or fails them under ``CI=true`` (see ``servers.unavailable``).
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

try:
    from tests import servers
except ImportError:  # tests/ is not a package: pytest put tests/ itself on sys.path
    import servers  # type: ignore[no-redef]

from assetstore import AssetStore

PROVIDERS = ("memory", "local", "s3", "gcs", "az")
T = TypeVar("T")
# Small parts, so that a file of a few MiB already goes up in several (S3's minimum: 5).
PART_SIZE_MIB = 5


@dataclass
class Server:
    """A running server: the environment a store needs, and a plain fsspec filesystem
    on it for looking behind assetstore's back (tampering, listing every object)."""

    env: dict[str, str]
    raw: Any
    info: Any = None


@dataclass
class Backend:
    """One provider and a bucket of its own, for one test."""

    provider: str
    bucket: str
    env: dict[str, str]
    raw: Any
    tmp: Path
    server: Server | None = None
    signing_options: dict[str, Any] = field(default_factory=dict)
    _caches: Iterator[int] = field(default_factory=itertools.count)

    @property
    def object_store(self) -> bool:
        return self.provider in ("s3", "gcs", "az")

    def store(self, *, signing: bool = False, **overrides: Any) -> AssetStore:
        """A new store on this backend with an assets dir of its own, as another
        process or host would have."""
        env = {**self.env, "ASSETSTORE_ASSETS_DIR": str(self.tmp / f"cache{next(self._caches)}")}
        if signing and self.signing_options:
            overrides["storage_options"] = self.signing_options
        return AssetStore.from_env(env, **overrides)

    def key(self, relative: str) -> str:
        """The path, on ``raw``, of an object under the store's prefix."""
        return f"{self.bucket}/assets/{relative}"

    def objects(self) -> dict[str, bytes]:
        """Every object of the bucket and its bytes, read directly."""
        return {path: self.raw.cat_file(path) for path in self.raw.find(self.bucket)}

    def tamper(self, relative: str, data: bytes) -> None:
        self.raw.pipe_file(self.key(relative), data)


def _start(name: str, factory: Callable[[], AbstractContextManager[T]]) -> Iterator[T]:
    with ExitStack() as stack:
        try:
            srv = stack.enter_context(factory())
        except servers.ServerUnavailable as exc:
            servers.unavailable(f"{name}: {exc}")
        yield srv


@pytest.fixture(scope="session")
def s3_server() -> Iterator[Server]:
    s3fs = pytest.importorskip("s3fs")
    for srv in _start("moto", servers.moto_s3):
        env = {"AWS_ACCESS_KEY_ID": srv.key, "AWS_SECRET_ACCESS_KEY": srv.secret,
               "S3_ENDPOINT": srv.endpoint_url}  # fmt: skip
        raw = s3fs.S3FileSystem(
            key=srv.key,
            secret=srv.secret,
            client_kwargs={"endpoint_url": srv.endpoint_url},
            config_kwargs={"signature_version": "s3v4"},
            skip_instance_cache=True,
            use_listings_cache=False,
        )
        yield Server(env, raw, srv)


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[Server]:
    gcsfs = pytest.importorskip("gcsfs")
    for srv in _start("fake-gcs-server", servers.fake_gcs):
        env = {"STORAGE_EMULATOR_HOST": srv.endpoint_url, "GOOGLE_CLOUD_PROJECT": "test"}
        raw = gcsfs.core.GCSFileSystem(endpoint_url=srv.endpoint_url, token="anon",
                                       project="test", skip_instance_cache=True)  # fmt: skip
        yield Server(env, raw, srv)


@pytest.fixture(scope="session")
def az_server() -> Iterator[Server]:
    adlfs = pytest.importorskip("adlfs")
    for srv in _start("azurite", servers.azurite):
        env = {"AZURE_STORAGE_CONNECTION_STRING": srv.connection_string}
        raw = adlfs.AzureBlobFileSystem(
            connection_string=srv.connection_string, skip_instance_cache=True
        )
        yield Server(env, raw, srv)


@pytest.fixture(scope="session")
def gcs_signing_credentials() -> Any:
    """Service-account credentials made up on the spot: enough to sign URLs (locally),
    and, as self-signed JWTs, to authorise requests without asking Google for a token.
    fake-gcs-server checks neither."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from google.oauth2 import service_account

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account", "project_id": "test", "private_key_id": "test-key",
        "private_key": pem, "client_email": "assetstore-test@test.iam.gserviceaccount.com",
        "client_id": "1", "token_uri": "https://oauth2.googleapis.com/token",
    }  # fmt: skip
    scopes = ["https://www.googleapis.com/auth/devstorage.full_control"]
    credentials = service_account.Credentials.from_service_account_info(info, scopes=scopes)
    return credentials.with_always_use_jwt_access(True)


def new_bucket_name() -> str:
    """Valid for S3, GCS and Azure (3-63 characters, lowercase letters and digits)."""
    return f"t{uuid.uuid4().hex[:20]}"


@pytest.fixture(params=PROVIDERS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """The test's provider, with a fresh, empty bucket."""
    provider: str = request.param
    base = {
        "ASSETSTORE_STORAGE_PROVIDER": provider,
        "ASSETSTORE_PART_SIZE_MIB": str(PART_SIZE_MIB),
    }
    if provider == "local":
        from fsspec.implementations.local import LocalFileSystem

        bucket = str(tmp_path / "bucket")
        yield Backend(provider, bucket, {**base, "ASSETSTORE_STORAGE_BUCKET": bucket},
                      LocalFileSystem(auto_mkdir=True), tmp_path)  # fmt: skip
        return
    if provider == "memory":
        yield from _memory_backend(base, tmp_path)
        return
    server: Server = request.getfixturevalue(f"{provider}_server")
    bucket = new_bucket_name()
    server.raw.mkdir(bucket)
    signing = {}
    if provider == "gcs":
        signing = {"token": request.getfixturevalue("gcs_signing_credentials")}
    env = {**base, **server.env, "ASSETSTORE_STORAGE_BUCKET": bucket}
    yield Backend(provider, bucket, env, server.raw, tmp_path, server, signing)


def _memory_backend(base: dict[str, str], tmp_path: Path) -> Iterator[Backend]:
    from fsspec.implementations.memory import MemoryFileSystem

    raw = MemoryFileSystem(skip_instance_cache=True)
    bucket = f"/{new_bucket_name()}"
    yield Backend("memory", bucket, {**base, "ASSETSTORE_STORAGE_BUCKET": bucket}, raw, tmp_path)
    if raw.exists(bucket):  # the memory filesystem is one dict for the whole process
        raw.rm(bucket, recursive=True)


def subprocess_env(backend: Backend) -> dict[str, str]:
    """The environment a CLI process needs for ``backend`` (and a cache of its own)."""
    cache = backend.tmp / f"proc-cache-{uuid.uuid4().hex[:8]}"
    return {**backend.env, "ASSETSTORE_ASSETS_DIR": str(cache)}


@dataclass(frozen=True)
class IamS3:
    """moto checking every signature and policy, a bucket, and one user's keys."""

    endpoint_url: str
    bucket: str
    key: str
    secret: str


@contextmanager
def moto_with_iam(user: str, actions: str | list[str]) -> Iterator[IamS3]:
    """moto with IAM checks on, a bucket, and ``user`` allowed ``actions`` on it only."""
    boto3 = pytest.importorskip("boto3")
    with ExitStack() as stack:
        with pytest.MonkeyPatch.context() as patch:
            # moto checks credentials and policies after this many requests: ours below.
            patch.setenv("INITIAL_NO_AUTH_ACTION_COUNT", "4")
            try:
                srv = stack.enter_context(servers.moto_s3())
            except servers.ServerUnavailable as exc:
                servers.unavailable(f"moto: {exc}")
        setup = {"endpoint_url": srv.endpoint_url, "region_name": "us-east-1",
                 "aws_access_key_id": "setup", "aws_secret_access_key": "setup-only"}  # fmt: skip
        bucket = new_bucket_name()
        boto3.client("s3", **setup).create_bucket(Bucket=bucket)
        iam = boto3.client("iam", **setup)
        iam.create_user(UserName=user)
        key = iam.create_access_key(UserName=user)["AccessKey"]
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions,
                  "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]}  # fmt: skip
        iam.put_user_policy(UserName=user, PolicyName="policy", PolicyDocument=json.dumps(policy))
        yield IamS3(srv.endpoint_url, bucket, key["AccessKeyId"], key["SecretAccessKey"])
