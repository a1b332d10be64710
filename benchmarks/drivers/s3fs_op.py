"""Plain s3fs batch transfers — the floor of assetstore's own overhead.

    python s3fs_op.py push SRC BUCKET/PREFIX
    python s3fs_op.py pull BUCKET/PREFIX DEST

Endpoint and keys from S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY.
"""

import json
import os
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> None:
    t0 = time.perf_counter()
    import s3fs

    fs = s3fs.S3FileSystem(
        key=os.environ["AWS_ACCESS_KEY_ID"],
        secret=os.environ["AWS_SECRET_ACCESS_KEY"],
        client_kwargs={"endpoint_url": os.environ["S3_ENDPOINT"]},
        # botocore >= 1.36 validates whole-object CRCs that rclone also returns on ranged
        # GETs, which breaks s3fs's concurrent ranged download of a big file; we hash
        # with sha256 ourselves, so CRCs are only computed when the API requires them.
        config_kwargs={
            "signature_version": "s3v4",
            "response_checksum_validation": "when_required",
            "request_checksum_calculation": "when_required",
        },
        skip_instance_cache=True,
    )
    op, src, dst = argv
    if op == "push":
        if Path(src).is_dir():
            fs.put(src.rstrip("/") + "/", dst, recursive=True)  # the folder's contents
        else:
            fs.put_file(src, dst)
    elif fs.isdir(src):
        fs.get(src.rstrip("/") + "/", dst.rstrip("/") + "/", recursive=True)
    else:
        fs.get_file(src, dst)
    print(json.dumps({"seconds": time.perf_counter() - t0}))


if __name__ == "__main__":
    main(sys.argv[1:])
