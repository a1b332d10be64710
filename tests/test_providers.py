"""Provider options from the environment, the backend settings, and how filesystems
are built: SDK retries off, bounded timeouts, no instance or listing cache. The
translation of SDK errors into messages that name the bucket and key, and no secret.
No server is needed here; tests/backends/ runs the same code against real ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assetstore import AssetNotFoundError, BackendError, ConfigError, Settings
from assetstore.backends.base import Timeouts
from assetstore.backends.faults import describe
from assetstore.backends.memory import MemoryBackend
from assetstore.backends.registry import S3 as S3_PROVIDER
from assetstore.backends.registry import make_backend
from assetstore.config.settings import storage_options_from_env
from assetstore.repository.repository import Repository as Remote

S3 = {"ASSETSTORE_STORAGE_PROVIDER": "s3", "ASSETSTORE_STORAGE_BUCKET": "b"}


def make_filesystem(
    provider: str,
    options: dict[str, Any],
    *,
    connect_timeout: float = 5.0,
    read_timeout: float = 60.0,
) -> Any:
    """The filesystem the backend of ``provider`` builds with ``options``."""
    timeouts = Timeouts(connect_timeout, read_timeout)
    return make_backend(provider, "b", options, timeouts=timeouts, part_size=8 * 2**20).fs


class _NamedLikeS3(MemoryBackend):
    """The memory backend, naming its objects as S3 does (s3://bucket/key)."""

    provider = S3_PROVIDER


def options(provider: str, **env: str) -> dict[str, Any]:
    return storage_options_from_env(provider, env)[0]


def test_s3_compatible_options_from_the_environment() -> None:
    got = options(
        "s3",
        S3_ENDPOINT="https://minio.internal:9000",
        AWS_DEFAULT_REGION="auto",
        ASSETSTORE_S3_FORCE_PATH_STYLE="true",
        ASSETSTORE_S3_SSE="AES256",
        ASSETSTORE_S3_FIXED_UPLOAD_SIZE="yes",
    )
    assert got == {
        "client_kwargs": {"endpoint_url": "https://minio.internal:9000", "region_name": "auto"},
        "config_kwargs": {"s3": {"addressing_style": "path"}},
        "s3_additional_kwargs": {"ServerSideEncryption": "AES256"},
        "fixed_upload_size": True,
    }
    assert options("s3", ASSETSTORE_S3_FORCE_PATH_STYLE="false") == {}
    assert options("s3", ASSETSTORE_S3_FIXED_UPLOAD_SIZE="0") == {}


def test_a_kms_key_means_sse_kms() -> None:
    got = options("s3", AWS_KMS_KEY_ID="arn:aws:kms:eu-west-1:1:key/k", ASSETSTORE_S3_SSE="aws:kms")
    assert got["s3_additional_kwargs"] == {
        "ServerSideEncryption": "aws:kms",
        "SSEKMSKeyId": "arn:aws:kms:eu-west-1:1:key/k",
    }
    with pytest.raises(ConfigError, match=r"AWS_KMS_KEY_ID is set.*ASSETSTORE_S3_SSE='AES256'"):
        options("s3", AWS_KMS_KEY_ID="k", ASSETSTORE_S3_SSE="AES256")


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"ASSETSTORE_S3_SSE": "aes256"}, "ASSETSTORE_S3_SSE='aes256' is invalid: expected AES256"),
        ({"ASSETSTORE_S3_FORCE_PATH_STYLE": "maybe"}, "ASSETSTORE_S3_FORCE_PATH_STYLE='maybe'"),
        ({"ASSETSTORE_URL_EXPIRES": "-1"}, "ASSETSTORE_URL_EXPIRES='-1' is invalid"),
        ({"ASSETSTORE_PART_SIZE_MIB": "4"}, "must be between 5 and 5120"),
        ({"ASSETSTORE_PUBLIC_URL_BASE": "cdn.example.com"}, "must start with https://"),
        ({"ASSETSTORE_RETRY_ATTEMPTS": "0"}, "ASSETSTORE_RETRY_ATTEMPTS='0' is invalid"),
        ({"ASSETSTORE_CONNECT_TIMEOUT_SECONDS": "0"}, "must be more than 0"),
        ({"ASSETSTORE_AUTO_CREATE_BUCKET": "perhaps"}, "ASSETSTORE_AUTO_CREATE_BUCKET"),
    ],
)
def test_bad_backend_settings_are_config_errors(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.load({**S3, **env})
    assert fragment in str(info.value)


def test_backend_settings_defaults_and_environment() -> None:
    default = Settings.load(S3)
    assert (default.auto_create_bucket, default.url_expires, default.public_url_base) == (
        False, 3600, None,
    )  # fmt: skip
    assert (default.retry_attempts, default.retry_deadline_seconds) == (5, 60.0)
    assert (default.connect_timeout_seconds, default.read_timeout_seconds) == (5.0, 60.0)
    assert default.part_size_mib == 8
    given = Settings.load({**S3, "ASSETSTORE_AUTO_CREATE_BUCKET": "true",
                           "ASSETSTORE_URL_EXPIRES": "0",
                           "ASSETSTORE_PUBLIC_URL_BASE": "https://cdn.example.com/x/"})  # fmt: skip
    assert given.auto_create_bucket and given.url_expires == 0
    assert given.public_url_base == "https://cdn.example.com/x"
    shown = {row[0]: row[2] for row in given.describe()}
    assert shown["auto_create_bucket"] == "env ASSETSTORE_AUTO_CREATE_BUCKET"


def test_a_gcs_emulator_host_is_reached_anonymously(tmp_path: Path) -> None:
    emulator = options("gcs", STORAGE_EMULATOR_HOST="127.0.0.1:4443")
    assert emulator == {"endpoint_url": "http://127.0.0.1:4443", "token": "anon"}
    fs: Any = make_filesystem("gcs", emulator)
    assert fs.credentials.credentials is None  # no Authorization header is sent
    key = tmp_path / "sa.json"
    key.write_text("{}")
    keyed = options("gcs", STORAGE_EMULATOR_HOST="h:1", GOOGLE_APPLICATION_CREDENTIALS=str(key))
    assert keyed["token"] == str(key)


def test_s3_filesystems_leave_retries_to_us_and_time_out() -> None:
    given = {"config_kwargs": {"connect_timeout": 2}, "key": "k", "secret": "s"}
    fs: Any = make_filesystem("s3", given, connect_timeout=3, read_timeout=30)
    assert fs.config_kwargs == {
        "connect_timeout": 2,  # what the user gave wins
        "signature_version": "s3v4",
        "read_timeout": 30,
        "retries": {"mode": "standard", "total_max_attempts": 1},
        "response_checksum_validation": "when_required",  # we verify sha256 ourselves
        "s3": {"payload_signing_enabled": False},  # nor hash each upload twice
    }
    assert fs.retries == 1
    assert given["config_kwargs"] == {"connect_timeout": 2}  # the settings are not changed
    path_style = {"config_kwargs": {"s3": {"addressing_style": "path"}}}
    assert make_filesystem("s3", path_style).config_kwargs["s3"] == {
        "payload_signing_enabled": False,
        "addressing_style": "path",
    }
    assert fs.dircache.use_listings_cache is False
    assert make_filesystem("s3", given) is not fs  # no instance cache


def test_gcs_filesystems_leave_retries_to_us() -> None:
    import gcsfs.core

    fs: Any = make_filesystem("gcs", {"endpoint_url": "http://127.0.0.1:1", "token": "anon"})
    assert type(fs) is gcsfs.core.GCSFileSystem  # the JSON API class, for emulators
    assert fs._request.__func__ is gcsfs.core.GCSFileSystem._request.__wrapped__
    assert fs.requests_timeout.sock_connect == 5.0


def test_azure_filesystems_leave_retries_to_us() -> None:
    conn = ("DefaultEndpointsProtocol=http;AccountName=a;AccountKey=a2V5;"
            "BlobEndpoint=http://127.0.0.1:1/a;")  # fmt: skip
    fs: Any = make_filesystem("az", {"connection_string": conn}, connect_timeout=4)
    policy = fs.service_client._config.retry_policy
    assert policy.total_retries == 0
    assert fs.service_client._pipeline._transport.connection_config.timeout == 4


def _remote(tmp_path: Path) -> Remote:
    return Remote(_NamedLikeS3("my-bucket"), prefix="assets", secrets=("hunter2hunter2",))


def test_errors_name_the_bucket_and_key_and_no_secret(tmp_path: Path) -> None:
    from botocore.exceptions import ClientError

    remote = _remote(tmp_path)
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied for "
                          "hunter2hunter2"}}, "PutObject")  # type: ignore[arg-type]  # fmt: skip
    with pytest.raises(BackendError) as info, remote.errors("writing", path="my-bucket/assets/k"):
        raise PermissionError("Access Denied for hunter2hunter2") from denied
    assert str(info.value) == (
        "writing s3://my-bucket/assets/k failed: permission denied "
        "(AccessDenied: Access Denied for ***)"
    )
    assert info.value.exit_code == 7
    with (
        pytest.raises(AssetNotFoundError) as missing,
        remote.errors("downloading", path="my-bucket/assets/m/0.0/f", not_found=True),
    ):
        raise FileNotFoundError("my-bucket/assets/m/0.0/f")
    assert str(missing.value) == "not found: downloading s3://my-bucket/assets/m/0.0/f"


def test_signatures_in_urls_are_masked(tmp_path: Path) -> None:
    remote = _remote(tmp_path)
    url = "http://h/b/k?se=2030&sp=r&sig=c2VjcmV0c2lnbmF0dXJl&X-Amz-Signature=abcdef123456"
    with pytest.raises(BackendError) as info, remote.errors("reading"):
        raise OSError(f"bad gateway for {url}")
    assert "c2VjcmV0c2lnbmF0dXJl" not in str(info.value) and "abcdef123456" not in str(info.value)
    assert "sig=***" in str(info.value)


def test_describe_says_what_kind_of_failure() -> None:
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError

    assert describe(EndpointConnectionError(endpoint_url="http://x")).startswith(
        "backend unreachable (EndpointConnectionError"
    )
    assert describe(NoCredentialsError()).startswith("no usable credentials")
    assert describe(OSError("Forbidden: b/k\nmore")).startswith("permission denied (OSError:")


def test_a_retried_create_that_had_landed_is_not_taken_for_a_rival(tmp_path: Path) -> None:
    """A create-if-absent write whose answer was lost is retried: finding its own bytes
    there is success; anything else is someone else's."""
    remote = Remote(MemoryBackend(f"/t-{tmp_path.name}"), prefix="assets")
    path = f"{remote.root}/.manifests/m/0.0.reserved"
    remote.fs.pipe_file(path, b"mine")
    assert remote.create_once(path, b"mine")  # the first attempt had landed
    assert not remote.create_once(path, b"someone else's")
    remote.fs.rm(remote.root, recursive=True)
