#!/usr/bin/env bash
# Correlation, value lookup and full-text search benchmark. See docs/PERFORMANCE.md.
#
#   bash bench/search.sh                                   # 1,000,000 objects on SQLite
#   bash bench/search.sh --objects 20000 --out /tmp/s.md   # quick
#   bash bench/search.sh --objects 100000 --engine postgres
#
# Environment: CARGO_TARGET_DIR, CAIRN_BENCH_VENV, CAIRN_BENCH_CACHE, CAIRN_BENCH_POSTGRES and
# CAIRN_BENCH_NO_BUILD=1, as for bench/run.sh. Only `requests` is needed in the virtualenv.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${CAIRN_BENCH_VENV:-$HOME/.cache/cairn-bench-venv}"
log() { printf 'bench: %s\n' "$*" >&2; }

TARGET_DIR="${CARGO_TARGET_DIR:-target}"
[[ "$TARGET_DIR" = /* ]] || TARGET_DIR="$ROOT/$TARGET_DIR"
if [[ "${CAIRN_BENCH_NO_BUILD:-}" != 1 ]]; then
    log "building cairn (cargo build --release -p cairn-cli, target dir $TARGET_DIR)"
    CARGO_TARGET_DIR="$TARGET_DIR" cargo build --release --quiet -p cairn-cli
fi
BIN="$TARGET_DIR/release/cairn"
[[ -x "$BIN" ]] || { log "no binary at $BIN"; exit 1; }

if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating virtualenv $VENV"
    python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
"$PY" -c 'import requests' 2>/dev/null ||
    "$PY" -m pip install --quiet --disable-pip-version-check "$(grep '^requests==' bench/requirements.txt)"

log "nproc $(nproc); load average $(cut -d' ' -f1-3 /proc/loadavg)"
exec "$PY" "$ROOT/bench/search_bench.py" --cairn-bin "$BIN" --command-line "bash bench/search.sh $*" "$@"
