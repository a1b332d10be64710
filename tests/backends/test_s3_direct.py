"""The direct S3 GET/PUT path (``s3_http.py``, ``s3_put.py``) on servers that check every
signature: rclone (header-signed PUTs and presigned GETs) and moto with IAM checks on
(PUTs and policies; it cannot read a presigned URL). What it signs is accepted byte for
byte, and what it cannot do is handed to s3fs, whose errors are the ones users see."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import servers

from assetstore import AssetStore
from assetstore.backends.s3_http import S3Direct
from assetstore.errors import AssetStoreError

from .conftest import moto_with_iam

pytestmark = pytest.mark.integration
# Keys a user can push: spaces, '+', '%', '~', '=', non-ASCII, a deep folder.
KEYS = ["plain.bin", "with space.txt", "a+b=c.txt", "100%.txt", "~tilde", "é/ü/日本.txt",
        "d1/d2/d3/d4/leaf"]  # fmt: skip


@dataclass(frozen=True)
class SignedS3:
    """moto checking every signature, a bucket, and a user allowed everything on it."""

    endpoint_url: str
    bucket: str
    key: str
    secret: str

    def env(self, *, secret: str | None = None, **extra: str) -> dict[str, str]:
        return {"ASSETSTORE_STORAGE_PROVIDER": "s3", "ASSETSTORE_STORAGE_BUCKET": self.bucket,
                "AWS_ACCESS_KEY_ID": self.key, "AWS_SECRET_ACCESS_KEY": secret or self.secret,
                "S3_ENDPOINT": self.endpoint_url, **extra}  # fmt: skip


@pytest.fixture(scope="module")
def signed_s3() -> Iterator[SignedS3]:
    with moto_with_iam("writer", "s3:*") as s3:
        yield SignedS3(s3.endpoint_url, s3.bucket, s3.key, s3.secret)


@pytest.fixture(scope="module")
def checked_s3() -> Iterator[SignedS3]:
    """rclone's S3 server: presigned GETs are checked too."""
    try:
        with servers.rclone_s3() as srv:
            (srv.root / "checked").mkdir()
            yield SignedS3(srv.endpoint_url, "checked", srv.key, srv.secret)
    except servers.ServerUnavailable as exc:
        servers.unavailable(f"rclone: {exc}")


def direct_of(store: AssetStore) -> S3Direct:
    direct = store.remote.backend.direct
    assert direct is not None, "an S3 store with plain options takes the fast path"
    return direct


def run(store: AssetStore, work: Any) -> Any:
    return store.remote.run(work)


@pytest.mark.parametrize("server", ["rclone", "moto-iam"])
def test_signed_requests_are_accepted_for_every_kind_of_key(
    server: str, request: pytest.FixtureRequest, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """Both servers check the PUTs' signatures; rclone checks the presigned GETs'."""
    s3: SignedS3 = request.getfixturevalue("checked_s3" if server == "rclone" else "signed_s3")
    caplog.set_level(logging.DEBUG, logger="assetstore")
    store = AssetStore.from_env({**s3.env(), "ASSETSTORE_ASSETS_DIR": str(tmp_path)})
    direct = direct_of(store)
    for key in KEYS:
        path = f"{s3.bucket}/direct/{key}"
        data = key.encode() * 100
        assert run(store, lambda p=path, d=data: direct.put(p, d)) is True, key
        assert store.remote.fs.cat_file(path) == data, key  # read back through s3fs
        if server == "rclone":
            assert run(store, lambda p=path: direct.get(p, 3, 10)) == data[3:10], key
    assert direct.enabled
    assert "through obstore failed" not in caplog.text  # obstore made every PUT


def test_a_presigned_get_with_a_wrong_secret_is_refused(
    checked_s3: SignedS3, tmp_path: Path
) -> None:
    """The server checks the presigned URL: signed with the wrong secret, the direct GET
    is refused (and the direct path turned off), and s3fs's answer is the error."""
    good = AssetStore.from_env({**checked_s3.env(), "ASSETSTORE_ASSETS_DIR": str(tmp_path / "a")})
    path = f"{checked_s3.bucket}/refused/obj"
    good.remote.fs.pipe_file(path, b"0123456789")
    env = checked_s3.env(secret="wrong-secret-0123456789abcdef")
    store = AssetStore.from_env({**env, "ASSETSTORE_ASSETS_DIR": str(tmp_path / "b")})
    direct = direct_of(store)
    assert run(store, lambda: direct.get(path, 0, 5)) is None
    assert not direct.enabled
    with pytest.raises(AssetStoreError) as caught:
        run(store, lambda: store.remote.read_range_async(path, 0, 5))
    assert "wrong-secret" not in str(caught.value)


def test_where_obstore_may_not_sign_botocore_signs_the_gets(
    signed_s3: SignedS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A variable obstore would follow (and s3fs would not) keeps obstore out: the PUTs
    are s3fs's and the direct GETs are signed by botocore's ``S3SigV4Auth``."""
    monkeypatch.setenv("AWS_CHECKSUM_ALGORITHM", "CRC32")
    store = AssetStore.from_env({**signed_s3.env(), "ASSETSTORE_ASSETS_DIR": str(tmp_path)})
    direct = direct_of(store)
    assert direct.put_settings is None
    for key in KEYS:
        path = f"{signed_s3.bucket}/botocore/{key}"
        data = key.encode() * 100
        store.remote.fs.pipe_file(path, data)
        assert run(store, lambda p=path: direct.get(p, 3, 10)) == data[3:10], key
    assert direct.enabled


def test_credentials_from_a_profile_sign_the_puts_too(
    signed_s3: SignedS3,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No keys given: botocore's chain finds them (here a profile of a shared credentials
    file), and obstore asks for them through its credential provider."""
    caplog.set_level(logging.DEBUG, logger="assetstore")
    credentials = tmp_path / "credentials"
    credentials.write_text(f"[team]\naws_access_key_id = {signed_s3.key}\n"
                           f"aws_secret_access_key = {signed_s3.secret}\n")  # fmt: skip
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    env = {k: v for k, v in signed_s3.env().items() if not k.startswith("AWS_")}
    store = AssetStore.from_env({**env, "AWS_PROFILE": "team",
                                 "ASSETSTORE_ASSETS_DIR": str(tmp_path / "a")})  # fmt: skip
    source = tmp_path / "tree"
    for key in KEYS:
        (source / key).parent.mkdir(parents=True, exist_ok=True)
        (source / key).write_bytes(key.encode())
    store.push(source, "profiled")
    pulled = AssetStore.from_env(
        {**signed_s3.env(), "ASSETSTORE_ASSETS_DIR": str(tmp_path / "b")}
    ).get("profiled")
    assert all((pulled / key).read_bytes() == key.encode() for key in KEYS)
    assert direct_of(store).enabled
    assert "through obstore failed" not in caplog.text


def test_a_pushed_tree_round_trips_through_the_fast_path(
    checked_s3: SignedS3, tmp_path: Path
) -> None:
    signed_s3 = checked_s3
    source = tmp_path / "tree"
    for i, key in enumerate(KEYS):
        (source / key).parent.mkdir(parents=True, exist_ok=True)
        (source / key).write_bytes(bytes([i]) * (i * 1000 + 1))
    env = signed_s3.env()
    pusher = AssetStore.from_env({**env, "ASSETSTORE_ASSETS_DIR": str(tmp_path / "a")})
    pusher.push(source, "tree")
    puller = AssetStore.from_env({**env, "ASSETSTORE_ASSETS_DIR": str(tmp_path / "b")})
    pulled = puller.get("tree")
    for key in KEYS:
        assert (pulled / key).read_bytes() == (source / key).read_bytes(), key
    assert direct_of(pusher).enabled and direct_of(puller).enabled


def test_answers_other_than_success_go_to_s3fs(checked_s3: SignedS3, tmp_path: Path) -> None:
    signed_s3 = checked_s3
    store = AssetStore.from_env({**signed_s3.env(), "ASSETSTORE_ASSETS_DIR": str(tmp_path)})
    direct = direct_of(store)
    path = f"{signed_s3.bucket}/direct/small"
    assert run(store, lambda: direct.put(path, b"12345"))
    assert run(store, lambda: direct.get(f"{signed_s3.bucket}/direct/none", 0, 5)) is None
    assert run(store, lambda: direct.get(path, 5, 10)) is None  # 416: past the end
    assert run(store, lambda: store.remote.read_range_async(path, 5, 10)) == b""
    assert direct.enabled  # not found and past the end are answers, not refusals


def test_a_wrong_secret_turns_the_fast_path_off_and_fails_cleanly(
    signed_s3: SignedS3, tmp_path: Path
) -> None:
    env = signed_s3.env(secret="wrong-secret-0123456789abcdef")
    store = AssetStore.from_env({**env, "ASSETSTORE_ASSETS_DIR": str(tmp_path)})
    direct = direct_of(store)
    assert run(store, lambda: direct.put(f"{signed_s3.bucket}/x", b"x")) is False
    assert not direct.enabled
    with pytest.raises(AssetStoreError) as caught:
        run(store, lambda: store.remote.write_async(f"{signed_s3.bucket}/x", b"x"))
    assert "SignatureDoesNotMatch" in str(caught.value)
    assert "wrong-secret" not in str(caught.value)


@pytest.mark.parametrize(
    "options",
    [
        {"anon": True},
        {"requester_pays": True},
        {"s3_additional_kwargs": {"SSECustomerAlgorithm": "AES256"}},
        {"config_kwargs": {"proxies": {"https": "http://proxy:3128"}}},
        {"config_kwargs": {}},  # botocore's own choice of signature
        {"config_kwargs": {"signature_version": "s3"}},
    ],
)
def test_options_it_does_not_model_keep_s3fs(options: dict[str, Any]) -> None:
    import s3fs

    options.setdefault("config_kwargs", {"signature_version": "s3v4"})
    fs = s3fs.S3FileSystem(skip_instance_cache=True, **options)
    assert S3Direct.for_fs(fs) is None


def test_sse_options_become_obstore_settings() -> None:
    import s3fs

    extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "arn:key"}
    fs = s3fs.S3FileSystem(skip_instance_cache=True, s3_additional_kwargs=extra,
                           config_kwargs={"signature_version": "s3v4"})  # fmt: skip
    direct = S3Direct.for_fs(fs)
    assert direct is not None
    assert direct.put_settings.sse == {
        "server_side_encryption": "aws:kms",
        "sse_kms_key_id": "arn:key",
    }
