#!/usr/bin/env bash
# Requests benchmark (issue 16, part 7): the classifier's rate; then a province (Fujian, 20,000
# estates) with one million historical requests, against the release server: the province's hot
# spots at 16 clients and a 10,000-row 12345 hotline import, each beside the raw engine's rate for
# the nearest plain equivalent in the same run. On SQLite and on PostgreSQL.
#
#   bench/requests.sh              # REQUESTS=100000 ESTATES=5000 bench/requests.sh for a quick look
#
# Needs: psql and a PostgreSQL on 127.0.0.1:5432 (trust), curl.
set -euo pipefail
cd "$(dirname "$0")/.."
PG=${HUANXIN_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
WORK=${HUANXIN_BENCH_DIR:-/tmp/huanxin-bench-requests}
ESTATES=${ESTATES:-20000}
REQUESTS=${REQUESTS:-1000000}
PORT=18085
for tool in psql curl; do
  command -v $tool >/dev/null || { echo "missing $tool (apt-get install -y postgresql-client curl)"; exit 1; }
done
# SKIP_BUILD=1 runs the release binaries already built.
if [ -z "${SKIP_BUILD:-}" ]; then
  scripts/build-web >/dev/null
  cargo build --locked --release -p huanxin -p huanxin-bench 2>&1 | tail -n 1
fi
BIN=target/release/huanxin
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(uname -r); $(date -u +%Y-%m-%dT%H:%MZ); $ESTATES estates in Fujian, $REQUESTS requests"
echo "classifier:"
target/release/huanxin-bench classify 100000 | sed 's/^/  /' | grep -E "held-out|texts on"
rm -rf "$WORK" && mkdir -p "$WORK/data"
target/release/huanxin-bench gen "$WORK/data" "$ESTATES" 1 35 >/dev/null

run() { # engine database-url
  if curl -sf "http://127.0.0.1:$PORT/api/v1/health" >/dev/null; then echo "port $PORT is taken: stop what runs there"; exit 1; fi
  export HUANXIN_LOG=warn
  echo "$1:"
  $BIN migrate >/dev/null
  $BIN import estates "$WORK/data/estates.csv" >/dev/null
  local county; county=$(target/release/huanxin-bench requests-seed "$2" "$REQUESTS" | tail -n 1)
  HUANXIN_NEW_PASSWORD=bench-password $BIN user add bench_province --role province_admin --region 350000000000 >/dev/null
  HUANXIN_NEW_PASSWORD=bench-password $BIN user add bench_county --role county_staff --region "$county" >/dev/null
  HUANXIN_BIND=127.0.0.1:$PORT $BIN serve >"$WORK/server.log" 2>&1 &
  local pid=$!
  trap "kill $pid 2>/dev/null || true" EXIT
  for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$PORT/api/v1/health" >/dev/null && break; sleep 0.5; done
  target/release/huanxin-bench requests "http://127.0.0.1:$PORT" "$2" bench_province bench_county bench-password
  echo "  server memory: $(awk '/VmHWM/ {printf "peak %d MB", $2/1024}' /proc/$pid/status)"
  kill $pid; wait $pid 2>/dev/null || true
  trap - EXIT
}

export HUANXIN_DATA_DIR="$WORK/sqlite"
unset HUANXIN_DATABASE_URL DATABASE_URL
run sqlite "$WORK/sqlite/huanxin.db"
psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS huanxin_bench_requests" -c "CREATE DATABASE huanxin_bench_requests" >/dev/null 2>&1
export HUANXIN_DATA_DIR="$WORK/pg"
export HUANXIN_DATABASE_URL="$PG/huanxin_bench_requests"
run postgres "$HUANXIN_DATABASE_URL"
unset HUANXIN_DATABASE_URL
