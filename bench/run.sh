#!/usr/bin/env bash
# TAXII 2.1 benchmark: Cairn on SQLite and PostgreSQL against medallion, plus Cairn's raw store
# rate (cairn import / export). See docs/PERFORMANCE.md.
#
#   bash bench/run.sh                                    # 100,000 objects, all three targets
#   bash bench/run.sh --objects 20000 --out /tmp/b.md    # quick
#   bash bench/run.sh --objects 1000000 --targets cairn-sqlite --phase-budget 900
#
# Environment:
#   CARGO_TARGET_DIR     where cargo builds (default target/); the binary is $CARGO_TARGET_DIR/release/cairn
#   CAIRN_BENCH_VENV     the virtualenv with requests and medallion (default ~/.cache/cairn-bench-venv)
#   CAIRN_BENCH_CACHE    where generated datasets are kept (default ~/.cache/cairn-bench-data)
#   CAIRN_BENCH_POSTGRES PostgreSQL server URL without a database (default postgres://postgres@127.0.0.1:5432);
#                        the benchmark creates a fresh database per run and drops it
#   CAIRN_BENCH_NO_BUILD=1  skip the cargo build (use the binary already there)
#
# Every server it starts listens on 127.0.0.1 only and is stopped on exit. (Cairn refuses unknown
# CAIRN_* variables; the benchmark removes its CAIRN_BENCH_* ones before starting cairn.)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${CAIRN_BENCH_VENV:-$HOME/.cache/cairn-bench-venv}"
REQS="$ROOT/bench/requirements.txt"
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
STAMP="$VENV/.cairn-bench-requirements"
if ! cmp -s "$REQS" "$STAMP"; then
    log "installing requests and medallion into $VENV"
    "$PY" -m pip install --quiet --disable-pip-version-check --upgrade pip || true
    # requests is required; medallion is one target among three: if it cannot be installed the
    # benchmark reports that target as failed and measures the others.
    "$PY" -m pip install --quiet --disable-pip-version-check "$(grep '^requests==' "$REQS")"
    if "$PY" -m pip install --quiet --disable-pip-version-check -r "$REQS"; then
        cp "$REQS" "$STAMP"
    else
        log "warning: could not install medallion; its target will be reported as failed"
    fi
fi

log "nproc $(nproc); load average $(cut -d' ' -f1-3 /proc/loadavg)"
exec "$PY" "$ROOT/bench/taxii_bench.py" --cairn-bin "$BIN" --medallion "$VENV/bin/medallion" \
    --command-line "bash bench/run.sh $*" "$@"
