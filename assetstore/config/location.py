"""Where the store is: the provider, and the bucket written as users write it — a bare
name, or a URL of the provider's own scheme (``s3://ml-assets``, ``file:///srv/bucket``).
Anything else is a configuration error that says what to write, never a store that
half works (one that lists nothing, and fails to push)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import ConfigError


def storage_location(
    provider: str | None, bucket: str | None, sources: dict[str, str]
) -> tuple[str | None, str | None]:
    """The provider and the bucket to use, checked (a folder made absolute)."""
    from ..backends.registry import PROVIDERS

    if provider is None:
        return None, bucket
    chosen = PROVIDERS.get(provider)
    if chosen is None:
        raise ConfigError(
            f"storage provider {provider!r} ({sources['provider']}) is not a provider; choose "
            f"one of {', '.join(sorted(PROVIDERS))}, or leave it unset to serve a "
            "pre-downloaded assets dir"
        )
    where = _where(sources.get("bucket", ""))
    if not bucket:
        folder = " to the folder used as the remote" if not chosen.object_store else ""
        raise ConfigError(f"provider {provider!r} needs a bucket: set {where}{folder}")
    bucket = _without_scheme(bucket, chosen.schemes, provider, where)
    if chosen.folder:
        return provider, str(Path(bucket).expanduser().absolute())
    if not chosen.object_store:  # memory: any name
        return provider, bucket
    name = bucket.strip("/")
    if "/" in name:
        head, _, rest = name.partition("/")
        raise ConfigError(
            f"{where}={bucket!r}: a bucket name has no '/'; set the bucket to {head!r} and "
            f"ASSETSTORE_STORAGE_PREFIX to {rest!r} (the key prefix inside it)"
        )
    return provider, name


def _without_scheme(bucket: str, schemes: tuple[str, ...], provider: str, where: str) -> str:
    if "://" not in bucket:
        return bucket
    parts = urlsplit(bucket)
    if parts.scheme.lower() not in schemes:
        raise ConfigError(
            f"{where}={bucket!r} is a {parts.scheme}:// URL, but the provider is {provider!r}: "
            f"write the bare bucket name (or a {schemes[0]}:// URL)"
        )
    if parts.scheme.lower() == "file":
        return unquote(parts.path)
    return parts.netloc + parts.path


def _where(source: str) -> str:
    """The setting as the user wrote it: the variable, or the config key."""
    if source.startswith("env "):
        return source.removeprefix("env ")
    return "ASSETSTORE_STORAGE_BUCKET" if source in ("", "default") else source
