"""The provider registry: a table from provider name to fsspec protocol, the package it
needs and how to install it, plus the options each reads from the environment."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import ConfigError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem


@dataclass(frozen=True)
class Provider:
    name: str
    protocol: str
    module: str
    extra: str | None

    @property
    def install_hint(self) -> str:
        return f"pip install 'assetstore[{self.extra}]'" if self.extra else ""


PROVIDERS: dict[str, Provider] = {
    "az": Provider("az", "abfs", "adlfs", "azure"),
    "gcs": Provider("gcs", "gcs", "gcsfs", "gcs"),
    "local": Provider("local", "file", "fsspec", None),
    "memory": Provider("memory", "memory", "fsspec", None),
    "s3": Provider("s3", "s3", "s3fs", "s3"),
}

# (environment variable, option path inside the fsspec constructor's kwargs)
_ENV_OPTIONS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "s3": (
        ("AWS_ACCESS_KEY_ID", ("key",)),
        ("AWS_SECRET_ACCESS_KEY", ("secret",)),
        ("AWS_SESSION_TOKEN", ("token",)),
        ("AWS_PROFILE", ("profile",)),
        ("S3_ENDPOINT", ("client_kwargs", "endpoint_url")),
        ("AWS_DEFAULT_REGION", ("client_kwargs", "region_name")),
        ("AWS_KMS_KEY_ID", ("s3_additional_kwargs", "SSEKMSKeyId")),
    ),
    "gcs": (
        ("GOOGLE_APPLICATION_CREDENTIALS", ("token",)),
        ("STORAGE_EMULATOR_HOST", ("endpoint_url",)),
        ("GOOGLE_CLOUD_PROJECT", ("project",)),
    ),
    "az": (
        ("AZURE_STORAGE_CONNECTION_STRING", ("connection_string",)),
        ("AZURE_STORAGE_ACCOUNT_NAME", ("account_name",)),
        ("AZURE_STORAGE_ACCOUNT_KEY", ("account_key",)),
        ("AZURE_STORAGE_SAS_TOKEN", ("sas_token",)),
    ),
}


def storage_options_from_env(
    provider: str | None, environ: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The fsspec options ``provider`` reads from ``environ``, and where each came from.

    >>> storage_options_from_env("s3", {"S3_ENDPOINT": "http://127.0.0.1:9000"})[0]
    {'client_kwargs': {'endpoint_url': 'http://127.0.0.1:9000'}}
    """
    options: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for variable, path in _ENV_OPTIONS.get(provider or "", ()):
        value = environ.get(variable)
        if value:
            _set_nested(options, path, value)
            sources[f"storage.{path[0]}"] = f"env {variable}"
    if provider == "s3" and "SSEKMSKeyId" in options.get("s3_additional_kwargs", {}):
        options["s3_additional_kwargs"]["ServerSideEncryption"] = "aws:kms"
    return options, sources


def _set_nested(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


def make_filesystem(provider_name: str, options: Mapping[str, Any]) -> AbstractFileSystem:
    """A fresh filesystem for the provider. Instance caching is off on purpose: we own
    caching, and a cached instance would outlive settings and credentials."""
    provider = PROVIDERS[provider_name]
    try:
        importlib.import_module(provider.module)
    except ImportError as exc:
        raise ConfigError(
            f"provider {provider_name!r} needs the {provider.module!r} package: "
            f"{provider.install_hint}"
        ) from exc
    import fsspec

    kwargs = dict(options)
    if provider_name == "local":
        kwargs.setdefault("auto_mkdir", True)
    if provider_name == "s3":
        kwargs.setdefault("config_kwargs", {}).setdefault("signature_version", "s3v4")
    kwargs["skip_instance_cache"] = True
    kwargs.setdefault("use_listings_cache", False)
    return fsspec.filesystem(provider.protocol, **kwargs)
