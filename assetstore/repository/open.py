"""The repository that settings describe: the provider's backend, the retry policy,
the bucket's options."""

from __future__ import annotations

from ..config.settings import Settings
from ..errors import AssetStoreError, ConfigError
from .repository import Repository


def repository_for(settings: Settings) -> Repository:
    """The repository ``settings`` describe: backend, retry policy, bucket options."""
    from ..backends import faults
    from ..backends.base import Timeouts
    from ..backends.registry import make_backend
    from ..io.policy import RetryPolicy
    from ..redact import scrub, secret_values

    s = settings
    _require_bucket(s)
    assert s.provider is not None and s.bucket is not None
    secrets = tuple(secret_values(dict(s.storage_options)))
    timeouts = Timeouts(s.connect_timeout_seconds, s.read_timeout_seconds)
    try:
        backend = make_backend(
            s.provider, s.bucket, s.storage_options, timeouts=timeouts,
            part_size=s.part_size_mib * 2**20,
        )  # fmt: skip
        backend.check_options()  # a bad option is a ConfigError here, not later
    except AssetStoreError:
        raise
    except Exception as exc:  # the SDK refused the options before any request
        reason = scrub(f"{type(exc).__name__}: {exc}".splitlines()[0], secrets)
        raise ConfigError(
            f"cannot set up provider {s.provider!r} for {s.bucket}: {reason}"
        ) from exc
    retry = RetryPolicy(
        faults.is_transient, attempts=s.retry_attempts, deadline_seconds=s.retry_deadline_seconds
    )
    return Repository(
        backend,
        prefix=s.prefix,
        retry=retry,
        secrets=secrets,
        auto_create_bucket=s.auto_create_bucket,
        public_url_base=s.public_url_base,
    )


def _require_bucket(s: Settings) -> None:
    if s.force_offline:
        raise ConfigError(
            f"{s.offline_reason}: this needs the bucket, and offline only the assets dir "
            f"{s.assets_dir} is served"
        )
    if s.provider is None or s.bucket is None:
        raise ConfigError(
            "no storage provider is configured (pre-downloaded mode serves the assets "
            f"dir {s.assets_dir} only): set ASSETSTORE_STORAGE_PROVIDER and "
            "ASSETSTORE_STORAGE_BUCKET"
        )
