"""The tools under test, as command lines on a backend. Every tool pushes to and pulls
from its own prefix (``{tool}/{slot}``) of the same server, so no tool ever reads
another's objects and each run starts from the same state."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from typing_extensions import override

from . import peers
from .measure import Step
from .servers import S3, s3fs_client

DRIVERS = Path(__file__).resolve().parent / "drivers"
ASSET = "bench"  # the asset name assetstore and modelkit push under


@dataclass(frozen=True)
class Backend:
    """``local`` (a folder as the remote) or an S3 server."""

    name: str
    root: Path | None = None  # the folder, for local
    s3: S3 | None = None

    @property
    def is_s3(self) -> bool:
        return self.s3 is not None

    @property
    def server_pid(self) -> int | None:
        return None if self.s3 is None else self.s3.pid

    def remove(self, prefix: str) -> None:
        """Delete everything under ``prefix`` (between runs; never timed)."""
        if self.s3 is None:
            assert self.root is not None
            shutil.rmtree(self.root / prefix, ignore_errors=True)
            return
        fs = s3fs_client(self.s3)
        try:
            fs.rm(f"{self.s3.bucket}/{prefix}", recursive=True)
        except FileNotFoundError:
            pass

    def s3_env(self) -> dict[str, str]:
        assert self.s3 is not None
        return {
            "AWS_ACCESS_KEY_ID": self.s3.key, "AWS_SECRET_ACCESS_KEY": self.s3.secret,
            "S3_ENDPOINT": self.s3.endpoint, "AWS_REGION": "us-east-1",
        }  # fmt: skip


class Tool:
    name = ""
    backends: tuple[str, ...] = ("rclone", "moto")

    def push(self, b: Backend, src: Path, slot: str, home: Path) -> Step:
        raise NotImplementedError

    def pull(self, b: Backend, slot: str, src: Path, dest: Path) -> Step:
        """Cold pull of what ``push`` stored at ``slot`` (``src`` is what was pushed)."""
        raise NotImplementedError

    def pulled(self, dest: Path, src: Path) -> Path:
        """Where the pulled copy of ``src`` ends up under ``dest`` (to verify it)."""
        return dest / src.name if src.is_file() else dest

    def prefix(self, slot: str) -> str:
        return f"{self.name}/{slot}"


class AssetStoreTool(Tool):
    name = "assetstore"
    backends = ("local", "rclone", "moto")

    def env(self, b: Backend, slot: str, home: Path) -> dict[str, str]:
        env = {
            "ASSETSTORE_STORAGE_PREFIX": self.prefix(slot), "ASSETSTORE_ASSETS_DIR": str(home),
            "ASSETSTORE_PUSHED_BY": "bench",
        }  # fmt: skip
        if b.s3 is None:
            return {**env, "ASSETSTORE_STORAGE_PROVIDER": "local",
                    "ASSETSTORE_STORAGE_BUCKET": str(b.root)}  # fmt: skip
        return {**env, **b.s3_env(), "ASSETSTORE_STORAGE_PROVIDER": "s3",
                "ASSETSTORE_STORAGE_BUCKET": b.s3.bucket}  # fmt: skip

    @override
    def push(self, b: Backend, src: Path, slot: str, home: Path) -> Step:
        argv = [sys.executable, str(DRIVERS / "assetstore_op.py"), "push", str(src), ASSET]
        return Step(argv, self.env(b, slot, home))

    @override
    def pull(self, b: Backend, slot: str, src: Path, dest: Path) -> Step:
        argv = [sys.executable, str(DRIVERS / "assetstore_op.py"), "pull", f"{ASSET}:0.0"]
        return Step(argv, self.env(b, slot, dest))

    @override
    def pulled(self, dest: Path, src: Path) -> Path:
        root = dest / ASSET / "0.0"
        return root / src.name if src.is_file() else root


class BaselineTool(AssetStoreTool):
    """assetstore as it was at an earlier commit (``--baseline REF``): the same driver,
    importing that commit's package, extracted to ``root``, before the installed one."""

    def __init__(self, ref: str, root: Path) -> None:
        self.name = f"assetstore@{ref}"
        self.root = root

    @override
    def env(self, b: Backend, slot: str, home: Path) -> dict[str, str]:
        return {**super().env(b, slot, home), "PYTHONPATH": str(self.root)}


class ModelkitTool(Tool):
    name = "modelkit"
    backends = ("local", "rclone", "moto")

    def env(self, b: Backend, slot: str, home: Path) -> dict[str, str]:
        env = {"MODELKIT_STORAGE_PREFIX": self.prefix(slot), "MODELKIT_ASSETS_DIR": str(home)}
        if b.s3 is None:
            return {**env, "MODELKIT_STORAGE_PROVIDER": "local",
                    "MODELKIT_STORAGE_BUCKET": str(b.root)}  # fmt: skip
        return {**env, **b.s3_env(), "MODELKIT_STORAGE_PROVIDER": "s3",
                "MODELKIT_STORAGE_BUCKET": b.s3.bucket,
                "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip

    def _argv(self, *args: str) -> list[str]:
        return [peers.binary("modelkit", "python"), str(DRIVERS / "modelkit_op.py"), *args]

    @override
    def push(self, b: Backend, src: Path, slot: str, home: Path) -> Step:
        return Step(self._argv("push", str(src), ASSET), self.env(b, slot, home))

    @override
    def pull(self, b: Backend, slot: str, src: Path, dest: Path) -> Step:
        return Step(self._argv("pull", f"{ASSET}:0.0"), self.env(b, slot, dest))

    @override
    def pulled(self, dest: Path, src: Path) -> Path:
        return dest / ASSET / "0.0"  # a single file is stored as the version itself


class S3fsTool(Tool):
    name = "s3fs"

    def _argv(self, *args: str) -> list[str]:
        return [sys.executable, str(DRIVERS / "s3fs_op.py"), *args]

    def _key(self, b: Backend, slot: str, src: Path) -> str:
        assert b.s3 is not None
        base = f"{b.s3.bucket}/{self.prefix(slot)}"
        return f"{base}/{src.name}" if src.is_file() else base

    @override
    def push(self, b: Backend, src: Path, slot: str, home: Path) -> Step:
        return Step(self._argv("push", str(src), self._key(b, slot, src)), b.s3_env())

    @override
    def pull(self, b: Backend, slot: str, src: Path, dest: Path) -> Step:
        target = dest / src.name if src.is_file() else dest
        return Step(self._argv("pull", self._key(b, slot, src), str(target)), b.s3_env())


class AwsTool(Tool):
    name = "aws"

    def _argv(self, b: Backend, src: Path, *args: str) -> list[str]:
        assert b.s3 is not None
        recursive = [] if src.is_file() else ["--recursive"]
        return [peers.binary("tools", "aws"), "--endpoint-url", b.s3.endpoint, "s3", "cp",
                *recursive, "--only-show-errors", *args]  # fmt: skip

    def _url(self, b: Backend, slot: str, src: Path) -> str:
        assert b.s3 is not None
        base = f"s3://{b.s3.bucket}/{self.prefix(slot)}/"
        return base + src.name if src.is_file() else base

    @override
    def push(self, b: Backend, src: Path, slot: str, home: Path) -> Step:
        return Step(self._argv(b, src, str(src), self._url(b, slot, src)), b.s3_env())

    @override
    def pull(self, b: Backend, slot: str, src: Path, dest: Path) -> Step:
        target = dest / src.name if src.is_file() else dest
        return Step(self._argv(b, src, self._url(b, slot, src), str(target)), b.s3_env())


class S5cmdTool(Tool):
    name = "s5cmd"

    def _argv(self, b: Backend, *args: str) -> list[str]:
        assert b.s3 is not None
        return [peers.binary("tools", "s5cmd"), "--log", "error", "--endpoint-url",
                b.s3.endpoint, "cp", *args]  # fmt: skip

    @override
    def push(self, b: Backend, src: Path, slot: str, home: Path) -> Step:
        assert b.s3 is not None
        url = f"s3://{b.s3.bucket}/{self.prefix(slot)}/"
        source = str(src) if src.is_file() else f"{src}/*"
        return Step(self._argv(b, source, url), b.s3_env())

    @override
    def pull(self, b: Backend, slot: str, src: Path, dest: Path) -> Step:
        assert b.s3 is not None
        url = f"s3://{b.s3.bucket}/{self.prefix(slot)}/"
        url += src.name if src.is_file() else "*"
        return Step(self._argv(b, url, f"{dest}/"), b.s3_env())


class CpTool(Tool):
    """``cp -r``: the local-disk limit for the local provider."""

    name = "cp"
    backends = ("local",)

    @override
    def push(self, b: Backend, src: Path, slot: str, home: Path) -> Step:
        assert b.root is not None
        target = b.root / self.prefix(slot)
        target.parent.mkdir(parents=True, exist_ok=True)
        return Step(["cp", "-r", str(src), str(target)])

    @override
    def pull(self, b: Backend, slot: str, src: Path, dest: Path) -> Step:
        assert b.root is not None
        dest.parent.mkdir(parents=True, exist_ok=True)
        return Step(["cp", "-r", str(b.root / self.prefix(slot)), str(dest)])

    @override
    def pulled(self, dest: Path, src: Path) -> Path:
        return dest


class TarTool(Tool):
    """``tar``: the physical floor of a tree on this disk. It "pushes" with ``tar -c``
    into a local archive beside the source and "pulls" with ``tar -x`` of it: what
    creating these files costs here, with no network and no checks."""

    name = "tar"
    backends = ("local", "rclone", "moto")
    folder = Path("/tmp/assetstore-bench-floor")  # run.py puts it in the run's work dir

    def _archive(self, src: Path) -> Path:
        """Outside every data set (a warm-up slice is a folder of the tree it slices)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder / f"{src.parent.name}-{src.name}.tar"

    @staticmethod
    def _members(src: Path) -> list[str]:
        return ["-C", str(src.parent), src.name] if src.is_file() else ["-C", str(src), "."]

    @override
    def push(self, b: Backend, src: Path, slot: str, home: Path) -> Step:
        return Step(["tar", "-c", "-f", str(self._archive(src)), *self._members(src)])

    @override
    def pull(self, b: Backend, slot: str, src: Path, dest: Path) -> Step:
        return Step(["tar", "-x", "-f", str(self._archive(src)), "-C", str(dest)])


ALL: tuple[Tool, ...] = (
    AssetStoreTool(),
    S3fsTool(),
    S5cmdTool(),
    AwsTool(),
    ModelkitTool(),
    CpTool(),
    TarTool(),
)
NEEDS_PEERS = {"aws", "s5cmd", "modelkit"}
