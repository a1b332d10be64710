"""Every option, one row each: the settings field, its environment variable, its
config-file key (and the keys earlier releases used, still accepted with a warning), its
parser and range check, and its default. Provider options (credentials, endpoints) are
rows of the provider registry (``backends/registry.py``), which says where each goes in
the provider's fsspec options.

The same parser checks a value whatever its source: an environment variable, a config
file, a CLI flag or a Python keyword override (``from_env(use_locks="false")`` turns
locks off; ``workers=0`` is a ConfigError).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..model.pack import DEFAULT_FILE_MAX, DEFAULT_MIN_FILES, DEFAULT_PACK_MAX
from ..model.size import parse_size

DEFAULT_PREFIX = "assets"
DEFAULT_WORKERS = 8
DEFAULT_LOCK_STALL_SECONDS = 120.0
DEFAULT_RESERVATION_TIMEOUT_SECONDS = 86400.0
DEFAULT_URL_EXPIRES = 3600
DEFAULT_RETRY_ATTEMPTS = 5
DEFAULT_RETRY_DEADLINE_SECONDS = 60.0
DEFAULT_CONNECT_TIMEOUT_SECONDS = 5.0
DEFAULT_READ_TIMEOUT_SECONDS = 60.0
DEFAULT_PART_SIZE_MIB = 8
DEFAULT_TABLE_PREFIX = "assetstore_"
DATABASE_URL_SHAPE = (
    "postgresql+psycopg://USER@HOST:5432/DATABASE (a password after USER:, URL-encoded) "
    "or sqlite:////path/to/catalog.db"
)


# -- parsers: text in, a value or ValueError out ---------------------------------------------
def text(value: str) -> str:
    return value


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError("must be at least 1")
    return number


def non_negative_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("must not be negative")
    return number


def non_negative_float(value: str) -> float:
    number = float(value)
    if not number >= 0:  # NaN too
        raise ValueError("must not be negative")
    return number


def positive_float(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise ValueError("must be more than 0")
    return number


def part_size_mib(value: str) -> int:
    number = int(value)
    if not 5 <= number <= 5120:  # S3's limits on a multipart upload's parts
        raise ValueError("must be between 5 and 5120 (MiB)")
    return number


def size(value: str) -> int:
    number = parse_size(value)
    if number < 1:
        raise ValueError("must be at least 1 byte")
    return number


def url_base(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError("must start with https:// or http://")
    return value.rstrip("/")


def boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("expected true/false, 1/0, yes/no or on/off")


_DATABASE_URL = re.compile(r"[A-Za-z][A-Za-z0-9+_]*://.*", re.S)


def database_url(value: str) -> str:
    """A SQLAlchemy database URL, checked for its shape only (SQLAlchemy itself is only
    imported when the catalog is opened)."""
    if not _DATABASE_URL.fullmatch(value):
        raise ValueError(f"expected a database URL, such as {DATABASE_URL_SHAPE}")
    netloc = value.partition("://")[2].partition("?")[0]
    if netloc.count("@") > 1:
        raise ValueError("its password holds a raw '@': write it URL-encoded, as %40")
    return value


def table_prefix(value: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,30}", value):
        raise ValueError("must match [a-z_][a-z0-9_]{0,30}")
    return value


# -- defaults that depend on the environment --------------------------------------------------
def default_assets_dir(environ: Mapping[str, str]) -> str:
    """The user cache dir: ``$XDG_CACHE_HOME/assetstore`` or ``~/.cache/assetstore``."""
    base = environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return str(Path(base) / "assetstore")


def default_pusher(_environ: Mapping[str, str]) -> str:
    """``user@host`` of whoever pushes."""
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}"
    return f"{user}@{_hostname()}"


def _hostname() -> str:
    if hasattr(os, "uname"):  # what socket.gethostname() says, without importing socket
        return os.uname().nodename
    import socket

    return socket.gethostname()


@dataclass(frozen=True)
class Setting:
    """One setting: where it comes from and how it is checked."""

    name: str
    env: str | None
    default: Callable[[Mapping[str, str]], Any]
    parse: Callable[[str], Any] = text
    key: str | None = None  # its key in a config file's object-store backend
    legacy: tuple[str, ...] = ()  # keys earlier releases used for it


def _const(value: Any) -> Callable[[Mapping[str, str]], Any]:
    return lambda _environ: value


SETTINGS: tuple[Setting, ...] = (
    Setting("assets_dir", "ASSETSTORE_ASSETS_DIR", default_assets_dir),
    Setting("provider", "ASSETSTORE_STORAGE_PROVIDER", _const(None)),
    Setting("bucket", "ASSETSTORE_STORAGE_BUCKET", _const(None)),
    Setting("prefix", "ASSETSTORE_STORAGE_PREFIX", _const(DEFAULT_PREFIX)),
    Setting("catalog_url", "ASSETSTORE_CATALOG_URL", _const(None), database_url),
    Setting("workers", "ASSETSTORE_WORKERS", _const(DEFAULT_WORKERS), positive_int),
    Setting("lock_stall_seconds", "ASSETSTORE_LOCK_STALL_SECONDS",
            _const(DEFAULT_LOCK_STALL_SECONDS), non_negative_float),
    Setting("use_locks", "ASSETSTORE_USE_LOCKS", _const(True), boolean),
    Setting("table_prefix", "ASSETSTORE_CATALOG_TABLE_PREFIX", _const(DEFAULT_TABLE_PREFIX),
            table_prefix),
    Setting("pushed_by", "ASSETSTORE_PUSHED_BY", default_pusher),
    Setting("reservation_timeout_seconds", "ASSETSTORE_RESERVATION_TIMEOUT_SECONDS",
            _const(DEFAULT_RESERVATION_TIMEOUT_SECONDS), non_negative_float),
    Setting("lockfile", "ASSETSTORE_LOCKFILE", _const(None)),
    Setting("force_offline", "ASSETSTORE_OFFLINE", _const(False), boolean),
    # the backend's behaviour (docs/providers.md); also keys of a config file's backends
    Setting("auto_create_bucket", "ASSETSTORE_AUTO_CREATE_BUCKET", _const(False), boolean,
            "auto_create_bucket"),
    Setting("url_expires", "ASSETSTORE_URL_EXPIRES", _const(DEFAULT_URL_EXPIRES),
            non_negative_int, "url_expires", ("presigned_expiry_secs",)),
    Setting("public_url_base", "ASSETSTORE_PUBLIC_URL_BASE", _const(None), url_base,
            "public_url_base"),
    Setting("retry_attempts", "ASSETSTORE_RETRY_ATTEMPTS", _const(DEFAULT_RETRY_ATTEMPTS),
            positive_int, "retry_attempts"),
    Setting("retry_deadline_seconds", "ASSETSTORE_RETRY_DEADLINE_SECONDS",
            _const(DEFAULT_RETRY_DEADLINE_SECONDS), non_negative_float,
            "retry_deadline_seconds", ("retry_deadline_secs",)),
    Setting("connect_timeout_seconds", "ASSETSTORE_CONNECT_TIMEOUT_SECONDS",
            _const(DEFAULT_CONNECT_TIMEOUT_SECONDS), positive_float,
            "connect_timeout_seconds", ("connect_timeout_secs",)),
    Setting("read_timeout_seconds", "ASSETSTORE_READ_TIMEOUT_SECONDS",
            _const(DEFAULT_READ_TIMEOUT_SECONDS), positive_float, "read_timeout_seconds"),
    Setting("part_size_mib", "ASSETSTORE_PART_SIZE_MIB", _const(DEFAULT_PART_SIZE_MIB),
            part_size_mib, "part_size_mib", ("fixed_part_size_mib",)),
    # packs (model/pack.py, docs/concepts.md "Packs")
    Setting("pack", "ASSETSTORE_PACK", _const(True), boolean, "pack"),
    Setting("pack_min_files", "ASSETSTORE_PACK_MIN_FILES", _const(DEFAULT_MIN_FILES),
            positive_int, "pack_min_files"),
    Setting("pack_file_max", "ASSETSTORE_PACK_FILE_MAX", _const(DEFAULT_FILE_MAX), size,
            "pack_file_max"),
    Setting("pack_max", "ASSETSTORE_PACK_MAX", _const(DEFAULT_PACK_MAX), size, "pack_max"),
)  # fmt: skip
BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
# Config-file keys of an object-store backend that are settings, old names included.
FILE_KEYS: dict[str, Setting] = {key: s for s in SETTINGS if s.key for key in (s.key, *s.legacy)}
# Variables assetstore reads that are no setting of the table (see ``unknown_variables``).
OTHER_VARIABLES = ("ASSETSTORE_CONFIG",)
