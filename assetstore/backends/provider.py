"""What a provider is, as the registry describes it before its module is imported:
its names, its SDK, and the options it reads from the environment and the config file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Option:
    """One provider option: the environment variable and config-file key it is read
    from, where it goes in the fsspec filesystem's keyword arguments, and its parser
    (``ValueError`` on a bad value; None leaves it unset)."""

    path: tuple[str, ...]
    env: str | None = None
    key: str | None = None
    parse: Callable[[str], Any] = str


@dataclass(frozen=True)
class Provider:
    """What the registry knows of a provider before its module is imported."""

    name: str
    protocol: str  # the fsspec protocol
    backend: str  # "module:Class", imported on first use
    package: str  # the SDK it needs
    extra: str | None  # the assetstore extra that installs it
    bucket_word: str = "bucket"
    object_store: bool = True  # False: a folder, nothing to probe or create
    options: tuple[Option, ...] = ()
    finish: str | None = None  # "module:function": cross-option rules, see config
    schemes: tuple[str, ...] = ()  # URL schemes that name its buckets (s3://bucket)
    folder: bool = False  # the bucket is a local folder (a relative path is made absolute)

    @property
    def install_hint(self) -> str:
        return f"pip install 'assetstore[{self.extra}]'" if self.extra else ""
