#!/usr/bin/env bash
# The main job on the embedded default: a `local` backend (a folder as the remote) and
# the SQLite catalog, no cloud account. Pushes a file and a directory, lists, pulls,
# verifies, then serves the pulled copy in pre-downloaded (read-only) mode.
set -euo pipefail
REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
DEMO=${DEMO_DIR:-$REPO/demo}
rm -rf "$DEMO" && mkdir -p "$DEMO/src/bert/vocab"
export ASSETSTORE_STORAGE_PROVIDER=local
export ASSETSTORE_STORAGE_BUCKET="$DEMO/bucket"
export ASSETSTORE_ASSETS_DIR="$DEMO/cache"
run() { printf '$ %s\n' "$*" >&2; "$@"; }

printf 'hello\nworld\n' >"$DEMO/src/bert/vocab/en.txt"
head -c 1048576 /dev/urandom >"$DEMO/src/bert/weights.bin"
printf '{"labels": ["cat", "dog"]}\n' >"$DEMO/src/labels.json"

run assetstore push "$DEMO/src/bert" models/bert --meta source=quickstart
run assetstore push "$DEMO/src/labels.json" configs/labels
printf 'hello\nmonde\n' >"$DEMO/src/bert/vocab/en.txt"
run assetstore push "$DEMO/src/bert" models/bert          # 0.1: weights copied, not re-sent
run assetstore list
run assetstore versions models/bert
run assetstore info models/bert
run cat "$(assetstore pull 'models/bert:0.0[vocab/en.txt]')"
run assetstore pull models/bert --to "$DEMO/deploy"
run assetstore pull configs/labels --to "$DEMO/deploy"
run assetstore push "$DEMO/src/bert" models/bert          # unchanged: no new version
run assetstore export models/bert "$DEMO/export"           # a plain tree, verified
run assetstore cache rm models/bert:0.0
run assetstore pull models/bert:0.0 --include 'vocab/*'    # a partial version
run assetstore cache ls
run assetstore verify
run assetstore catalog history

echo "--- pre-downloaded mode: no provider, read-only assets dir" >&2
chmod -R a-w "$DEMO/deploy"
run env -u ASSETSTORE_STORAGE_PROVIDER -u ASSETSTORE_STORAGE_BUCKET \
  ASSETSTORE_ASSETS_DIR="$DEMO/deploy" python -c \
  "import assetstore; print(assetstore.get('models/bert[vocab/en.txt]').read_text(), end='')"
chmod -R u+w "$DEMO/deploy"
echo "quickstart: ok (everything is under $DEMO)" >&2
