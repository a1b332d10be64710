"""Keep secrets out of everything shown: settings, URLs, connection strings, messages."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MASK = "***"
_SECRET_KEY = re.compile(r"secret|password|passwd|token|credential|sas|signature|key$", re.I)
_NOT_SECRET = {"kms_key_id", "key_id", "access_key_id"}
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^/:@\s]*:)(?P<pw>[^@/\s]+)(?=@)", re.I)
_CONN_SECRET = re.compile(r"(?P<k>AccountKey|SharedAccessSignature|SharedAccessKey)=(?P<v>[^;]+)")


def is_secret_key(key: str) -> bool:
    """Whether a setting named ``key`` holds a secret.

    >>> is_secret_key("secret"), is_secret_key("kms_key_id"), is_secret_key("endpoint_url")
    (True, False, False)
    """
    return key.lower() not in _NOT_SECRET and bool(_SECRET_KEY.search(key))


def redact_url(value: Any) -> Any:
    """Mask the password of a URL such as a SQLAlchemy database URL.

    >>> redact_url("postgresql://bob:hunter2@db/assets")
    'postgresql://bob:***@db/assets'
    """
    if not isinstance(value, str):
        return value
    return _URL_PASSWORD.sub(lambda m: m["head"] + MASK, value)


def redact_value(key: str, value: Any) -> Any:
    """Mask ``value`` when ``key`` names a secret or it embeds one."""
    if value in (None, ""):
        return value
    if key == "connection_string" and isinstance(value, str):
        return _CONN_SECRET.sub(lambda m: f"{m['k']}={MASK}", value)
    if is_secret_key(key):
        return MASK
    if isinstance(value, dict):
        return {k: redact_value(k, v) for k, v in value.items()}
    return redact_url(value)


def secret_values(options: dict[str, Any]) -> list[str]:
    """Every secret string in a (nested) options mapping, for scrubbing messages."""
    found: list[str] = []
    for key, value in options.items():
        if isinstance(value, dict):
            found.extend(secret_values(value))
        elif isinstance(value, str) and value and is_secret_key(key):
            found.append(value)
        elif key == "connection_string" and isinstance(value, str):
            found.extend(m["v"] for m in _CONN_SECRET.finditer(value))
    return found


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each secret (4+ characters) in ``text``."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= 4:
            text = text.replace(secret, MASK)
    return str(redact_url(text))
