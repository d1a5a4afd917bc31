#!/usr/bin/env bash
# Demo benchmark (issue 14): how long `huanxin demo` takes to build the county in full swing on
# a fresh data folder, on SQLite (the default) and on PostgreSQL, with the API calls per second it
# made; next to it the raw engine's hash-chained inserts per second on the same machine in the
# same run, and the ratio (calls/s ÷ raw inserts/s), the figure that travels between machines.
#
#   bench/demo.sh                   # both engines
#   ENGINES=sqlite bench/demo.sh    # one of them (sqlite or postgres)
#
# Needs: psql and a PostgreSQL on 127.0.0.1:5432 (trust), curl.
set -euo pipefail
cd "$(dirname "$0")/.."
PG=${HUANXIN_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
WORK=${HUANXIN_BENCH_DIR:-/tmp/huanxin-bench-demo}
PORT=18083
ENGINES=${ENGINES:-sqlite postgres}
scripts/build-web >/dev/null
cargo build --locked --release -p huanxin -p huanxin-bench 2>&1 | tail -n 1
BIN=target/release/huanxin
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(uname -r); $(date -u +%Y-%m-%dT%H:%MZ)"

run() { # engine
  rm -rf "$WORK" && mkdir -p "$WORK/data"
  export HUANXIN_DATA_DIR="$WORK/data" HUANXIN_BIND=127.0.0.1:$PORT HUANXIN_LOG=warn
  local raw_url
  if [ "$1" = postgres ]; then
    psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS hx_bench_demo WITH (FORCE)" -c "CREATE DATABASE hx_bench_demo" >/dev/null
    export HUANXIN_DATABASE_URL="$PG/hx_bench_demo"
    raw_url="$PG/hx_bench_demo"
  else
    unset HUANXIN_DATABASE_URL
    raw_url="sqlite:$WORK/raw-chain.db"
  fi
  local raw
  raw=$(target/release/huanxin-bench raw-chain "$raw_url" 3000)
  echo "== $1"
  echo "  raw engine: $raw hash-chained inserts/s, one transaction each"
  if [ "$1" = postgres ]; then psql "$PG/postgres" -qc "DROP DATABASE hx_bench_demo WITH (FORCE)" -c "CREATE DATABASE hx_bench_demo" >/dev/null; fi
  local start end
  start=$(date +%s.%N)
  $BIN demo >"$WORK/server.log" 2>"$WORK/progress.log" &
  local pid=$!
  trap "kill $pid 2>/dev/null || true" EXIT
  for _ in $(seq 1 600); do
    grep -q "demo data created" "$WORK/server.log" 2>/dev/null && break
    kill -0 $pid 2>/dev/null || { tail -c 2000 "$WORK/progress.log"; exit 1; }
    sleep 0.2
  done
  end=$(date +%s.%N)
  kill $pid; wait $pid 2>/dev/null || true
  local line calls seconds
  line=$(grep "demo data created" "$WORK/server.log")
  calls=$(echo "$line" | sed -E 's/.*\(([0-9]+) calls.*/\1/')
  seconds=$(python3 -c "print(f'{$end - $start:.1f}')")
  echo "  $line"
  echo "  built in $seconds s (process start to the last record, target < 60 s)"
  python3 -c "c=$calls; s=$seconds; r=$raw; print(f'  {c/s:.0f} API calls/s; ratio to the raw engine {c/s/r:.2f}')"
  $BIN verify-ledger | tail -n 1
  $BIN verify-ballots | grep -c intact | sed 's/^/  ballot chains intact: /'
}
for e in $ENGINES; do run "$e"; done
