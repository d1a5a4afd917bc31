#!/usr/bin/env bash
# Alarm ingest benchmark (issue 17, part 8): the broker on this machine, 10,000 devices, on SQLite
# and PostgreSQL, against the release server:
#   - the broker alone (publish → a plain QoS 1 subscriber): the ceiling of any ingest here;
#   - the raw engine's rate for the ingest's writes (the same rows, same table shape and key);
#   - sustained signed telemetry at RATE msg/s for SECONDS, stored rate, and one alarm a second
#     timed from publish to visible in GET /api/v1/alarms (p50, p99); then a burst of 1,000 alarms;
#   - the server killed with SIGKILL during load and restarted: messages the broker acknowledged
#     against readings stored (lost must be 0);
#   - the server's peak memory.
#
#   bench/alarms.sh                 # RATE=20000 SECONDS_=30 DEVICES=10000 by default
#
# Needs: mosquitto (Debian's package), psql and PostgreSQL on 127.0.0.1:5432 (trust), curl.
set -euo pipefail
cd "$(dirname "$0")/.."
PG=${HUANXIN_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
WORK=${HUANXIN_BENCH_DIR:-/tmp/huanxin-bench-alarms}
DEVICES=${DEVICES:-10000}
RATE=${RATE:-20000}
SECS=${SECONDS_:-30}
PORT=18087
MQTT_PORT=18883
for tool in psql curl mosquitto; do
  command -v $tool >/dev/null || { echo "missing $tool (apt-get install -y postgresql-client curl mosquitto)"; exit 1; }
done
if [ -z "${SKIP_BUILD:-}" ]; then
  scripts/build-web >/dev/null
  cargo build --locked --release -p huanxin -p huanxin-bench 2>&1 | tail -n 1
fi
BIN=target/release/huanxin
B=target/release/huanxin-bench
rm -rf "$WORK" && mkdir -p "$WORK/data"
# The benchmark's own broker: a session may queue without limit while the server is away (the
# SIGKILL test), and the ingest's receive maximum sets what is in flight.
cat > "$WORK/mosquitto.conf" <<CONF
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 0
max_queued_bytes 0
max_inflight_messages 0
CONF
mosquitto -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
BROKER=$!
SERVER=
trap 'kill $BROKER $SERVER 2>/dev/null || true' EXIT
sleep 0.5
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(uname -r); $(date -u +%Y-%m-%dT%H:%MZ); mosquitto $(mosquitto -h | head -1 | awk '{print $3}'); $DEVICES devices, $RATE msg/s for $SECS s"
broker=$($B alarms-broker 127.0.0.1:$MQTT_PORT "$RATE" 10)
echo "broker alone, publish → QoS 1 subscriber: $broker msg/s delivered (asked $RATE)"
$B gen "$WORK/data" 2000 1 35 >/dev/null

start_server() { # log
  if curl -sf "http://127.0.0.1:$PORT/api/v1/health" >/dev/null; then echo "port $PORT is taken: stop what runs there"; exit 1; fi
  HUANXIN_BIND=127.0.0.1:$PORT HUANXIN_MQTT_URL=mqtt://127.0.0.1:$MQTT_PORT HUANXIN_LOG=warn $BIN serve >>"$1" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$PORT/api/v1/health" >/dev/null && break; sleep 0.25; done
}

run() { # engine database-url
  echo "$1:"
  local raw; raw=$($B alarms-raw "$3" $((RATE * 10)))
  echo "  raw engine, the same rows into the same table shape in transactions of 2,000: $raw rows/s"
  $BIN migrate >/dev/null
  $BIN import estates "$WORK/data/estates.csv" >/dev/null
  $B alarms-seed "$2" "$DEVICES" | sed 's/^/  /'
  HUANXIN_NEW_PASSWORD=bench-password $BIN user add bench_country --role ministry_admin --region 000000000000 >/dev/null
  start_server "$WORK/server-$1.log"
  $B alarms-load 127.0.0.1:$MQTT_PORT "http://127.0.0.1:$PORT" bench_country bench-password "$DEVICES" "$RATE" "$SECS" | tee "$WORK/load-$1.txt"
  local stored; stored=$(grep -o '[0-9]* stored by' "$WORK/load-$1.txt" | awk '{print $1}')
  echo "  ratio: stored rate / raw engine = $(awk -v s="$(grep -o '[0-9]* msg/s stored' "$WORK/load-$1.txt" | awk '{print $1}')" -v r="$raw" 'BEGIN {printf "%.2f", s / r}'), / broker alone = $(awk -v s="$(grep -o '[0-9]* msg/s stored' "$WORK/load-$1.txt" | awk '{print $1}')" -v r="$broker" 'BEGIN {printf "%.2f", s / r}')"
  echo "  server memory: $(awk '/VmHWM/ {printf "peak %d MB", $2/1024}' /proc/$SERVER/status)"
  # SIGKILL mid-load: what the broker acknowledged must all be stored once the server is back.
  local before; before=$(count "$1" "$2")
  ( HUANXIN_BENCH_SENT="$WORK/sent-$1.txt" $B alarms-kill 127.0.0.1:$MQTT_PORT "$DEVICES" $((RATE / 2)) 12 > "$WORK/kill-$1.txt" 2>"$WORK/kill-$1.err" ) &
  local loader=$!
  sleep 4
  kill -9 $SERVER; wait $SERVER 2>/dev/null || true
  sleep 2
  start_server "$WORK/server-$1.log"
  wait $loader
  local acked; acked=$(tail -n 1 "$WORK/kill-$1.txt")
  local got=0
  for _ in $(seq 1 240); do
    got=$(( $(count "$1" "$2") - before ))
    [ "$got" -ge "$acked" ] && break
    sleep 0.5
  done
  echo "  SIGKILL during load at $((RATE / 2)) msg/s and restart: $(cat "$WORK/kill-$1.err"), $got stored, missing $(( acked > got ? acked - got : 0 ))"
  if [ "$got" -lt "$acked" ]; then
    # Which ones, and whether the next connection of the ingest brings them.
    missing "$1" "$2" "$WORK/sent-$1.txt" > "$WORK/missing-$1.txt" || true
    head -n 5 "$WORK/missing-$1.txt" | sed 's/^/    missing: /'
    kill $SERVER; wait $SERVER 2>/dev/null || true
    start_server "$WORK/server-$1.log"
    sleep 3
    echo "  after one more restart of the server: $(( $(count "$1" "$2") - before )) stored"
  fi
  echo "  server memory after restart: $(awk '/VmHWM/ {printf "peak %d MB", $2/1024}' /proc/$SERVER/status)"
  echo "  database: $(size "$1" "$2")"
  kill $SERVER; wait $SERVER 2>/dev/null || true
}

count() { # engine url
  if [ "$1" = postgres ]; then psql "$2" -tAc "SELECT COUNT(*) FROM telemetry"; else sqlite3 "$2" "SELECT COUNT(*) FROM telemetry"; fi
}
missing() { # engine url sent-file: the sent messages not stored (serial, time)
  local q="SELECT d.serial || char(9) || t.at_ms FROM telemetry t JOIN devices d ON d.id = t.device_id WHERE t.at_ms >= $(cut -f2 "$3" | sort -n | head -n 1)"
  if [ "$1" = postgres ]; then psql "$2" -tAc "${q//char(9)/chr(9)}"; else sqlite3 "$2" "$q"; fi | sort > "$3.stored"
  sort "$3" | comm -23 - "$3.stored"
}
size() { # engine url: bytes per stored reading
  if [ "$1" = postgres ]; then
    psql "$2" -tAc "SELECT pg_size_pretty(pg_total_relation_size('telemetry_default') + COALESCE((SELECT SUM(pg_total_relation_size(c.oid)) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'telemetry'::regclass), 0)) || ' of telemetry, ' || (SELECT COUNT(*) FROM telemetry) || ' readings, ' || ((SELECT SUM(pg_total_relation_size(c.oid)) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'telemetry'::regclass) / GREATEST((SELECT COUNT(*) FROM telemetry), 1)) || ' bytes a reading'"
  else
    sqlite3 "$2" "SELECT (SELECT SUM(pgsize) FROM dbstat WHERE name LIKE 'sqlite_autoindex_telemetry%' OR name = 'telemetry') || ' bytes of telemetry, ' || (SELECT COUNT(*) FROM telemetry) || ' readings, ' || ((SELECT SUM(pgsize) FROM dbstat WHERE name LIKE 'sqlite_autoindex_telemetry%' OR name = 'telemetry') / MAX((SELECT COUNT(*) FROM telemetry), 1)) || ' bytes a reading'" 2>/dev/null || echo "(sqlite3 without dbstat)"
  fi
}

export HUANXIN_DATA_DIR="$WORK/sqlite"
unset HUANXIN_DATABASE_URL DATABASE_URL
mkdir -p "$WORK/sqlite"
run sqlite "$WORK/sqlite/huanxin.db" "$WORK/raw.db"
psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS huanxin_bench_alarms" -c "CREATE DATABASE huanxin_bench_alarms" >/dev/null 2>&1
export HUANXIN_DATA_DIR="$WORK/pg"
export HUANXIN_DATABASE_URL="$PG/huanxin_bench_alarms"
run postgres "$HUANXIN_DATABASE_URL" "$PG/huanxin_bench_alarms"
unset HUANXIN_DATABASE_URL
