#!/usr/bin/env bash
# Owners' vote benchmark (issue: residents' voice): 10,000 owners of one estate bind with their
# invitation codes and vote online, arriving evenly over 60 s, then again as fast as 64
# connections go; afterwards every ballot is counted once (none lost, none twice) and the chain
# verifies; then the tally of a 5,000-dwelling estate after 5,000 paper ballots. On SQLite and on
# PostgreSQL, against the release server. Also: 10,000 arriving over 20 s, a kill -9 of the server
# in the middle of a vote (no acknowledged ballot lost), and where a ballot's time goes (profile).
#
#   bench/votes.sh                   # both engines
#   ENGINES=postgres bench/votes.sh  # one of them (sqlite or postgres)
#
# Needs: psql and a PostgreSQL on 127.0.0.1:5432 (trust), curl.
set -euo pipefail
cd "$(dirname "$0")/.."
PG=${HUANXIN_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
WORK=${HUANXIN_BENCH_DIR:-/tmp/huanxin-bench-votes}
PORT=18082
for tool in psql curl; do
  command -v $tool >/dev/null || { echo "missing $tool (apt-get install -y postgresql-client curl)"; exit 1; }
done
scripts/build-web >/dev/null
cargo build --locked --release -p huanxin -p huanxin-bench 2>&1 | tail -n 1
BIN=target/release/huanxin
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(uname -r); $(date -u +%Y-%m-%dT%H:%MZ)"
rm -rf "$WORK" && mkdir -p "$WORK/data"
target/release/huanxin-bench voters "$WORK/data"

run() { # engine
  if curl -sf "http://127.0.0.1:$PORT/api/v1/health" >/dev/null; then echo "port $PORT is taken: stop what runs there"; exit 1; fi
  export HUANXIN_LOG=warn
  $BIN migrate >/dev/null
  $BIN import estates "$WORK/data/estates.csv" >/dev/null
  $BIN import buildings "$WORK/data/buildings.csv" >/dev/null
  $BIN import dwellings "$WORK/data/dwellings.csv" >/dev/null
  HUANXIN_NEW_PASSWORD=bench-password $BIN user add bench_staff --role county_staff --region 350521000000 >/dev/null
  export HUANXIN_BIND=127.0.0.1:$PORT
  $BIN serve >"$WORK/server.log" 2>&1 &
  local pid=$!
  trap "kill $pid 2>/dev/null || true" EXIT
  for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$PORT/api/v1/health" >/dev/null && break; sleep 0.5; done
  echo "$1:"
  # The raw engine's rate for the plain equivalent, on this machine in this run (see bench/src/raw.rs).
  local raw_url
  if [ "$1" = sqlite ]; then raw_url="sqlite:$HUANXIN_DATA_DIR/raw-chain.db"; else raw_url="$HUANXIN_DATABASE_URL"; fi
  HUANXIN_BENCH_RAW_RATE=$(target/release/huanxin-bench raw-chain "$raw_url" 3000)
  export HUANXIN_BENCH_RAW_RATE
  echo "  raw engine: $HUANXIN_BENCH_RAW_RATE hash-chained inserts/s, one transaction each"
  target/release/huanxin-bench votes "http://127.0.0.1:$PORT" bench_staff bench-password "$WORK/data"
  echo "  server RSS after: $(( $(awk '/VmRSS/ {print $2}' /proc/$pid/status) / 1024 )) MB"
  # kill -9 in the middle of a vote: no acknowledged ballot may be lost.
  rm -f "$WORK/restarted.pid"
  target/release/huanxin-bench crash-votes "http://127.0.0.1:$PORT" bench_staff bench-password "$pid" "$BIN" "$WORK/restarted.pid" \
    || echo "  the kill -9 run failed; the restarted server said: $(cat "$WORK/restarted.log" 2>/dev/null)"
  wait $pid 2>/dev/null || true
  if [ -s "$WORK/restarted.pid" ]; then kill "$(cat "$WORK/restarted.pid")" 2>/dev/null || true; fi
  trap - EXIT
  for _ in $(seq 1 40); do curl -sf "http://127.0.0.1:$PORT/api/v1/health" >/dev/null || break; sleep 0.25; done
  # Where a ballot's time goes, in process, on the same database (bench/src/profile.rs).
  local url
  if [ "$1" = sqlite ]; then url="$HUANXIN_DATA_DIR/huanxin.db"; else url="$HUANXIN_DATABASE_URL"; fi
  target/release/huanxin-bench profile-ballot "$url" 2000
}

ENGINES=${ENGINES:-sqlite postgres}
if [[ " $ENGINES " == *" sqlite "* ]]; then
  export HUANXIN_DATA_DIR="$WORK/sqlite"
  unset HUANXIN_DATABASE_URL DATABASE_URL
  run sqlite
fi
if [[ " $ENGINES " == *" postgres "* ]]; then
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS huanxin_bench_votes" -c "CREATE DATABASE huanxin_bench_votes" >/dev/null
  export HUANXIN_DATA_DIR="$WORK/pg"
  export HUANXIN_DATABASE_URL="$PG/huanxin_bench_votes"
  run postgres
  unset HUANXIN_DATABASE_URL
fi
