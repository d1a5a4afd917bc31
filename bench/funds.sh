#!/usr/bin/env bash
# Funds benchmark (issue: funds): a ledger of 10 million hash-chained entries (20,000 projects in
# 100 counties, about 500 payments each), then against the release server: a project's balances by
# source, a county's report for a year, and 32 clients paying against one allocation until it is
# spent (never overspent); then `huanxin verify-ledger` walks the whole chain. On SQLite and on
# PostgreSQL.
#
#   bench/funds.sh                 # ENTRIES=200000 bench/funds.sh for a quick look; PAYMENTS=2000 (the default) payments of 10,000 yuan
#
# Needs: psql and a PostgreSQL on 127.0.0.1:5432 (trust), curl.
set -euo pipefail
cd "$(dirname "$0")/.."
PG=${HUANXIN_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
WORK=${HUANXIN_BENCH_DIR:-/tmp/huanxin-bench-funds}
ENTRIES=${ENTRIES:-10000000}
PORT=18083
for tool in psql curl; do
  command -v $tool >/dev/null || { echo "missing $tool (apt-get install -y postgresql-client curl)"; exit 1; }
done
scripts/build-web >/dev/null
cargo build --locked --release -p huanxin -p huanxin-bench 2>&1 | tail -n 1
BIN=target/release/huanxin
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(uname -r); $(date -u +%Y-%m-%dT%H:%MZ); $ENTRIES entries"
rm -rf "$WORK" && mkdir -p "$WORK/data"
target/release/huanxin-bench gen "$WORK/data" 1 20 >/dev/null

run() { # engine database-url
  if curl -sf "http://127.0.0.1:$PORT/api/v1/health" >/dev/null; then echo "port $PORT is taken: stop what runs there"; exit 1; fi
  export HUANXIN_LOG=warn
  $BIN migrate >/dev/null
  $BIN import estates "$WORK/data/estates.csv" >/dev/null
  echo "$1:"
  # The raw engine's rate for the plain equivalent, on this machine in this run (see bench/src/raw.rs).
  local raw_url
  if [ "$1" = sqlite ]; then raw_url="sqlite:$HUANXIN_DATA_DIR/raw-chain.db"; else raw_url="$HUANXIN_DATABASE_URL"; fi
  HUANXIN_BENCH_RAW_RATE=$(target/release/huanxin-bench raw-chain "$raw_url" 3000)
  export HUANXIN_BENCH_RAW_RATE
  echo "  raw engine: $HUANXIN_BENCH_RAW_RATE hash-chained inserts/s, one transaction each"
  target/release/huanxin-bench ledger "$2" "$ENTRIES"
  HUANXIN_NEW_PASSWORD=bench-password $BIN user add bench_funds --role ministry_admin --region 000000000000 >/dev/null
  HUANXIN_NEW_PASSWORD=bench-password $BIN user add bench_funds_approver --role ministry_staff --region 000000000000 >/dev/null
  HUANXIN_BIND=127.0.0.1:$PORT $BIN serve >"$WORK/server.log" 2>&1 &
  local pid=$!
  trap "kill $pid 2>/dev/null || true" EXIT
  for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$PORT/api/v1/health" >/dev/null && break; sleep 0.5; done
  target/release/huanxin-bench funds "http://127.0.0.1:$PORT" bench_funds bench-password
  kill $pid; wait $pid 2>/dev/null || true
  trap - EXIT
  echo "  verify: $($BIN verify-ledger)"
  echo "  verify again (warm): $($BIN verify-ledger)"
}

export HUANXIN_DATA_DIR="$WORK/sqlite"
unset HUANXIN_DATABASE_URL DATABASE_URL
run sqlite "$WORK/sqlite/huanxin.db"
psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS huanxin_bench_funds" -c "CREATE DATABASE huanxin_bench_funds" >/dev/null 2>&1
export HUANXIN_DATA_DIR="$WORK/pg"
export HUANXIN_DATABASE_URL="$PG/huanxin_bench_funds"
run postgres "$HUANXIN_DATABASE_URL"
unset HUANXIN_DATABASE_URL
