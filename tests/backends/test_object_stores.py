"""What only object stores do, checked on the servers: uploads in parts with bounded
memory, and the S3-compatible options (server-side encryption, KMS keys, path-style
addressing by hostname, equal-size parts)."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from assetstore.backends.s3 import _crc32

from .conftest import PART_SIZE_MIB, Backend

pytestmark = pytest.mark.integration
MIB = 2**20


def write_big(path: Path, mib: int) -> Path:
    block = os.urandom(MIB)
    with path.open("wb") as out:
        for _ in range(mib):
            out.write(block)
    return path


def head(backend: Backend, relative: str) -> dict[str, Any]:
    """The S3 HeadObject response for an object under the store's prefix."""
    response: dict[str, Any] = backend.raw.call_s3(
        "head_object", Bucket=backend.bucket, Key=f"assets/{relative}"
    )
    return response


@pytest.mark.parametrize("backend", ["s3", "gcs", "az"], indirect=True)
def test_large_files_move_with_bounded_memory(backend: Backend, tmp_path: Path) -> None:
    """A 32 MiB file goes up and down with Python holding a few parts at most."""
    (tmp_path / "small").write_bytes(b"warm up")
    store = backend.store(workers=1)
    store.get(store.push(tmp_path / "small", "small").spec)  # SDK models load once
    source = write_big(tmp_path / "big.bin", 32)
    tracemalloc.start()
    try:
        store.push(source, "big")
        _, up_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        path = store.get("big:0.0")
        _, down_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert path.stat().st_size == 32 * MIB
    bound = 5 * PART_SIZE_MIB * MIB  # the part being filled, sent and copied by the SDK
    assert up_peak < bound, f"push peaked at {up_peak / MIB:.1f} MiB"
    assert down_peak < bound, f"pull peaked at {down_peak / MIB:.1f} MiB"


@pytest.mark.parametrize("backend", ["s3"], indirect=True)
def test_s3_large_files_go_up_as_multipart_uploads(backend: Backend, tmp_path: Path) -> None:
    backend.store().push(write_big(tmp_path / "big.bin", 11), "big")
    # A multipart upload's ETag ends with its number of parts: 5 + 5 + 1 MiB.
    assert head(backend, "big/0.0/big.bin")["ETag"].strip('"').endswith("-3")


@pytest.mark.parametrize("backend", ["s3"], indirect=True)
def test_s3_equal_size_parts_for_r2(backend: Backend, tmp_path: Path) -> None:
    backend.env["ASSETSTORE_S3_FIXED_UPLOAD_SIZE"] = "true"
    store = backend.store()
    assert store.remote.fs.fixed_upload_size is True
    manifest = store.push(write_big(tmp_path / "big.bin", 11), "big")
    assert head(backend, "big/0.0/big.bin")["ETag"].strip('"').endswith("-3")
    path = backend.store().get("big:0.0")
    assert path.stat().st_size == manifest.files[0].size == 11 * MIB


@pytest.mark.parametrize("backend", ["az"], indirect=True)
def test_azure_large_files_go_up_as_blocks(backend: Backend, tmp_path: Path) -> None:
    from azure.storage.blob import BlobClient

    backend.store().push(write_big(tmp_path / "big.bin", 11), "big")
    blob = BlobClient.from_connection_string(
        backend.env["AZURE_STORAGE_CONNECTION_STRING"], backend.bucket, "assets/big/0.0/big.bin"
    )
    committed, _ = blob.get_block_list()
    assert len(committed) == 3


@pytest.mark.parametrize("backend", ["s3"], indirect=True)
def test_s3_sse_aes256_on_every_upload(backend: Backend, tmp_path: Path) -> None:
    backend.env["ASSETSTORE_S3_SSE"] = "AES256"
    (tmp_path / "a").write_bytes(b"a")
    store = backend.store()
    store.push(tmp_path / "a", "m")
    # the unchanged file is reused: 0.1 refers to 0.0's
    store.push(tmp_path / "a", "m", force_new=True)
    (tmp_path / "a").write_bytes(b"b")
    store.push(tmp_path / "a", "m")
    for key in ("m/0.0/a", "m/0.2/a", ".manifests/m/0.0.json", ".manifests/m/0.1.json"):
        assert head(backend, key)["ServerSideEncryption"] == "AES256", key
    assert not backend.raw.exists(backend.key("m/0.1/a"))


@pytest.mark.parametrize("backend", ["s3"], indirect=True)
def test_s3_sse_kms_with_the_configured_key(backend: Backend, tmp_path: Path) -> None:
    boto3 = pytest.importorskip("boto3")
    server = backend.server.info  # type: ignore[union-attr]
    kms = boto3.client(
        "kms",
        endpoint_url=server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=server.key,
        aws_secret_access_key=server.secret,
    )
    key_id = kms.create_key()["KeyMetadata"]["Arn"]
    backend.env["AWS_KMS_KEY_ID"] = key_id
    (tmp_path / "a").write_bytes(b"a")
    backend.store().push(tmp_path / "a", "m")
    response = head(backend, "m/0.0/a")
    assert response["ServerSideEncryption"] == "aws:kms"
    assert response["SSEKMSKeyId"] == key_id
    assert backend.store().get("m").read_bytes() == b"a"


@pytest.mark.parametrize("backend", ["s3"], indirect=True)
def test_s3_path_style_addressing_by_hostname(backend: Backend, tmp_path: Path) -> None:
    """MinIO by hostname: http://localhost:PORT/bucket/key, not bucket.localhost."""
    endpoint = backend.env["S3_ENDPOINT"].replace("127.0.0.1", "localhost")
    backend.env.update({"S3_ENDPOINT": endpoint, "ASSETSTORE_S3_FORCE_PATH_STYLE": "true"})
    (tmp_path / "a").write_bytes(b"a")
    store = backend.store()
    store.push(tmp_path / "a", "m")
    assert store.url("m").startswith(f"{endpoint}/{backend.bucket}/assets/m/0.0/a?")
    assert backend.store().get("m").read_bytes() == b"a"


@pytest.mark.parametrize("backend", ["s3"], indirect=True)
def test_s3_failed_multipart_upload_is_aborted(backend: Backend, tmp_path: Path) -> None:
    """Parts under S3's 5 MiB minimum: completing the upload fails, and the upload is
    aborted (no parts left to bill), not left behind."""
    from assetstore.errors import BackendError
    from assetstore.io.stream import NoProgress

    store = backend.store()
    remote = store.remote
    remote.backend.part_size = MIB
    source = write_big(tmp_path / "big.bin", 3)
    target = backend.key("x/big.bin")
    with pytest.raises(BackendError, match="EntityTooSmall"):
        remote.run(lambda: remote.upload_async(
            source, target, callback=NoProgress(), window=2))  # fmt: skip
    uploads = backend.raw.call_s3("list_multipart_uploads", Bucket=backend.bucket)
    assert uploads.get("Uploads", []) == []
    assert not backend.raw.exists(target)


@pytest.mark.parametrize("backend", ["s3"], indirect=True)
@pytest.mark.parametrize("calculation", ["when_supported", "when_required"])
def test_s3_parts_carry_a_crc32_unless_checksums_are_turned_off(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, calculation: str
) -> None:
    """Each part carries the CRC32 botocore would send, and none for a store configured
    with when_required (stores that refuse checksums), as botocore itself does."""
    monkeypatch.setenv("AWS_REQUEST_CHECKSUM_CALCULATION", calculation)
    store = backend.store()
    store.remote.fs.connect()
    sent: list[bytes | None] = []

    def record(request: Any, **_: Any) -> None:
        sent.append(request.headers.get("x-amz-checksum-crc32"))

    store.remote.fs.s3.meta.events.register("before-send.s3.UploadPart", record)
    data = write_big(tmp_path / "big.bin", 11).read_bytes()
    store.push(tmp_path / "big.bin", "big")
    parts = [data[i : i + PART_SIZE_MIB * MIB] for i in range(0, len(data), PART_SIZE_MIB * MIB)]
    crc32 = [_crc32(part).encode() for part in parts]
    expected = crc32 if calculation == "when_supported" else [None] * len(parts)
    assert sorted(sent, key=str) == sorted(expected, key=str)
    assert backend.store().get("big:0.0").read_bytes() == data
