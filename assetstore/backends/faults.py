"""What went wrong below: the one place that classifies the exceptions of the SDKs
(botocore, aiohttp, gcsfs, azure-core, the OS) — matched by class name and service
error code, so that no SDK needs importing here.

One rule for exception chains, everywhere: an exception is looked at together with the
ones Python prints with it — what it was raised from (``__cause__``), or else what was
being handled when it was raised (``__context__``), unless that was suppressed
(``raise ... from None``).

    classify(exc)
      ├─ not found          FileNotFoundError, 404, NoSuchKey, BlobNotFound, ...
      ├─ exists             FileExistsError, 412 on a create-if-absent write
      ├─ denied             PermissionError, 401/403, AccessDenied, no credentials
      ├─ past the end       416, InvalidRange (a range at or past an object's end)
      ├─ unreachable        refused, reset, timed out, DNS (transient)
      ├─ transient          5xx, 408, 429, SlowDown, a cut-off body
      └─ other              everything else: a clear error, never retried
"""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import AssetStoreError

_TRANSIENT_CODES = {
    "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests",
    "RequestTimeout", "InternalError", "ServiceUnavailable", "ServerBusy", "OperationTimedOut",
}  # fmt: skip
# Connection-level failures: the backend could not be reached or stopped answering.
_CONNECTION_TYPES = {
    "ServerDisconnectedError", "ClientConnectionError", "ClientConnectorError", "ClientOSError",
    "EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ServiceRequestError",
    "ServiceResponseError", "RemoteDisconnected", "ConnectionError", "Timeout", "TimeoutError",
    "FSTimeoutError", "ServerTimeoutError", "ConnectionTimeoutError", "SocketTimeoutError",
}  # fmt: skip
_TRANSIENT_TYPES = _CONNECTION_TYPES | {
    "ClientPayloadError", "ResponseStreamingError", "IncompleteRead", "ProtocolError",
    "ChunkedEncodingError", "TransportError", "ResponseParserError",
}  # fmt: skip
_PERMANENT = (AssetStoreError, FileNotFoundError, FileExistsError, PermissionError)
_NOT_FOUND_CODES = {"NoSuchKey", "NoSuchBucket", "BlobNotFound", "ContainerNotFound", "404"}
_DENIED_CODES = {
    "AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch",
    "ExpiredToken", "InvalidToken", "AuthenticationFailed", "AuthorizationFailure",
    "AuthorizationPermissionMismatch", "InsufficientAccountPermissions", "403", "401",
}  # fmt: skip
_CREDENTIAL_TYPES = {
    "NoCredentialsError", "PartialCredentialsError", "DefaultCredentialsError", "RefreshError",
    "ClientAuthenticationError", "CredentialUnavailableError",
}  # fmt: skip


def chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions Python prints with it, nearest first (at most 10)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(seen) < 10 and all(current is not e for e in seen):
        seen.append(current)
        yield current
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is worth retrying: the nearest exception of the chain that says
    either way decides (a not-found raised while handling a timeout is not found)."""
    for e in chain(exc):
        verdict = _transient(e)
        if verdict is not None:
            return verdict
    return False


def _transient(exc: BaseException) -> bool | None:
    if isinstance(exc, _PERMANENT):
        return False
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    status = http_status(exc)
    if status is not None:
        return status >= 500 or status in (408, 429)
    if error_code(exc) in _TRANSIENT_CODES or _type_names(exc) & _TRANSIENT_TYPES:
        return True
    return None


def is_unreachable(exc: BaseException) -> bool:
    """Whether the backend could not be reached at all: refused, reset, timed out, DNS
    (as opposed to answering with an error)."""
    if is_denied(exc):
        return False
    return any(
        isinstance(e, (ConnectionError, TimeoutError)) or _type_names(e) & _CONNECTION_TYPES
        for e in chain(exc)
    )


def is_not_found(exc: BaseException) -> bool:
    return any(
        isinstance(e, FileNotFoundError)
        or type(e).__name__ in ("ResourceNotFoundError", "NotFoundError")
        or http_status(e) == 404
        or error_code(e) in _NOT_FOUND_CODES
        for e in chain(exc)
    )


def is_past_the_end(exc: BaseException) -> bool:
    """A ranged read that starts at or past the object's end (HTTP 416)."""
    return any(http_status(e) == 416 or error_code(e) == "InvalidRange" for e in chain(exc))


def lacks_credentials(exc: BaseException) -> bool:
    return any(
        {c.__name__ for c in type(e).__mro__} & _CREDENTIAL_TYPES
        # google-cloud-storage, asked to sign with credentials that hold no private key
        or (isinstance(e, AttributeError) and "private key to sign" in str(e))
        for e in chain(exc)
    )


def is_denied(exc: BaseException) -> bool:
    return lacks_credentials(exc) or any(
        isinstance(e, PermissionError)
        or http_status(e) in (401, 403)
        or error_code(e) in _DENIED_CODES
        or (isinstance(e, OSError) and str(e).startswith("Forbidden"))  # gcsfs's 403
        for e in chain(exc)
    )


def describe(exc: BaseException) -> str:
    """What went wrong, in one line: the kind, the service's error code, its message.

    >>> describe(PermissionError("Access Denied"))
    'permission denied (PermissionError: Access Denied)'
    """
    text = (str(exc) or type(exc).__name__).strip().splitlines()[0][:300]
    code = next((c for c in map(error_code, chain(exc)) if c), None)
    text = f"{code}: {text}" if code and code not in text else f"{type(exc).__name__}: {text}"
    if lacks_credentials(exc):
        return f"no usable credentials ({text})"
    if is_denied(exc):
        return f"permission denied ({text})"
    if is_unreachable(exc):
        return f"backend unreachable ({text})"
    return text


def _type_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def http_status(exc: BaseException) -> int | None:
    """The HTTP status an SDK exception carries, if any (botocore, azure, gcsfs, aiohttp)."""
    for attribute in ("status_code", "status", "code"):
        value = getattr(exc, attribute, None)
        if isinstance(value, int) and 100 <= value < 600:
            return value
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        value = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if isinstance(value, int):
            return value
    return None


def error_code(exc: BaseException) -> str | None:
    """The service's error code (``SlowDown``, ``AccessDenied``, ``BlobNotFound``...)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    code = getattr(exc, "error_code", None)  # azure: a StorageErrorCode enum, or a str
    code = getattr(code, "value", code)
    return str(code) if code is not None else None
