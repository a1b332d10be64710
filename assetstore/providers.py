"""The provider registry: a table from provider name to fsspec protocol, the package it
needs and how to install it, plus the options each reads from the environment.

Also the few provider-specific calls that fsspec has no common API for: whether the
bucket exists, creating it, a plain URL, and turning the SDKs' own retries off. These
let SDK exceptions through; ``Remote.errors`` in remote.py is the one place that
translates them.
"""

from __future__ import annotations

import importlib
import logging
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

log = logging.getLogger("assetstore")


@dataclass(frozen=True)
class Provider:
    name: str
    protocol: str
    module: str
    extra: str | None
    bucket_word: str | None = "bucket"  # None: a folder, nothing to probe or create

    @property
    def install_hint(self) -> str:
        return f"pip install 'assetstore[{self.extra}]'" if self.extra else ""

    @property
    def object_store(self) -> bool:
        return self.bucket_word is not None


PROVIDERS: dict[str, Provider] = {
    "az": Provider("az", "abfs", "adlfs", "azure", "container"),
    "gcs": Provider("gcs", "gcs", "gcsfs", "gcs"),
    "local": Provider("local", "file", "fsspec", None, None),
    "memory": Provider("memory", "memory", "fsspec", None, None),
    "s3": Provider("s3", "s3", "s3fs", "s3"),
}


def _flag(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true/false, 1/0, yes/no or on/off")


def _path_style(text: str) -> str | None:
    return "path" if _flag(text) else None  # None: botocore decides (virtual-hosted on AWS)


def _true_or_unset(text: str) -> bool | None:
    return True if _flag(text) else None


def _sse(text: str) -> str:
    if text not in ("AES256", "aws:kms"):
        raise ValueError("expected AES256 or aws:kms")
    return text


def _emulator_url(text: str) -> str:
    """``STORAGE_EMULATOR_HOST`` may be ``host:port`` (the Google SDKs' convention)."""
    return text if "://" in text else f"http://{text}"


@dataclass(frozen=True)
class EnvOption:
    """One environment variable read into the fsspec constructor's kwargs at ``path``;
    ``parse`` validates it (``ValueError``) and may return None to leave it unset."""

    variable: str
    path: tuple[str, ...]
    parse: Callable[[str], Any] = str


ENV_OPTIONS: dict[str, tuple[EnvOption, ...]] = {
    "s3": (
        EnvOption("AWS_ACCESS_KEY_ID", ("key",)),
        EnvOption("AWS_SECRET_ACCESS_KEY", ("secret",)),
        EnvOption("AWS_SESSION_TOKEN", ("token",)),
        EnvOption("AWS_PROFILE", ("profile",)),
        EnvOption("S3_ENDPOINT", ("client_kwargs", "endpoint_url")),
        EnvOption("AWS_DEFAULT_REGION", ("client_kwargs", "region_name")),
        EnvOption("ASSETSTORE_S3_FORCE_PATH_STYLE", ("config_kwargs", "s3", "addressing_style"),
                  _path_style),
        EnvOption("ASSETSTORE_S3_SSE", ("s3_additional_kwargs", "ServerSideEncryption"), _sse),
        EnvOption("AWS_KMS_KEY_ID", ("s3_additional_kwargs", "SSEKMSKeyId")),
        EnvOption("ASSETSTORE_S3_FIXED_UPLOAD_SIZE", ("fixed_upload_size",), _true_or_unset),
    ),
    "gcs": (
        EnvOption("GOOGLE_APPLICATION_CREDENTIALS", ("token",)),
        EnvOption("STORAGE_EMULATOR_HOST", ("endpoint_url",), _emulator_url),
        EnvOption("GOOGLE_CLOUD_PROJECT", ("project",)),
    ),
    "az": (
        EnvOption("AZURE_STORAGE_CONNECTION_STRING", ("connection_string",)),
        EnvOption("AZURE_STORAGE_ACCOUNT_NAME", ("account_name",)),
        EnvOption("AZURE_STORAGE_ACCOUNT_KEY", ("account_key",)),
        EnvOption("AZURE_STORAGE_SAS_TOKEN", ("sas_token",)),
    ),
}  # fmt: skip


def storage_options_from_env(
    provider: str | None, environ: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The fsspec options ``provider`` reads from ``environ``, and where each came from.

    >>> storage_options_from_env("s3", {"S3_ENDPOINT": "http://127.0.0.1:9000"})[0]
    {'client_kwargs': {'endpoint_url': 'http://127.0.0.1:9000'}}
    """
    options: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for option in ENV_OPTIONS.get(provider or "", ()):
        raw = environ.get(option.variable)
        if not raw:
            continue
        try:
            value = option.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{option.variable}={raw!r} is invalid: {exc}") from None
        if value is not None:
            _set_nested(options, option.path, value)
            sources[f"storage.{option.path[0]}"] = f"env {option.variable}"
    finish = _FINISH.get(provider or "")
    if finish is not None:
        finish(options, sources)
    return options, sources


def _finish_s3(options: dict[str, Any], _sources: dict[str, str]) -> None:
    """A KMS key id means SSE-KMS on every upload; it contradicts SSE ``AES256``."""
    extra = options.get("s3_additional_kwargs", {})
    if "SSEKMSKeyId" not in extra:
        return
    if extra.get("ServerSideEncryption", "aws:kms") != "aws:kms":
        raise ConfigError(
            "AWS_KMS_KEY_ID is set, which means SSE-KMS, but ASSETSTORE_S3_SSE="
            f"{extra['ServerSideEncryption']!r}: set ASSETSTORE_S3_SSE=aws:kms or unset one"
        )
    extra["ServerSideEncryption"] = "aws:kms"


def _finish_gcs(options: dict[str, Any], sources: dict[str, str]) -> None:
    """``STORAGE_EMULATOR_HOST`` and no credentials: send none, as Google's SDKs do,
    rather than search the default chain (which probes a metadata server). A plain
    ``endpoint_url`` (a private endpoint of the real service) keeps the default chain."""
    if "endpoint_url" in options and "token" not in options:
        options["token"] = "anon"
        sources["storage.token"] = "env STORAGE_EMULATOR_HOST (an emulator: anonymous)"


_FINISH: dict[str, Callable[[dict[str, Any], dict[str, str]], None]] = {
    "s3": _finish_s3,
    "gcs": _finish_gcs,
}


def _set_nested(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


def make_filesystem(
    provider_name: str,
    options: Mapping[str, Any],
    *,
    connect_timeout: float = 5.0,
    read_timeout: float = 60.0,
) -> AbstractFileSystem:
    """A fresh filesystem for the provider, with the SDK's own retries off and bounded
    timeouts: ``retry.RetryPolicy`` is the one retry layer, so an unreachable endpoint
    fails in seconds. Instance caching is off on purpose (we own caching, and a cached
    instance would outlive settings and credentials), and so is the listing cache, so a
    version another process pushed is seen at once."""
    provider = PROVIDERS[provider_name]
    try:
        importlib.import_module(provider.module)
    except ImportError as exc:
        raise ConfigError(
            f"provider {provider_name!r} needs the {provider.module!r} package: "
            f"{provider.install_hint}"
        ) from exc
    timeouts = Timeouts(connect_timeout, read_timeout)
    kwargs = dict(options)
    defaults = _DEFAULTS.get(provider_name)
    if defaults is not None:
        defaults(kwargs, timeouts)
    kwargs["skip_instance_cache"] = True
    kwargs.setdefault("use_listings_cache", False)
    fs = _filesystem_class(provider, kwargs)(**kwargs)
    tune = _TUNE.get(provider_name)
    if tune is not None:
        tune(fs, timeouts)
    return fs


@dataclass(frozen=True)
class Timeouts:
    connect: float
    read: float


def _filesystem_class(provider: Provider, kwargs: Mapping[str, Any]) -> type[AbstractFileSystem]:
    import fsspec

    if provider.name == "gcs" and kwargs.get("endpoint_url"):
        # Emulators speak the JSON API only: never gcsfs's experimental gRPC subclass,
        # whose bucket probe stalls for a minute against them.
        import gcsfs.core

        return gcsfs.core.GCSFileSystem  # type: ignore[no-any-return]
    return fsspec.get_filesystem_class(provider.protocol)  # type: ignore[no-any-return]


def _local_defaults(kwargs: dict[str, Any], _timeouts: Timeouts) -> None:
    kwargs.setdefault("auto_mkdir", True)


def _s3_defaults(kwargs: dict[str, Any], timeouts: Timeouts) -> None:
    config = dict(kwargs.get("config_kwargs") or {})
    config.setdefault("signature_version", "s3v4")  # SigV2 presigned URLs are long gone
    config.setdefault("connect_timeout", timeouts.connect)
    config.setdefault("read_timeout", timeouts.read)
    config.setdefault("retries", {"mode": "standard", "total_max_attempts": 1})
    # Every download is verified against its sha256, so botocore need not check the
    # CRC of responses (rclone, asked for a range, sends the whole object's CRC and
    # botocore then fails the read), nor hash each upload's body once more to sign it
    # (it does on plain-http endpoints): the CRC32 header covers the body in transit.
    config.setdefault("response_checksum_validation", "when_required")
    config["s3"] = {"payload_signing_enabled": False, **(config.get("s3") or {})}
    kwargs["config_kwargs"] = config


def _gcs_defaults(kwargs: dict[str, Any], timeouts: Timeouts) -> None:
    import aiohttp

    # gcsfs passes requests_timeout to every request; its default None means no timeout.
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=timeouts.connect, sock_read=timeouts.read
    )
    kwargs.setdefault("requests_timeout", timeout)


_DEFAULTS: dict[str, Callable[[dict[str, Any], Timeouts], None]] = {
    "local": _local_defaults,
    "s3": _s3_defaults,
    "gcs": _gcs_defaults,
}


def _tune_s3(fs: Any, _timeouts: Timeouts) -> None:
    fs.retries = 1  # s3fs's own retry loop around each call (class default: 5)


# gcsfs wraps these in its own retry decorator (6 tries, sleeping up to 32 s each time:
# an unreachable endpoint took a minute and a half to fail). Use the undecorated ones.
_GCSFS_RETRIED = ("_request", "_get_file_request", "_get_file_concurrent")


def _tune_gcs(fs: Any, _timeouts: Timeouts) -> None:
    for name in _GCSFS_RETRIED:
        inner = getattr(getattr(type(fs), name, None), "__wrapped__", None)
        if inner is None:
            log.debug("gcsfs.%s has no __wrapped__: its own retries stay on", name)
            continue
        setattr(fs, name, types.MethodType(inner, fs))


def _tune_az(fs: Any, timeouts: Timeouts) -> None:
    # adlfs offers no way to pass retry or connection settings to the SDK client it
    # builds; its defaults (3 retries from 15 s backoff, 20 s connect timeout) make an
    # unreachable endpoint take minutes to fail. Adjust the client adlfs built.
    client = fs.service_client
    policy = getattr(getattr(client, "_config", None), "retry_policy", None)
    transport = getattr(getattr(client, "_pipeline", None), "_transport", None)
    connection = getattr(transport, "connection_config", None)
    if policy is None or connection is None:
        log.debug("unknown azure-storage-blob client layout: its own retries stay on")
        return
    for attribute in ("total_retries", "connect_retries", "read_retries", "status_retries"):
        setattr(policy, attribute, 0)
    connection.timeout = timeouts.connect
    connection.read_timeout = timeouts.read


_TUNE: dict[str, Callable[[Any, Timeouts], None]] = {
    "s3": _tune_s3,
    "gcs": _tune_gcs,
    "az": _tune_az,
}


# -- buckets -------------------------------------------------------------------------
def bucket_exists(fs: Any, provider: str, bucket: str) -> bool:
    """Whether ``bucket`` exists; errors other than "not found" propagate."""
    probe = _BUCKET_PROBES.get(provider)
    return True if probe is None else probe(fs, bucket)


def _s3_bucket_exists(fs: Any, bucket: str) -> bool:
    # Not fs.exists(bucket): s3fs answers False to every error, wrong credentials too.
    try:
        fs.call_s3("head_bucket", Bucket=bucket)
    except FileNotFoundError:
        return False
    return True


def _gcs_bucket_exists(fs: Any, bucket: str) -> bool:
    try:
        fs.call("GET", "b/{}", bucket, json_out=True)
    except FileNotFoundError:
        return False
    return True


def _az_container_exists(fs: Any, container: str) -> bool:
    from azure.core.exceptions import ResourceNotFoundError
    from fsspec.asyn import sync

    async def probe() -> bool:
        async with fs.service_client.get_container_client(container) as client:
            try:
                await client.get_container_properties()
            except ResourceNotFoundError:
                return False
        return True

    return bool(sync(fs.loop, probe))


_BUCKET_PROBES: dict[str, Callable[[Any, str], bool]] = {
    "s3": _s3_bucket_exists,
    "gcs": _gcs_bucket_exists,
    "az": _az_container_exists,
}


def create_bucket(fs: Any, provider: str, bucket: str) -> None:
    """Create ``bucket`` with the provider's defaults (private, the client's region)."""
    if provider == "s3":
        params: dict[str, Any] = {"Bucket": bucket}
        region = (getattr(fs, "client_kwargs", None) or {}).get("region_name")
        # us-east-1 takes no LocationConstraint (AWS refuses it); R2's "auto" is no region.
        if region and region not in ("us-east-1", "auto"):
            params["CreateBucketConfiguration"] = {"LocationConstraint": region}
        fs.call_s3("create_bucket", **params)
    elif provider == "az":
        from fsspec.asyn import sync

        sync(fs.loop, fs.service_client.create_container, bucket)
    else:
        fs.mkdir(bucket)


# -- URLs ----------------------------------------------------------------------------
def signed_url(fs: Any, provider: str, path: str, expires: int) -> str:
    """A presigned GET URL for ``path``, valid ``expires`` seconds."""
    if provider == "local":
        return Path(path).as_uri()
    extra = {"version": "v4"} if provider == "gcs" else {}
    return str(fs.sign(path, expiration=expires, **extra))


def plain_url(fs: Any, provider: str, path: str) -> str:
    """The unsigned URL of ``path``: it works for public objects (or behind a proxy)."""
    if provider == "local":
        return Path(path).as_uri()
    if provider == "s3":  # botocore knows the addressing style: sign, drop the signature
        return str(fs.url(path, expires=60)).split("?", 1)[0]
    if provider == "gcs":
        return str(fs.url(path))
    if provider == "az":
        container, blob, _ = fs.split_path(path)
        return str(fs.service_client.get_blob_client(container, blob).url).split("?", 1)[0]
    raise NotImplementedError(f"provider {provider!r} has no URLs")
