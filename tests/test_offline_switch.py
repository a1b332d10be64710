"""ASSETSTORE_OFFLINE / --offline: with a provider configured, no connection is ever
opened. The backend is an S3 endpoint that counts whoever connects: every command
must serve from the assets dir, or fail naming what is missing, with none."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ConnectionCounter

Cli = Callable[..., tuple[int, str, str]]
Tree = Callable[..., Path]


@pytest.fixture
def cached(cli: Cli, local_env: dict[str, str], make_tree: Tree) -> Path:
    """m 0.0 and 0.1 and clf 1.0 pulled into the assets dir, m@prod pulled as 0.0."""
    for data, target in ((b"zero", "m"), (b"one", "m")):
        assert cli("push", str(make_tree({"a.txt": data})), target)[0] == 0
    assert cli("push", str(make_tree({"c.bin": b"c"})), "clf:1.0")[0] == 0
    assert cli("alias", "set", "m@prod", "0.0")[0] == 0
    for spec in ("m:0.1", "m@prod", "clf:1.0"):
        assert cli("pull", spec)[0] == 0
    return Path(local_env["ASSETSTORE_ASSETS_DIR"])


@pytest.mark.parametrize("switch", ["env", "flag"])
def test_offline_opens_no_connection(
    cli: Cli, cached: Path, counter: ConnectionCounter, monkeypatch: pytest.MonkeyPatch,
    switch: str,
) -> None:  # fmt: skip
    for name, value in {"ASSETSTORE_STORAGE_PROVIDER": "s3", "ASSETSTORE_STORAGE_BUCKET": "b",
                        "S3_ENDPOINT": counter.url, "AWS_ACCESS_KEY_ID": "k",
                        "AWS_SECRET_ACCESS_KEY": "s"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    flags = ["--offline"] if switch == "flag" else []
    if switch == "env":
        monkeypatch.setenv("ASSETSTORE_OFFLINE", "1")
    served = {
        "m": cached / "m/0.1", "m:0": cached / "m/0.1", "m@prod": cached / "m/0.0",
        "m@prod[a.txt]": cached / "m/0.0/a.txt", "clf": cached / "clf/1.0",
    }  # fmt: skip
    for spec, path in served.items():
        assert cli(*flags, "pull", spec) == (0, f"{path}\n", ""), spec
    assert cli(*flags, "versions", "m")[:2] == (0, "0.1\n0.0\n")
    assert cli(*flags, "list")[:2] == (0, "clf\nm\n")
    assert cli(*flags, "verify")[0] == 0
    code, _, err = cli(*flags, "pull", "m:0.7")
    assert code == 3 and "m:0.7 is not in the assets dir" in err and "offline" in err, err
    code, _, err = cli(*flags, "pull", "m@staging")
    assert code == 3 and "m@staging is not known to the assets dir" in err, err
    for command in (["push", str(cached / "m/0.1"), "m"], ["pull", "--force", "m:0.1"],
                    ["alias", "set", "m@prod", "0.1"], ["catalog", "sync"]):  # fmt: skip
        code, _, err = cli(*flags, *command)
        assert code == 6 and "offline" in err, (command, err)
    assert counter.accepted == 0
