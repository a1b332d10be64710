"""What an ``s3`` configuration given in full decides without botocore: the bucket's URL,
its signing region and the keys, for a store named by its endpoint, addressed
path-style (or by an IP address, which only path-style can address), with the keys
given.

Why: importing s3fs and botocore, and building botocore's client, takes about 0.35 s
before the first request (benchmarks/findings.md), the largest fixed cost of every S3
command. For this configuration botocore's answer is known in advance, so the direct
path (``s3_http.py``) and the requests through obstore (``s3_lean.py``) need neither.
Anything else (AWS's own endpoints, virtual-hosted style, the credential chain, a
profile, an AWS config file that may set a region) is left to botocore.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

# The options (backends/registry.py) whose meaning is modelled here.
_MODELLED = {"key", "secret", "token", "client_kwargs", "config_kwargs", "s3_additional_kwargs",
             "fixed_upload_size"}  # fmt: skip
# botocore's own check of a bucket name (botocore.handlers.VALID_BUCKET).
_VALID_BUCKET = re.compile(r"^[a-zA-Z0-9.\-_]{1,255}$")


class Located(NamedTuple):
    """Where a bucket's objects are, as botocore would address them."""

    base: str  # URL of the bucket's root, ending in "/"
    host: str  # its Host header: host[:port], the port only when not the scheme's own
    region: str  # the signing region
    proxy: str | None  # from HTTP(S)_PROXY unless NO_PROXY names the host


class Keys(NamedTuple):
    """Fixed credentials (named as botocore's ``ReadOnlyCredentials``)."""

    access_key: str
    secret_key: str
    token: str | None


class StaticAccess(NamedTuple):
    """The keys and the endpoint of a configuration botocore need not interpret."""

    keys: Keys
    endpoint: str  # without a trailing "/"
    region: str

    def locate(self, bucket: str) -> Located | None:
        if not _VALID_BUCKET.match(bucket):
            return None  # botocore refuses it before any request; let it say so
        base = f"{self.endpoint}/{bucket}/"
        return Located(base, host_of(base), self.region, env_proxy(base))


def static_access(
    options: Mapping[str, Any], environ: Mapping[str, str] = os.environ
) -> StaticAccess | None:
    """The static access ``options`` give, or None when botocore must decide."""
    client = dict(options.get("client_kwargs") or {})
    endpoint = client.pop("endpoint_url", None)
    region = client.pop("region_name", None) or _default_region(environ)
    if set(options) - _MODELLED or client or not endpoint or not region:
        return None
    if not options.get("key") or not options.get("secret") or not _path_style(options, endpoint):
        return None
    parts = urlsplit(str(endpoint))
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        return None
    if parts.scheme == "https" and environ.get("AWS_CA_BUNDLE"):
        return None  # botocore's verification, kept for the requests it makes
    keys = Keys(str(options["key"]), str(options["secret"]), options.get("token") or None)
    return StaticAccess(keys, str(endpoint).rstrip("/"), str(region))


def _path_style(options: Mapping[str, Any], endpoint: str) -> bool:
    config = dict(options.get("config_kwargs") or {})
    s3 = dict(config.pop("s3", None) or {})
    style = s3.pop("addressing_style", None)
    if config or s3:
        return False
    return style == "path" or (style is None and _is_ip(urlsplit(endpoint).hostname or ""))


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _default_region(environ: Mapping[str, str]) -> str | None:
    """botocore signs for us-east-1 when nothing names a region; an AWS config file
    might (for the profile in use), and then botocore decides."""
    config = Path(environ.get("AWS_CONFIG_FILE") or "~/.aws/config").expanduser()
    if environ.get("AWS_PROFILE") or (config.is_file() and config.stat().st_size > 0):
        return None
    return "us-east-1"  # no config file, or an empty one (such as /dev/null)


def host_of(url: str) -> str:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    host = parts.netloc.rpartition("@")[2]
    if parts.port is not None and parts.port == default:
        host = host.rpartition(":")[0]
    return host


def env_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url``, as botocore finds it."""
    from urllib.request import getproxies, proxy_bypass

    parts = urlsplit(url)
    proxy = getproxies().get(parts.scheme)
    if not proxy or proxy_bypass(parts.hostname or ""):
        return None
    return proxy
