"""Failures on real servers: an unreachable endpoint, transient faults, wrong
credentials, a denied policy and a missing bucket each end in one clean line with the
documented exit code, naming the bucket and the key and never a secret."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from .conftest import Backend, moto_with_iam, new_bucket_name, servers

Cli = Callable[..., tuple[int, str, str]]
Tree = Callable[..., Path]
pytestmark = pytest.mark.integration
SECRET = "wrong-secret-0123456789abcdef"  # what must never show
OBJECT_STORES = ["s3", "gcs", "az"]


def use_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], tmp_path: Path) -> None:
    """The CLI reads the process environment: give it the backend's."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ASSETSTORE_ASSETS_DIR", str(tmp_path / "cli-cache"))


def assert_one_clean_line(err: str, *needles: str) -> None:
    assert err.startswith("assetstore: error: ") and len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    assert SECRET not in err


def endpoint_env(provider: str, url: str) -> dict[str, str]:
    """The environment of ``provider`` pointed at ``url`` (http://127.0.0.1:PORT)."""
    if provider == "s3":
        return {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": SECRET,
                "S3_ENDPOINT": url}  # fmt: skip
    if provider == "gcs":
        return {"STORAGE_EMULATOR_HOST": url}
    account, key = servers.AZURITE_ACCOUNT_NAME, servers.AZURITE_ACCOUNT_KEY
    conn = f"AccountName={account};AccountKey={key};BlobEndpoint={url}/{account};"
    return {"AZURE_STORAGE_CONNECTION_STRING": f"DefaultEndpointsProtocol=http;{conn}"}


# -- unreachable and transient ------------------------------------------------------
@pytest.mark.parametrize("provider", OBJECT_STORES)
def test_an_unreachable_endpoint_fails_in_seconds_with_exit_7(
    provider: str, cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    closed = f"http://127.0.0.1:{servers.free_port()}"  # nothing listens there
    env = {"ASSETSTORE_STORAGE_PROVIDER": provider, "ASSETSTORE_STORAGE_BUCKET": "my-bucket",
           **endpoint_env(provider, closed)}  # fmt: skip
    use_env(monkeypatch, env, tmp_path)
    started = time.monotonic()
    code, out, err = cli("-q", "versions", "models/bert")  # default retry policy
    elapsed = time.monotonic() - started
    assert (code, out) == (7, "")
    assert_one_clean_line(err, "backend unreachable", "my-bucket/assets/.manifests/models/bert")
    assert elapsed < 15, f"took {elapsed:.1f} s"


class _Unavailable(BaseHTTPRequestHandler):
    """Answers every request with 503 SlowDown, counting them."""

    requests: ClassVar[int] = 0
    BODY = (b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>SlowDown</Code>"
            b"<Message>Please reduce your request rate.</Message></Error>")  # fmt: skip

    def answer(self) -> None:
        type(self).requests += 1
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(503)
        self.send_header("Content-Length", str(len(self.BODY)))
        self.end_headers()
        self.wfile.write(self.BODY)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def overloaded() -> Iterator[str]:
    """An HTTP endpoint that is always overloaded (503 SlowDown): a transient fault."""
    _Unavailable.requests = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("provider", OBJECT_STORES)
def test_transient_faults_are_retried_by_our_policy_alone(
    provider: str, overloaded: str, cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """3 attempts configured, 3 requests seen: the SDK's own retries are off, so the
    tenacity policy is the one retry layer (bounded in attempts)."""
    env = {"ASSETSTORE_STORAGE_PROVIDER": provider, "ASSETSTORE_STORAGE_BUCKET": "my-bucket",
           "ASSETSTORE_RETRY_ATTEMPTS": "3", **endpoint_env(provider, overloaded)}  # fmt: skip
    use_env(monkeypatch, env, tmp_path)
    code, _, err = cli("-q", "versions", "m")
    assert code == 7
    assert_one_clean_line(err.strip().splitlines()[-1] + "\n", "my-bucket")
    assert _Unavailable.requests == 3


# -- wrong credentials and denied policies ---------------------------------------------
@dataclass(frozen=True)
class AuthS3:
    """moto with IAM checks on, a bucket, and a user allowed to list and read it only."""

    endpoint_url: str
    bucket: str
    reader_key: str
    reader_secret: str

    def env(self, key: str, secret: str) -> dict[str, str]:
        return {"ASSETSTORE_STORAGE_PROVIDER": "s3", "ASSETSTORE_STORAGE_BUCKET": self.bucket,
                "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret,
                "S3_ENDPOINT": self.endpoint_url}  # fmt: skip


@pytest.fixture(scope="module")
def moto_with_auth() -> Iterator[AuthS3]:
    with moto_with_iam("reader", ["s3:ListBucket", "s3:GetObject"]) as s3:
        yield AuthS3(s3.endpoint_url, s3.bucket, s3.key, s3.secret)


def test_s3_wrong_secret_is_a_clean_exit_7(
    moto_with_auth: AuthS3, cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_env(monkeypatch, moto_with_auth.env(moto_with_auth.reader_key, SECRET), tmp_path)
    code, out, err = cli("list")
    assert (code, out) == (7, "")
    assert_one_clean_line(err, "permission denied", "SignatureDoesNotMatch", moto_with_auth.bucket)


def test_s3_unknown_access_key_is_a_clean_exit_7(
    moto_with_auth: AuthS3, cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_env(monkeypatch, moto_with_auth.env("AKIANOSUCHKEY0000000", SECRET), tmp_path)
    code, _, err = cli("--debug", "versions", "m")
    assert code == 7
    assert "InvalidAccessKeyId" in err and moto_with_auth.bucket in err
    assert SECRET not in err  # not even in the --debug traceback


def test_s3_policy_denying_writes_is_a_clean_exit_7(
    moto_with_auth: AuthS3,
    cli: Cli,
    make_tree: Tree,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    auth = moto_with_auth
    use_env(monkeypatch, auth.env(auth.reader_key, auth.reader_secret), tmp_path)
    assert cli("versions", "m")[0] == 3  # listing is allowed: not found, exit 3
    code, out, err = cli("push", str(make_tree({"f": b"1"})), "m")
    assert (code, out) == (7, "")
    assert_one_clean_line(err, "permission denied", "AccessDenied",
                          f"s3://{auth.bucket}/assets/.manifests/m/0.0.reserved")  # fmt: skip
    assert auth.reader_secret not in err
    code, out, _ = cli("config", "check", "--json")
    report = json.loads(out)
    assert code == 7 and not report["ok"]
    statuses = {c["check"]: c["status"] for c in report["checks"]}
    # moto denies HeadBucket to this policy: "cannot tell", and the object checks decide
    assert statuses.pop("bucket") in ("ok", "skipped")
    assert statuses == {"list": "ok", "write": "failed", "exclusive": "skipped",
                        "read": "skipped", "delete": "skipped"}  # fmt: skip
    assert auth.reader_secret not in out


@pytest.mark.parametrize("backend", ["az"], indirect=True)
def test_azure_wrong_account_key_is_a_clean_exit_7(
    backend: Backend, cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    wrong_key = "d3Jvbmcta2V5LTAxMjM0NTY3ODlhYmNkZWY="  # base64, as a real key is
    conn = backend.env["AZURE_STORAGE_CONNECTION_STRING"].replace(
        servers.AZURITE_ACCOUNT_KEY, wrong_key
    )
    use_env(monkeypatch, {**backend.env, "AZURE_STORAGE_CONNECTION_STRING": conn}, tmp_path)
    code, out, err = cli("--debug", "list")
    assert (code, out) == (7, "")
    assert "permission denied (AuthorizationFailure: Server failed to authenticate" in err
    assert backend.bucket in err and wrong_key not in err
    assert err.strip().splitlines()[-1].startswith("assetstore: error: ")


@pytest.mark.parametrize("backend", ["az"], indirect=True)
def test_azure_read_only_sas_denies_pushes_cleanly(
    backend: Backend, cli: Cli, make_tree: Tree, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from datetime import datetime, timedelta, timezone

    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    sas = generate_container_sas(
        servers.AZURITE_ACCOUNT_NAME,
        backend.bucket,
        account_key=servers.AZURITE_ACCOUNT_KEY,
        permission=ContainerSasPermissions(read=True, list=True),
        expiry=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    endpoint = backend.server.info.endpoint  # type: ignore[union-attr]
    conn = f"BlobEndpoint={endpoint};SharedAccessSignature={sas}"
    use_env(monkeypatch, {**backend.env, "AZURE_STORAGE_CONNECTION_STRING": conn}, tmp_path)
    assert cli("versions", "m")[0] == 3  # reading is allowed
    code, out, err = cli("push", str(make_tree({"f": b"1"})), "m")
    assert (code, out) == (7, "")
    assert_one_clean_line(err, "permission denied", f"az://{backend.bucket}/assets/.manifests/m")
    assert sas.split("sig=")[-1].split("&")[0] not in err


# -- a missing bucket ------------------------------------------------------------------
@pytest.mark.parametrize("backend", OBJECT_STORES, indirect=True)
def test_a_missing_bucket_is_a_clear_error_naming_the_option(
    backend: Backend, cli: Cli, make_tree: Tree, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = new_bucket_name()
    use_env(monkeypatch, {**backend.env, "ASSETSTORE_STORAGE_BUCKET": missing}, tmp_path)
    for args in (["versions", "m"], ["list"], ["pull", "m:1.0"],
                 ["push", str(make_tree({"f": b"1"})), "m"]):  # fmt: skip
        code, out, err = cli(*args)
        assert (code, out) == (7, ""), (args, err)
        assert_one_clean_line(err, f"{missing!r} does not exist", "ASSETSTORE_AUTO_CREATE_BUCKET")
    code, out, _ = cli("config", "check")
    assert code == 7 and "does not exist" in out and "skipped" in out
    assert not backend.raw.exists(missing)


@pytest.mark.parametrize("backend", OBJECT_STORES, indirect=True)
def test_auto_create_bucket_creates_it_on_the_first_push(backend: Backend, make_tree: Tree) -> None:
    missing = new_bucket_name()
    store = backend.store(bucket=missing, auto_create_bucket=True)
    assert store.names() == []  # a missing bucket reads as empty: nothing is created
    assert not backend.raw.exists(missing)
    assert store.push(make_tree({"f": b"1"}), "m").spec == "m:0.0"
    assert backend.raw.exists(missing)
    assert (backend.store(bucket=missing).get("m") / "f").read_bytes() == b"1"


# -- config check and url from the command line ---------------------------------------
@pytest.mark.parametrize("backend", OBJECT_STORES, indirect=True)
def test_config_check_and_url_on_the_command_line(
    backend: Backend, cli: Cli, make_tree: Tree, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_env(monkeypatch, backend.env, tmp_path)
    code, out, err = cli("config", "check")
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == f"backend  {backend.provider}://{backend.bucket}/assets"
    word = "container" if backend.provider == "az" else "bucket"
    assert [line.split()[:2] for line in out.splitlines()[1:]] == [
        [word, "ok"], ["list", "ok"], ["write", "ok"], ["exclusive", "ok"], ["read", "ok"],
        ["delete", "ok"],
    ]  # fmt: skip
    for secret in (servers.AZURITE_ACCOUNT_KEY, "testing"):
        assert secret not in out
    assert cli("push", str(make_tree({"a.txt": b"A"})), "m")[0] == 0
    monkeypatch.setenv("ASSETSTORE_URL_EXPIRES", "120")
    code, out, err = cli("url", "m[a.txt]")
    if backend.provider == "gcs":  # anonymous on the emulator: nothing to sign with
        assert code == 7 and "no usable credentials" in err
    else:
        assert code == 0 and out.startswith("http://127.0.0.1:")
    code, out, _ = cli("url", "--expires", "0", "m[a.txt]")
    assert code == 0 and out.startswith("http://127.0.0.1:")
    assert cli("url", "m[nope.txt]")[0] == 3
