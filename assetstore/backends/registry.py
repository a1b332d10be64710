"""The provider registry: data, as fsspec's registry is. Each provider's name, its
fsspec protocol, the backend class (``module:Class``, imported on first use), the
package and extra it needs, and the options it reads from the environment and the
config file. This module and the provider modules are the only places that know a
provider by name."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .provider import Option, Provider

if TYPE_CHECKING:  # the backends themselves are imported on first use
    from .base import Backend, Timeouts


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


# gcsfs's words for credentials found elsewhere (no file).
_GCS_TOKEN_MODES = ("anon", "google_default", "cloud", "browser")


def _credentials_file(text: str) -> str:
    """A service account's JSON file, which must exist: gcsfs would send any other text
    to Google as an access token (the path then appears, URL-encoded, in its error)."""
    from pathlib import Path

    if text in _GCS_TOKEN_MODES or Path(text).expanduser().is_file():
        return text
    raise ValueError("credentials file not found")


S3 = Provider(
    "s3", "s3", "assetstore.backends.s3:S3Backend", "s3fs", "s3",
    options=(
        Option(("key",), "AWS_ACCESS_KEY_ID", "access_key_id"),
        Option(("secret",), "AWS_SECRET_ACCESS_KEY", "secret_access_key"),
        Option(("token",), "AWS_SESSION_TOKEN", "session_token"),
        Option(("profile",), "AWS_PROFILE", "profile"),
        Option(("client_kwargs", "endpoint_url"), "S3_ENDPOINT", "endpoint_url"),
        Option(("client_kwargs", "region_name"), "AWS_DEFAULT_REGION", "region"),
        Option(("config_kwargs", "s3", "addressing_style"), "ASSETSTORE_S3_FORCE_PATH_STYLE",
               "force_path_style", _path_style),
        Option(("s3_additional_kwargs", "ServerSideEncryption"), "ASSETSTORE_S3_SSE", "sse",
               _sse),
        Option(("s3_additional_kwargs", "SSEKMSKeyId"), "AWS_KMS_KEY_ID", "kms_key_id"),
        Option(("fixed_upload_size",), "ASSETSTORE_S3_FIXED_UPLOAD_SIZE", "fixed_upload_size",
               _true_or_unset),
    ),
    finish="assetstore.backends.s3:finish_options",
    schemes=("s3", "s3a"),
)  # fmt: skip
GCS = Provider(
    "gcs", "gcs", "assetstore.backends.gcs:GcsBackend", "gcsfs", "gcs",
    options=(
        Option(("token",), "GOOGLE_APPLICATION_CREDENTIALS", "credentials_file",
               _credentials_file),
        Option(("endpoint_url",), "STORAGE_EMULATOR_HOST", None, _emulator_url),
        Option(("endpoint_url",), None, "endpoint_url"),
        Option(("project",), "GOOGLE_CLOUD_PROJECT", "project"),
    ),
    finish="assetstore.backends.gcs:finish_options",
    schemes=("gs", "gcs"),
)  # fmt: skip
AZURE = Provider(
    "az", "abfs", "assetstore.backends.azure:AzureBackend", "adlfs", "azure", "container",
    options=(
        Option(("connection_string",), "AZURE_STORAGE_CONNECTION_STRING", "connection_string"),
        Option(("account_name",), "AZURE_STORAGE_ACCOUNT_NAME", "account_name"),
        Option(("account_key",), "AZURE_STORAGE_ACCOUNT_KEY", "account_key"),
        Option(("sas_token",), "AZURE_STORAGE_SAS_TOKEN", "sas_token"),
    ),
    schemes=("az", "abfs", "abfss"),
)  # fmt: skip
LOCAL = Provider(
    "local", "file", "assetstore.backends.local:LocalBackend", "fsspec", None, "folder", False,
    schemes=("file",), folder=True,
)  # fmt: skip
MEMORY = Provider(
    "memory", "memory", "assetstore.backends.memory:MemoryBackend", "fsspec", None, "folder",
    False, schemes=("memory",),
)  # fmt: skip

PROVIDERS: dict[str, Provider] = {p.name: p for p in (S3, GCS, AZURE, LOCAL, MEMORY)}
# The config-file keys that name the bucket, by provider.
BUCKET_KEYS: dict[str, tuple[str, ...]] = {
    "local": ("path",), "az": ("container", "bucket"), "gcs": ("bucket",), "s3": ("bucket",),
    "memory": ("bucket",),
}  # fmt: skip


def provider(name: str) -> Provider:
    """The provider ``name`` (a ConfigError listing the choices for another)."""
    found = PROVIDERS.get(name)
    if found is None:
        raise ConfigError(
            f"{name!r} is not a provider; choose one of {', '.join(sorted(PROVIDERS))}"
        )
    return found


def finish_options(name: str, options: dict[str, Any], sources: dict[str, str]) -> None:
    """Apply the provider's rules that tie its options together (in place)."""
    rule = PROVIDERS[name].finish
    if rule is not None:
        _load(rule)(options, sources)


def make_backend(
    name: str,
    bucket: str,
    options: Mapping[str, Any],
    *,
    timeouts: Timeouts,
    part_size: int,
) -> Backend:
    """The backend of ``name`` for ``bucket``; a missing SDK is a ConfigError that says
    which extra to install. The SDK is found, not imported: a backend may never need it
    (``s3_static.py``)."""
    chosen = PROVIDERS[name]
    if importlib.util.find_spec(chosen.package) is None:
        raise ConfigError(
            f"provider {name!r} needs the {chosen.package!r} package: {chosen.install_hint}"
        )
    _check_version(name, chosen)
    cls: type[Backend] = _load(chosen.backend)
    return cls(bucket, dict(options), timeouts, part_size)


def _check_version(name: str, chosen: Provider) -> None:
    """An SDK older than the one assetstore's metadata asks for (a later ``pip install``
    of something else can pull s3fs back to 0.4) fails in obscure ways deep inside:
    say so up front."""
    from importlib import metadata

    needed = _minimum(chosen.package)
    try:
        installed = metadata.version(chosen.package)
    except metadata.PackageNotFoundError:
        return
    if needed and _numbers(installed) < _numbers(needed):
        raise ConfigError(
            f"provider {name!r} needs {chosen.package}>={needed}, but {installed} is "
            f"installed: {chosen.install_hint or 'pip install -U ' + chosen.package}"
        )


def _minimum(package: str) -> str | None:
    """The lowest version of ``package`` assetstore's own metadata requires."""
    import re
    from importlib import metadata

    try:
        requires = metadata.requires("assetstore") or []
    except metadata.PackageNotFoundError:  # run from a source tree, not installed
        return None
    for line in requires:
        found = re.match(rf"{re.escape(package)}(\[[^\]]*\])?>=([\w.]+)", line)
        if found:
            return found[2]
    return None


def _numbers(version: str) -> tuple[int, ...]:
    """``2024.6.0`` as (2024, 6, 0): the release numbers, enough to order them."""
    import re

    return tuple(int(n) for n in re.findall(r"\d+", version.split("+")[0])[:3])


def _load(dotted: str) -> Any:
    module, _, attribute = dotted.partition(":")
    return getattr(importlib.import_module(module), attribute)


__all__ = ["BUCKET_KEYS", "PROVIDERS", "Provider", "finish_options", "make_backend", "provider"]
