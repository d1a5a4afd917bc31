#!/usr/bin/env bash
# National statistics benchmark (issue 15, part 8): the whole country's programme (280,000 estates
# in the registry, 50,000 projects with their approvals, a ledger of 10 million entries, and every
# estate's plan, construction, acceptance, residents' money, final scheme and review findings since
# 2019), the kept statistics rebuilt from those records, then against the release server as the
# ministry: each dashboard request of the cockpit at 16 clients, the raw engine's rate for the
# statistics page's own statements in the same run (and the ratio), the national workbooks, and how
# long a county's acceptance takes to show in the ministry's count. On SQLite and on PostgreSQL.
#
#   bench/national.sh          # ESTATES=28000 PROJECTS=5000 ENTRIES=200000 bench/national.sh for a quick look
#                              # ENGINES=sqlite (or postgres) for one engine; SECONDS_EACH=5 per dashboard
#
# Needs: psql and a PostgreSQL on 127.0.0.1:5432 (trust), curl.
set -euo pipefail
cd "$(dirname "$0")/.."
PG=${HUANXIN_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
WORK=${HUANXIN_BENCH_DIR:-/tmp/huanxin-bench-national}
ESTATES=${ESTATES:-280000}
PROJECTS=${PROJECTS:-50000}
ENTRIES=${ENTRIES:-10000000}
ENGINES=${ENGINES:-sqlite postgres}
PORT=18084
for tool in psql curl; do
  command -v $tool >/dev/null || { echo "missing $tool (apt-get install -y postgresql-client curl)"; exit 1; }
done
if [ -z "${SKIP_BUILD:-}" ]; then
  scripts/build-web >/dev/null
  cargo build --locked --release -p huanxin -p huanxin-bench 2>&1 | tail -n 1
fi
BIN=target/release/huanxin
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(uname -r); $(date -u +%Y-%m-%dT%H:%MZ)"
echo "== $ESTATES estates, $PROJECTS projects, $ENTRIES ledger entries"
rm -rf "$WORK" && mkdir -p "$WORK/data"
target/release/huanxin-bench gen "$WORK/data" "$ESTATES" 0 >/dev/null

run() { # engine database-url
  if curl -sf "http://127.0.0.1:$PORT/api/v1/health" >/dev/null; then echo "port $PORT is taken: stop what runs there"; exit 1; fi
  export HUANXIN_LOG=warn
  echo "$1:"
  local t0=$SECONDS
  $BIN migrate >/dev/null
  $BIN import estates "$WORK/data/estates.csv" >/dev/null
  echo "  registry: $(target/release/huanxin-bench projects "$2" "$PROJECTS" spread)"
  HUANXIN_NEW_PASSWORD=bench-password $BIN user add bench_ministry --role ministry_admin --region 000000000000 >/dev/null
  target/release/huanxin-bench ledger "$2" "$ENTRIES"
  local county; county=$(target/release/huanxin-bench national "$2" bench_ministry | tail -n 1)
  HUANXIN_NEW_PASSWORD=bench-password $BIN user add bench_county --role county_admin --region "$county" >/dev/null
  echo "  data ready in $((SECONDS - t0)) s"
  HUANXIN_BIND=127.0.0.1:$PORT $BIN serve >"$WORK/server.log" 2>&1 &
  local pid=$!
  trap "kill $pid 2>/dev/null || true" EXIT
  for _ in $(seq 1 240); do curl -sf "http://127.0.0.1:$PORT/api/v1/health" >/dev/null && break; sleep 0.5; done
  target/release/huanxin-bench dashboards "http://127.0.0.1:$PORT" "$2" bench_ministry bench_county bench-password
  echo "  server memory: $(awk '/VmRSS|VmHWM|RssAnon|RssFile/ {printf "%s %d MB  ", $1, $2/1024}' /proc/$pid/status)"
  kill $pid; wait $pid 2>/dev/null || true
  trap - EXIT
}

for engine in $ENGINES; do
  if [ "$engine" = sqlite ]; then
    export HUANXIN_DATA_DIR="$WORK/sqlite"
    unset HUANXIN_DATABASE_URL DATABASE_URL
    run sqlite "$WORK/sqlite/huanxin.db"
  else
    psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS huanxin_bench_national" -c "CREATE DATABASE huanxin_bench_national" >/dev/null 2>&1
    export HUANXIN_DATA_DIR="$WORK/pg"
    export HUANXIN_DATABASE_URL="$PG/huanxin_bench_national"
    run postgres "$HUANXIN_DATABASE_URL"
    unset HUANXIN_DATABASE_URL
  fi
done
