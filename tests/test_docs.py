"""The docs say what the code does: every ``$ ...`` example of the pages below is run,
and what it prints must be what the page shows.

Two kinds of page. ``exit-codes.md`` lists independent examples: each runs on its own
copy of the demo the page describes (``/tmp/demo``: the quick start's ``local``
bucket and assets dir, pushed by ``alice@laptop``). The other pages are walkthroughs:
their examples run in order, in one demo that starts with the sources only, as a
reader following the page would run them. ``…`` and ``...`` in a page stand for any
text, and any ISO timestamp for any other.

An example that cannot run here (it needs a cloud, a full disk, a read-only image) is
listed in ``NOT_RUN`` with the reason; an example whose state the page only describes
in words gets it from ``SETUPS``. A key of either that no page holds any more fails the
test, so neither list outlives its example."""

from __future__ import annotations

import json
import os
import re
import shlex
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from assetstore import AssetStore, Version
from assetstore.cli import main

DOCS = Path(__file__).resolve().parents[1] / "docs"
INDEPENDENT = ("exit-codes.md",)
WALKTHROUGHS = (
    "cli.md",
    "concepts.md",
    "configuration.md",
    "deploying.md",
    "providers.md",
    "releasing.md",
)
Setup = Callable[[Path, pytest.MonkeyPatch], None]

# -- the sources and the demo -------------------------------------------------------------------
CONFIG_0_0 = '{"hidden": 512}\n'  # 16 B: models/bert:0.0 is 28 B
CONFIG_0_1 = '{"hidden": 1024}\n'  # 17 B: models/bert:0.1 is 29 B


def _sources(root: Path) -> None:
    """What the pages push: ./bert (config.json and vocab/en.txt), clf.bin, and the
    sources push refuses (./linky, ./empty)."""
    (root / "bert" / "vocab").mkdir(parents=True)
    (root / "bert" / "config.json").write_text(CONFIG_0_0)
    (root / "bert" / "vocab" / "en.txt").write_text("hello world\n")
    (root / "clf.bin").write_bytes(b"clf-v1")
    (root / "linky").mkdir()
    (root / "linky" / "a.txt").write_text("a")
    (root / "linky" / "b.txt").symlink_to("a.txt")
    (root / "empty").mkdir()


def _full_demo(root: Path) -> None:
    """exit-codes.md's demo: models/bert 0.0 and 0.1, models/clf 2.0 and a reserved
    2.2, t/tamper with a tampered object, and a cached bert 0.1 with a tampered file."""
    store = AssetStore.from_env()
    store.push(root / "bert", "models/bert")
    (root / "bert" / "config.json").write_text(CONFIG_0_1)
    store.push(root / "bert", "models/bert", metadata={"commit": "abc123"})
    store.push(root / "clf.bin", "models/clf:2.0")
    store.push(root / "clf.bin", "t/tamper")
    (root / "bucket" / "assets" / "t" / "tamper" / "0.0" / "clf.bin").write_bytes(b"bad")
    _reserve(store, "models/clf", Version(2, 2))
    store.get("models/bert:0.1")
    (root / "cache" / "models" / "bert" / "0.1" / "vocab" / "en.txt").write_text("HELLO WORLD\n")


def _reserve(store: AssetStore, name: str, version: Version) -> None:
    """``name:version`` reserved two hours ago by a push that is still running (this
    process, on another host's name and pid: it is never reclaimed as dead)."""
    from assetstore.repository.commit import reserve

    reserve(store.remote, name, version, "ci@build-7")
    path = Path(store.remote.reservation_path(name, version))
    record = json.loads(path.read_text())
    time.sleep(1 - time.time() % 1)  # on a whole second: the age shown is 7260, not 7261
    since = datetime.now(timezone.utc) - timedelta(seconds=7260)
    record.update(host="build-7", pid=4242, reserved_at=since.isoformat(timespec="seconds"))
    path.write_text(json.dumps(record))


# -- what differs from the demo for one example (the page says so in words) ------------------------
def _unset(*names: str) -> Setup:
    def setup(_demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in names:
            monkeypatch.delenv(name, raising=False)

    return setup


def _config_file_with_unset_variable(demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _unset("ASSETSTORE_STORAGE_PROVIDER", "ASSETSTORE_STORAGE_BUCKET")(demo, monkeypatch)
    (demo / "assetstore.yaml").write_text(
        "storage:\n  backends:\n    prod: {type: s3, bucket: '${env.ASSET_BUCKET}'}\n"
        "  stores:\n    assets: {backend: prod}\n"
    )


def _change_config(demo: Path, _: pytest.MonkeyPatch) -> None:
    (demo / "bert" / "config.json").write_text(CONFIG_0_1)


def _corrupt_cached_copies(demo: Path, _: pytest.MonkeyPatch) -> None:
    """0.0 cached with a file too many, 0.1 with a config.json of another size."""
    AssetStore.from_env().get("models/bert:0.0")
    (demo / "cache" / "models" / "bert" / "0.0" / "notes.txt").write_text("mine\n")
    (demo / "cache" / "models" / "bert" / "0.1" / "config.json").write_text("x" * 21 + "\n")


def _two_stores(demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A config file declaring the stores assets and prod; models/a 0.0 and 0.1 in
    assets."""
    config = demo / "stores" / "assetstore.yaml"
    config.parent.mkdir()
    config.write_text(
        "storage:\n  backends:\n"
        "    main: {type: local, path: ./main-bucket}\n"
        "    release: {type: local, path: ./prod-bucket}\n"
        "  stores:\n    assets: {backend: main}\n    prod: {backend: release}\n"
    )
    monkeypatch.setenv("ASSETSTORE_CONFIG", str(config))
    store = AssetStore.from_env({**os.environ, "ASSETSTORE_CONFIG": str(config)}, store="assets")
    store.push(demo / "clf.bin", "models/a")
    store.push(demo / "clf.bin", "models/a", force_new=True)


def _reserved_two_hours_ago(_demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSETSTORE_CONFIG", raising=False)
    _reserve(AssetStore.from_env(), "models/bert", Version(2, 0))


def _empty_catalog(demo: Path, _: pytest.MonkeyPatch) -> None:
    """The catalog's rows gone (as after pushes by a tool that does not write it)."""
    import sqlite3

    with sqlite3.connect(demo / "cache" / ".assetstore" / "catalog.db") as db:
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("DELETE FROM assetstore_assets")


def _manifest_removed(demo: Path, _: pytest.MonkeyPatch) -> None:
    (demo / "bucket" / "assets" / ".manifests" / "models" / "bert" / "0.0.json").unlink()


def _pre_downloaded(demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """/opt/assets: models/clf 2.3 and models/bert 1.2, pulled at build time."""
    store = AssetStore.from_env()
    store.push(demo / "clf.bin", "models/clf:2.3")
    store.push(demo / "bert", "models/bert:1.2")
    baked = store.with_assets_dir(demo / "opt-assets")
    baked.get("models/clf:2.3")
    baked.get("models/bert:1.2")
    _unset("ASSETSTORE_STORAGE_PROVIDER", "ASSETSTORE_STORAGE_BUCKET")(demo, monkeypatch)


def _config_file_stores(demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _unset("ASSETSTORE_STORAGE_PROVIDER", "ASSETSTORE_STORAGE_BUCKET", "AWS_ACCESS_KEY_ID",
           "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_KMS_KEY_ID",
           "ASSETSTORE_CATALOG_URL")(demo, monkeypatch)  # fmt: skip
    (demo / "assetstore.yaml").write_text(
        "storage:\n  backends:\n"
        "    prod: {type: local, path: ./prod-bucket}\n"
        "    catalog_db: {type: sql_sqlite, path: ./catalog.db}\n"
        "  stores:\n    prod: {backend: prod, prefix: releases}\n"
        "    catalog: {backend: catalog_db, table_prefix: assetstore_}\n"
    )


# (page, command line as the page writes it) -> why it is not run here
NOT_RUN: dict[tuple[str, str], str] = {
    ("exit-codes.md", "assetstore list                    # S3 with no credentials anywhere"): (
        "needs S3: tests/reliability/test_secrets.py"
    ),
    ("exit-codes.md", "assetstore list                    # the bucket does not exist"): (
        "needs S3: tests/reliability/test_misleading_errors.py"
    ),
    ("exit-codes.md", "assetstore list                    # S3_ENDPOINT is a web server, not S3"): (
        "needs S3: tests/reliability/test_misleading_errors.py"
    ),
    ("exit-codes.md", "assetstore list                    # endpoint unreachable (after a few "
     "seconds of retries)"): "needs S3: tests/reliability/test_network_faults.py",
    ("exit-codes.md", "assetstore catalog history         # the catalog database is down"): (
        "needs PostgreSQL: tests/test_catalog_postgres.py"
    ),
    ("exit-codes.md", "assetstore --assets-dir /opt/image/assets prune       # a read-only "
     "image"): "needs a read-only filesystem: tests/reliability/test_disk_full.py",
    ("exit-codes.md", "assetstore pull models/big:1.0                       # the disk filled "
     "up"): "needs a full disk: tests/reliability/test_disk_full.py",
    ("cli.md", "assetstore url models/big --expires 600                # on S3"): "needs S3",
    ("cli.md", "assetstore url models/big --expires 0"): "needs S3",
    ("cli.md", "assetstore config check          # S3, bucket missing"): (
        "needs S3: tests/backends/test_failures.py"
    ),
    ("cli.md", "assetstore catalog upgrade"): (
        "needs a catalog of an older schema: tests/test_catalog_schema.py"
    ),
    ("concepts.md", "assetstore pull models/bert      # with the backend down"): (
        "needs an unreachable object store: tests/reliability/test_network_faults.py"
    ),
    ("providers.md", "assetstore list"): "needs S3 and Azure",
    ("providers.md", "assetstore push model.bin models/clf"): "needs S3 with an IAM policy",
}  # fmt: skip


def _training_data(demo: Path, _: pytest.MonkeyPatch) -> None:
    files = {
        "train.csv": b"a,b\n1,2\n", "run.log": b"epoch 1\n", "scratch.tmp": b"tmp",
        "checkpoints/epoch1.pt": b"e1", "checkpoints/final.pt": b"final",
        ".assetstoreignore": b"# scratch output of the training run\n*.log\ncheckpoints/*\n"
                             b"!checkpoints/final.pt\n",
    }  # fmt: skip
    for relpath, data in files.items():
        (demo / "data" / relpath).parent.mkdir(parents=True, exist_ok=True)
        (demo / "data" / relpath).write_bytes(data)


SETUPS: dict[tuple[str, str], Setup] = {
    ("cli.md", "cat ./data/.assetstoreignore"): _training_data,
    ("exit-codes.md", "ASSETSTORE_STORAGE_PROVIDER=local assetstore list"): _unset(
        "ASSETSTORE_STORAGE_BUCKET"
    ),
    ("exit-codes.md", "assetstore list                    # ./assetstore.yaml uses "
     "${env.ASSET_BUCKET}"): _config_file_with_unset_variable,
    ("exit-codes.md", "assetstore pull models/bert        # no provider set: pre-downloaded "
     "mode"): _unset("ASSETSTORE_STORAGE_PROVIDER", "ASSETSTORE_ASSETS_DIR"),
    ("exit-codes.md", "assetstore --assets-dir ./image-assets verify   # an empty folder"): (
        lambda demo, _: (demo / "image-assets").mkdir()
    ),
    ("exit-codes.md", "assetstore alias rollback models/clf@prod      # set once: nothing to "
     "roll back to"): lambda _demo, _: AssetStore.from_env().aliases.set("models/clf@prod", "2.0"),
    ("exit-codes.md", "assetstore delete models/clf:2.0         # models/clf@prod points at "
     "it"): lambda _demo, _: AssetStore.from_env().aliases.set("models/clf@prod", "2.0"),
    ("exit-codes.md", "assetstore push clf.bin x          # no provider set"): _unset(
        "ASSETSTORE_STORAGE_PROVIDER", "ASSETSTORE_STORAGE_BUCKET", "ASSETSTORE_ASSETS_DIR"
    ),
    ("cli.md", "assetstore push ./bert models/bert --dry-run          # after an edit of "
     "config.json"): _change_config,
    ("cli.md", "assetstore verify"): _corrupt_cached_copies,
    ("cli.md", "assetstore copy models/a --from assets --to prod --json"): _two_stores,
    ("cli.md", "assetstore repair --older-than 3600 --json"): _reserved_two_hours_ago,
    ("cli.md", "assetstore push ./bert models/bert:2.0"): _reserved_two_hours_ago,
    ("cli.md", "assetstore catalog sync"): _empty_catalog,
    ("cli.md", "assetstore catalog sync          # after 0.0's manifest was removed from the "
     "bucket"): _manifest_removed,
    ("configuration.md", "ASSETSTORE_STORAGE_PROVDER=local ASSETSTORE_STORAGE_BUCKET=./bucket "
     "assetstore pull models/bert"): _unset("ASSETSTORE_STORAGE_PROVIDER", "ASSETSTORE_ASSETS_DIR"),
    ("configuration.md", "assetstore --store prod config show"): _config_file_stores,
    ("deploying.md", "export ASSETSTORE_ASSETS_DIR=/opt/assets"): _pre_downloaded,
    ("releasing.md", "cat assets.txt"): lambda demo, _: (demo / "assets.txt").write_text(
        "models/bert@staging        # the model, as staging runs it\n"
        "models/bert@staging[vocab/en.txt]\n"
    ),
    ("releasing.md", "assetstore push ./bert models/bert                 # after an edit of "
     "config.json"): _change_config,
}  # fmt: skip


# -- the examples ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Example:
    page: str
    line: int
    command: str
    expected: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return self.page, self.command


def examples(page: str) -> Iterator[Example]:
    """The ``$ `` lines of the page's code blocks, each with the lines that follow it
    (up to the next command or the block's end)."""
    in_block, current = False, None
    for number, line in enumerate((DOCS / page).read_text().splitlines(), 1):
        if line.startswith("```"):
            in_block = not in_block
            if current is not None:
                yield current
            current = None
            continue
        if not in_block:
            continue
        if line.startswith("$ "):
            if current is not None:
                yield current
            current = Example(page, number, line[2:])
        elif current is not None:
            current.expected.append(line)


_ANY_TIMESTAMP = r"\d{4}-\d\d-\d\d(?:T\d\d:\d\d:\d\d(?:\.\d+)?\+00:00)?"  # or a date
_WILD = re.compile(rf"(…|\.\.\.|{_ANY_TIMESTAMP})")


def _pattern(expected: list[str]) -> re.Pattern[str]:
    parts = _WILD.split("\n".join(expected).strip())
    regex = "".join(
        re.escape(part) if i % 2 == 0 else ".*?" if part in ("…", "...") else _ANY_TIMESTAMP
        for i, part in enumerate(parts)
    )
    return re.compile(regex, re.DOTALL)


class Shell:
    """Just enough of a shell for the pages: ``NAME=value`` prefixes, ``export``,
    ``echo $?``, ``cat "$(assetstore ...)"``, and the paths the pages show mapped to the
    test's own folders."""

    def __init__(
        self, demo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        self.paths = {  # as shown -> where it is here; the longest real path first below
            "/opt/assets": str(demo / "opt-assets"),
            "/home/me": str(demo.parent / "home" / "me"),
            "/tmp/demo": str(demo),
        }
        self.monkeypatch, self.capsys = monkeypatch, capsys
        self.status = 0

    def run(self, command: str) -> str:
        if command == "echo $?":
            return str(self.status)
        words = shlex.split(self._real(command), comments=True)
        if words[0] == "export":
            for word in words[1:]:
                name, _, value = word.partition("=")
                self.monkeypatch.setenv(name, value)
            return ""
        if words[0] == "unset":
            for name in words[1:]:
                self.monkeypatch.delenv(name, raising=False)
            return ""
        if words[0] == "cat" and command.startswith('cat "$(') and command.endswith(')"'):
            path = self.run(command[len('cat "$(') : -len(')"')]).strip()
            return Path(self._real(path)).read_text()
        if words[0] == "cat":
            return Path(words[1]).read_text()
        return self._shown(self._assetstore(words))

    def _assetstore(self, words: list[str]) -> str:
        env = {}
        while "=" in words[0]:
            name, _, value = words.pop(0).partition("=")
            env[name] = value
        assert words.pop(0) == "assetstore", words
        saved = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        try:
            self.status = main(words)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        out, err = self.capsys.readouterr()
        return out + err

    def _real(self, text: str) -> str:
        for shown, real in self.paths.items():
            text = text.replace(shown, real)
        return text

    def _shown(self, text: str) -> str:
        for shown, real in sorted(self.paths.items(), key=lambda p: -len(p[1])):
            text = text.replace(real, shown)
        return text


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The sources, in ``tmp_path/demo`` (shown as /tmp/demo), with the quick start's
    environment; ``tmp_path/home/me`` is the home folder (shown as /home/me)."""
    root, home = tmp_path / "demo", tmp_path / "home" / "me"
    root.mkdir()
    home.mkdir(parents=True)
    for key in [k for k in os.environ if k.startswith(("ASSETSTORE_", "AWS_", "AZURE_"))]:
        monkeypatch.delenv(key)
    env = {
        "ASSETSTORE_STORAGE_PROVIDER": "local", "ASSETSTORE_STORAGE_BUCKET": f"{root}/bucket",
        "ASSETSTORE_ASSETS_DIR": f"{root}/cache", "ASSETSTORE_PUSHED_BY": "alice@laptop",
        "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"),
    }  # fmt: skip
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(root)
    _sources(root)
    return root


def _check(example: Example, shell: Shell, demo: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run one example; what went wrong, or ""."""
    if example.key in SETUPS:
        SETUPS[example.key](demo, monkeypatch)
    printed = shell.run(example.command)
    if _pattern(example.expected).fullmatch(printed.strip()):
        return ""
    shows = "\n".join(example.expected)
    where = f"{example.page}:{example.line}: $ {example.command}"
    return f"{where}\nthe page shows:\n{shows}\nit prints:\n{printed}"


def _independent() -> list[Example]:
    return [e for page in INDEPENDENT for e in examples(page)]


@pytest.mark.parametrize("example", _independent(), ids=lambda e: f"{e.page}:{e.line}")
def test_a_documented_example_prints_what_the_page_shows(
    example: Example,
    demo: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if example.key in NOT_RUN:
        pytest.skip(NOT_RUN[example.key])
    _full_demo(demo)
    wrong = _check(example, Shell(demo, monkeypatch, capsys), demo, monkeypatch)
    assert not wrong, wrong


@pytest.mark.parametrize("page", WALKTHROUGHS)
def test_a_walkthrough_prints_what_its_page_shows(
    page: str, demo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shell = Shell(demo, monkeypatch, capsys)
    wrong = [_check(e, shell, demo, monkeypatch) for e in examples(page) if e.key not in NOT_RUN]
    assert not any(wrong), "\n\n".join(filter(None, wrong))


def test_every_example_not_run_or_set_up_is_still_in_the_docs() -> None:
    keys = {e.key for page in (*INDEPENDENT, *WALKTHROUGHS) for e in examples(page)}
    assert [k for k in [*NOT_RUN, *SETUPS] if k not in keys] == []


def test_the_examples_are_found() -> None:
    found = [e for page in (*INDEPENDENT, *WALKTHROUGHS) for e in examples(page)]
    assert len(found) >= 80
    assert sum(e.key in NOT_RUN for e in found) <= len(found) // 5  # most of them run
