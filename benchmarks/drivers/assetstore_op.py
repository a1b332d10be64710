"""assetstore side of a benchmark step, run as its own process (configured by env).

    python assetstore_op.py push SRC NAME     # AssetStore.from_env().push
    python assetstore_op.py pull SPEC         # AssetStore.from_env().get (cold cache)
    python assetstore_op.py getloop SPEC N    # W4a: warm in-process get() latency

The last line printed is JSON: in-process seconds (and per-call latencies for getloop).
"""

import json
import sys
import time
from types import ModuleType


def main(argv: list[str]) -> None:
    t0 = time.perf_counter()
    import assetstore

    op = argv[0]
    out: dict[str, object]
    if op == "push":
        manifest = assetstore.AssetStore.from_env().push(argv[1], argv[2])
        out = {"spec": manifest.spec}
    elif op == "pull":
        out = {"path": str(assetstore.AssetStore.from_env().get(argv[1]))}
    elif op == "getloop":
        out = _getloop(assetstore, argv[1], int(argv[2]))
    else:
        raise SystemExit(f"unknown op {op}")
    out["seconds"] = time.perf_counter() - t0
    print(json.dumps(out))


def _getloop(assetstore: ModuleType, spec: str, n: int) -> dict[str, object]:
    """Both ways a service calls it: the module function (settings read each call) and
    a long-lived store's method."""
    store = assetstore.AssetStore.from_env()
    store.get(spec)
    assetstore.get(spec)  # warm-up
    module_fn, method = [], []
    for _ in range(n):
        t = time.perf_counter()
        assetstore.get(spec)
        module_fn.append(time.perf_counter() - t)
        t = time.perf_counter()
        store.get(spec)
        method.append(time.perf_counter() - t)
    return {"module_get": module_fn, "store_get": method}


if __name__ == "__main__":
    main(sys.argv[1:])
