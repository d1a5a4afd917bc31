#!/usr/bin/env bash
# Lifecycle benchmark (issue: the renewal lifecycle): "what is late in my region" with 50,000
# projects, their approval steps, schedules, design changes and rectification tasks, at 16
# concurrent clients, for a country, a province and a county user, on SQLite and on PostgreSQL:
# the first (uncomputed) answer, then 10 s quiet, then 10 s with a progress report recorded every
# half second (each drops the kept answers).
#
#   bench/lifecycle.sh [PROJECTS]        default 50000
#
# Needs: psql and a PostgreSQL on 127.0.0.1:5432 (trust), wrk, curl, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
PROJECTS=${1:-50000}
PG=${HUANXIN_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
WORK=${HUANXIN_BENCH_DIR:-/tmp/huanxin-bench-lifecycle}
DURATION=${HUANXIN_BENCH_SECONDS:-10}
PORT=18081
for tool in psql wrk curl python3; do
  command -v $tool >/dev/null || { echo "missing $tool (apt-get install -y postgresql-client wrk)"; exit 1; }
done
scripts/build-web >/dev/null
cargo build --locked --release -p huanxin -p huanxin-bench 2>&1 | tail -n 1
BIN=target/release/huanxin
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(uname -r); $(date -u +%Y-%m-%dT%H:%MZ)"
rm -rf "$WORK" && mkdir -p "$WORK/data"
target/release/huanxin-bench gen "$WORK/data" 280000 0 >/dev/null

token() {
  curl -sf -XPOST "http://127.0.0.1:$PORT/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"bench-password\"}" | python3 -c 'import sys,json; print(json.load(sys.stdin)["token"])'
}

run() { # engine database-url
  if curl -sf "http://127.0.0.1:$PORT/api/v1/health" >/dev/null; then echo "port $PORT is taken: stop what runs there"; exit 1; fi
  export HUANXIN_LOG=warn
  $BIN migrate >/dev/null
  $BIN import estates "$WORK/data/estates.csv" >/dev/null
  echo "$1: $(target/release/huanxin-bench projects "$2" "$PROJECTS")"
  # The busiest province and county by projects.
  read -r PROVINCE COUNTY < <(python3 - "$WORK/data/estates.csv" "$PROJECTS" <<'PY'
import csv, sys, collections
rows = list(csv.reader(open(sys.argv[1], encoding="utf-8")))[1:int(sys.argv[2]) + 1]
p = collections.Counter(r[4][:2] for r in rows).most_common(1)[0][0]
c = collections.Counter(r[4][:6] for r in rows if r[4].startswith(p)).most_common(1)[0][0]
print(p + "0" * 10, c + "0" * 6)
PY
)
  HUANXIN_NEW_PASSWORD=bench-password $BIN user add bench_country --role ministry_admin --region 000000000000 >/dev/null
  HUANXIN_NEW_PASSWORD=bench-password $BIN user add bench_province --role province_admin --region "$PROVINCE" >/dev/null
  HUANXIN_NEW_PASSWORD=bench-password $BIN user add bench_county --role county_admin --region "$COUNTY" >/dev/null
  HUANXIN_BIND=127.0.0.1:$PORT $BIN serve >"$WORK/server.log" 2>&1 &
  local pid=$!
  trap "kill $pid 2>/dev/null || true" EXIT
  for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$PORT/api/v1/health" >/dev/null && break; sleep 0.5; done
  local url="http://127.0.0.1:$PORT/api/v1/late"
  for who in bench_country bench_province bench_county; do
    local t; t=$(token $who)
    local cold; cold=$(curl -sf -o "$WORK/late.json" -w '%{time_total}' -H "Authorization: Bearer $t" "$url")
    local totals; totals=$(python3 - "$WORK/late.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(", ".join(f"{k} {d[k]['total']}" for k in ("approvals", "schedule_nodes", "design_changes", "rectifications")))
PY
)
    echo "  $1 late ($who: $totals); first answer $(python3 -c "print(f'{$cold*1000:.1f} ms')")"
    report() {
      echo "    $1: p50 $(echo "$2" | awk '$1=="50%" {print $2}'), p99 $(echo "$2" | awk '$1=="99%" {print $2}'), $(echo "$2" | awk '/Requests\/sec/ {print $2}') req/s$(echo "$2" | awk '/Non-2xx/ {print ", NON-2XX " $5}')"
    }
    report "16 clients, quiet" "$(wrk -t2 -c16 -d"${DURATION}s" --latency -H "Authorization: Bearer $t" "$url" 2>&1)"
    # A desk reports progress every half second meanwhile (on the region's most late node, 40 and 60 % in turn).
    local node; node=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["schedule_nodes"]["items"][0]["id"])' "$WORK/late.json")
    ( end=$(( $(date +%s) + DURATION )); pct=40
      while [ "$(date +%s)" -lt "$end" ]; do
        curl -sf -o /dev/null -XPUT -H "Authorization: Bearer $t" -H 'content-type: application/json' \
          -d "{\"progress_pct\": $pct}" "http://127.0.0.1:$PORT/api/v1/schedule-nodes/$node" || echo "    progress report refused"
        pct=$(( 100 - pct )); sleep 0.5
      done ) &
    local writer=$!
    report "16 clients, a change every 0.5 s" "$(wrk -t2 -c16 -d"${DURATION}s" --latency -H "Authorization: Bearer $t" "$url" 2>&1)"
    wait $writer
  done
  kill $pid; wait $pid 2>/dev/null || true
}

echo "== SQLite"
export HUANXIN_DATA_DIR="$WORK/sqlite"
unset HUANXIN_DATABASE_URL DATABASE_URL
run sqlite "$WORK/sqlite/huanxin.db"

echo "== PostgreSQL"
psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS huanxin_bench_lifecycle" -c "CREATE DATABASE huanxin_bench_lifecycle" >/dev/null 2>&1
export HUANXIN_DATABASE_URL="$PG/huanxin_bench_lifecycle"
run postgres "$HUANXIN_DATABASE_URL"
unset HUANXIN_DATABASE_URL
