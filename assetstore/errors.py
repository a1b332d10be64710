"""The exception family: one base class, a few subclasses that also inherit the builtin
they mean, each with the exit code the CLI uses for it."""

from __future__ import annotations


class AssetStoreError(Exception):
    """Base class of every error assetstore raises on purpose."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        name: str | None = None,
        version: str | None = None,
        backend: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.name = name
        self.version = version
        self.backend = backend

    def __str__(self) -> str:
        return self.message


class InvalidSpecError(AssetStoreError, ValueError):
    """A malformed name, version, spec or path (exit code 2)."""

    exit_code = 2


class AssetNotFoundError(AssetStoreError, LookupError):
    """No such asset, version or sub-path (exit code 3).

    ``spec``: what was looked for (as given, or ``NAME:VERSION``); ``backend``: the URL
    of the bucket looked in, None for the assets dir."""

    exit_code = 3

    def __init__(
        self,
        message: str,
        *,
        name: str | None = None,
        version: str | None = None,
        backend: str | None = None,
        spec: str | None = None,
    ) -> None:
        super().__init__(message, name=name, version=version, backend=backend)
        self.spec = spec or (f"{name}:{version}" if name and version else name)


class VersionExistsError(AssetStoreError, FileExistsError):
    """The version was already pushed, or is reserved by another push (exit code 4)."""

    exit_code = 4


class ReservedError(VersionExistsError):
    """The version is reserved by a push under way, or by one that died (exit code 4)."""


class IntegrityError(AssetStoreError, ValueError):
    """Bytes do not match the manifest's size or sha256 (exit code 5).

    Where one file is at fault: ``path`` (its path in the version), ``expected`` and
    ``actual`` (``sha256:…`` digests, or sizes in bytes when the sizes differ)."""

    exit_code = 5

    def __init__(
        self,
        message: str,
        *,
        name: str | None = None,
        version: str | None = None,
        backend: str | None = None,
        path: str | None = None,
        expected: str | None = None,
        actual: str | None = None,
    ) -> None:
        super().__init__(message, name=name, version=version, backend=backend)
        self.path = path
        self.expected = expected
        self.actual = actual


class ConfigError(AssetStoreError, ValueError):
    """The settings are incomplete or contradictory (exit code 6)."""

    exit_code = 6


class BackendError(AssetStoreError, OSError):
    """The backend is unreachable or refused the request (exit code 7).

    ``unreachable`` says whether the backend could not be reached at all (refused,
    reset, timed out, DNS), as opposed to answering with an error (permission denied, no
    such bucket...); None when whoever raised it did not say."""

    exit_code = 7

    def __init__(
        self,
        message: str,
        *,
        name: str | None = None,
        version: str | None = None,
        backend: str | None = None,
        unreachable: bool | None = None,
    ) -> None:
        super().__init__(message, name=name, version=version, backend=backend)
        self.unreachable = unreachable


class CacheError(AssetStoreError, OSError):
    """The local assets dir cannot be written: read-only, full, or not permitted
    (exit code 8)."""

    exit_code = 8


class ExportConflictError(CacheError):
    """An export would overwrite files that differ from the version's (exit code 8):
    nothing was written; ``--force`` replaces them."""


class ProtectedError(AssetStoreError):
    """The version is protected: an alias points at it or a registered lockfile names
    it, or it is yanked and an alias may not point at it (exit code 9)."""

    exit_code = 9


class StaleLockError(AssetStoreError):
    """The lockfile no longer says what its inputs resolve to (exit code 10)."""

    exit_code = 10


class PushSourceError(InvalidSpecError):
    """The local path given to push cannot be pushed as it is (exit code 2)."""


EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "unexpected error (a bug: please report it with --debug output)",
    2: "usage error, invalid spec, name, path or push source",
    3: "asset, version or sub-path not found",
    4: "version already exists (or is reserved by another push)",
    5: "integrity failure: bytes do not match the manifest",
    6: "configuration error",
    7: "backend error: unreachable, permission denied, bucket missing",
    8: "local cache error: the assets dir is read-only, full or not permitted, or an "
    "export would overwrite other files",
    9: "protected: an alias or a registered lockfile needs the version, or it is yanked",
    10: "lockfile is stale: its inputs resolve to other versions now (lock --check)",
}
