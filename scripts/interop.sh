#!/usr/bin/env bash
# Interoperability suite: third-party TAXII 2.1 / STIX 2.1 clients (taxii2-client, stix2,
# stix2-validator, stix2-generator) against a freshly started `cairn demo`.
#
#   bash scripts/interop.sh [pytest args...]
#
# Environment:
#   CAIRN_INTEROP_VENV    the virtualenv to (re)use   (default ~/.cache/cairn-interop-venv)
#   CARGO_TARGET_DIR      where cargo builds           (default target/)
#   CAIRN_INTEROP_TARGET  cairn (default) or medallion: run the generic TAXII tests against the
#                         OASIS reference server instead, to debug the suite itself
#
# Exits with pytest's status; "no tests ran" (pytest's 5) counts as a failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${CAIRN_INTEROP_VENV:-$HOME/.cache/cairn-interop-venv}"
TARGET="${CAIRN_INTEROP_TARGET:-cairn}"
REQS="$ROOT/interop/requirements.txt"

log() { printf 'interop: %s\n' "$*" >&2; }

# --- Python environment ----------------------------------------------------------------------
if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating virtualenv $VENV"
    python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
# Reinstall only when the pinned requirements changed.
STAMP="$VENV/.cairn-interop-requirements"
if ! cmp -s "$REQS" "$STAMP"; then
    log "installing pinned packages into $VENV"
    "$PY" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$PY" -m pip install --quiet --disable-pip-version-check -r "$REQS"
    cp "$REQS" "$STAMP"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/cairn-interop.XXXXXX")"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
URL="http://127.0.0.1:$PORT"

# wait_ready URL [CREDENTIALS_FILE [USER:PASSWORD]]: the URL answers 200 (and the credentials
# file exists) within 60 s, while the server is still running.
wait_ready() {
    local probe="$1" creds="${2:-}" auth="${3:-}"
    for _ in $(seq 1 120); do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            log "the server exited before it was ready; its log:"
            cat "$WORK/server.log" >&2
            return 1
        fi
        if "$PY" - "$probe" "$auth" <<'EOF' 2>/dev/null && [[ -z "$creds" || -s "$creds" ]]; then
import base64, sys, urllib.request
url, auth = sys.argv[1], sys.argv[2]
headers = {}
if auth:  # a TAXII endpoint: it wants the TAXII Accept header too
    headers["Accept"] = "application/taxii+json;version=2.1"
    headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
sys.exit(0 if urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=2).status == 200 else 1)
EOF
            return 0
        fi
        sleep 0.5
    done
    log "the server was not ready after 60 s; its log:"
    cat "$WORK/server.log" >&2
    return 1
}

if [[ "$TARGET" == "medallion" ]]; then
    log "starting medallion on $URL"
    "$VENV/bin/medallion" --host 127.0.0.1 --port "$PORT" --log-level WARN interop/medallion_conf.json \
        >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    # medallion's discovery needs credentials: probe with nils' password from its config.
    wait_ready "$URL/taxii2/" "" "nils.analyst:nils-pass"
    export CAIRN_INTEROP_TARGET=medallion CAIRN_URL="$URL"
else
    log "building cairn (cargo build --release)"
    cargo build --release --quiet
    TARGET_DIR="${CARGO_TARGET_DIR:-target}"
    [[ "$TARGET_DIR" = /* ]] || TARGET_DIR="$ROOT/$TARGET_DIR"
    BIN="$TARGET_DIR/release/cairn"
    [[ -x "$BIN" ]] || { log "no binary at $BIN"; exit 1; }
    log "starting cairn demo on $URL (data in $WORK/data)"
    "$BIN" demo --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    wait_ready "$URL/readyz" "$WORK/data/demo-credentials.json"
    export CAIRN_INTEROP_TARGET=cairn CAIRN_URL="$URL" CAIRN_CREDENTIALS="$WORK/data/demo-credentials.json"
fi

log "running pytest against $TARGET"
set +e
"$PY" -m pytest -q -p no:cacheprovider --junitxml="$WORK/junit.xml" interop/ "$@"
STATUS=$?
set -e
# One closing line whatever the verbosity: "interop: N passed, N failed[, N skipped]"
# (errors count as failures).
if [[ -s "$WORK/junit.xml" ]]; then
    "$PY" - "$WORK/junit.xml" <<'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
total = sum(int(s.get("tests", 0)) for s in suites)
failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
line = f"interop: {total - failed - skipped} passed, {failed} failed"
print(line + (f", {skipped} skipped" if skipped else ""))
EOF
fi
if [[ $STATUS -eq 5 ]]; then
    log "pytest collected no tests: failing"
    STATUS=1
fi
if [[ $STATUS -ne 0 ]]; then
    log "server log (last 40 lines):"
    # (the demo prints its users' tokens at start: mask them)
    tail -n 40 "$WORK/server.log" | sed 's/cairn_[0-9a-f]\{16,\}/cairn_<token>/g' >&2 || true
fi
exit $STATUS
