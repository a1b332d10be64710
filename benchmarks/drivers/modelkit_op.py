"""modelkit 0.1.3 (StorageProvider / AssetsManager) on the same workloads; runs in its
own virtualenv. Configured by modelkit's own env variables (MODELKIT_STORAGE_PROVIDER,
MODELKIT_STORAGE_BUCKET, MODELKIT_STORAGE_PREFIX, S3_ENDPOINT, AWS_*,
MODELKIT_ASSETS_DIR).

    python modelkit_op.py push SRC NAME      # StorageProvider().new(SRC, NAME, "0.0")
    python modelkit_op.py pull NAME:0.0      # AssetsManager().fetch_asset (cold)
"""

import json
import logging
import sys
import time


def main(argv: list[str]) -> None:
    t0 = time.perf_counter()
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    from modelkit.assets.manager import AssetsManager
    from modelkit.assets.remote import StorageProvider

    op = argv[0]
    if op == "push":
        StorageProvider().new(argv[1], argv[2], "0.0")
        out = {}
    else:
        out = {"path": AssetsManager().fetch_asset(argv[1])}
    out["seconds"] = time.perf_counter() - t0
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
