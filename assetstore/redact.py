"""Keep secrets out of everything shown: settings, URLs, connection strings, messages."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
_SECRET_KEY = re.compile(r"secret|password|passwd|token|credential|sas|signature|key$", re.I)
_NOT_SECRET = {"kms_key_id", "key_id", "access_key_id", "google_application_credentials"}  # a path
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
    """Replace every occurrence of each secret (4+ characters) in ``text``, as it is and
    URL-encoded (a secret in a query string, or sent as a request parameter).

    >>> scrub("token=a%2Fb+c d", ["a/b c"])
    'token=*** d'
    """
    forms = {form for secret in secrets for form in _forms(secret)}
    for secret in sorted(forms, key=len, reverse=True):
        if len(secret) >= 4:
            text = text.replace(secret, MASK)
    return str(redact_url(text))


def _forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote_plus(secret), quote(secret)}


# -- database URLs (the catalog) ------------------------------------------------------
_USERINFO = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@]*:).*@(?P<tail>[^@]*)$", re.S)


@functools.lru_cache(maxsize=16)
def database_url_secrets(url: str) -> tuple[str, ...]:
    """The secrets a database URL holds: its password (decoded, and as written) and the
    values of query parameters that name a secret (``?password=...``), parsed as
    SQLAlchemy parses it.

    >>> database_url_secrets("postgresql://u:PA%2FSS@db/x?sslpassword=k3y&sslmode=require")
    ('PA/SS', 'PA%2FSS', 'k3y')
    """
    found: list[str] = []
    url_match = _USERINFO.match(url.partition("?")[0])
    try:
        parsed = _parse_database_url(url)
    except ValueError:
        parsed = None
    if parsed is not None and parsed.password:
        found.append(str(parsed.password))
    if url_match:  # everything between "user:" and the last "@": a raw "@" included
        raw = url.partition("?")[0][len(url_match["head"]) : -len(url_match["tail"]) - 1]
        found.append(raw)
    if parsed is not None:
        for key, value in parsed.query.items():
            values = value if isinstance(value, tuple) else (value,)
            found.extend(str(v) for v in values if is_secret_key(key) and v)
    return tuple(dict.fromkeys(s for s in found if s))


def redact_database_url(url: str) -> str:
    """A database URL fit to show: its password and secret query values masked.

    >>> redact_database_url("postgresql+psycopg://u:PA/SS@db/x?password=p%40&sslmode=require")
    'postgresql+psycopg://u:***@db/x?password=***&sslmode=require'
    >>> redact_database_url("postgresql://u:p@ss@host/db")
    'postgresql://u:***@host/db'
    """
    text = url
    url_match = _USERINFO.match(url.partition("?")[0])
    if url_match:
        text = f"{url_match['head']}{MASK}@{url_match['tail']}" + (
            "?" + url.partition("?")[2] if "?" in url else ""
        )
    head, sep, query = text.partition("?")
    if sep:
        pairs = [pair.partition("=") for pair in query.split("&")]
        query = "&".join(k + eq + (MASK if eq and is_secret_key(k) else v) for k, eq, v in pairs)
    return scrub(head + sep + query, database_url_secrets(url))


def _parse_database_url(url: str) -> Any:
    """SQLAlchemy's own parse of ``url`` (ValueError when it is not a database URL)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url)
    except ArgumentError as exc:
        raise ValueError(str(exc)) from None
