#!/usr/bin/env bash
# Registry benchmark (issue: foundation). Generates a national-scale registry, imports it with
# `huanxin import` and with the raw engine (sqlite3 .import, PostgreSQL COPY), then measures the
# filtered estate list and map tiles with wrk, and the server's memory.
#
#   bench/registry.sh [ESTATES] [DWELLINGS]        defaults: 280000 estates, 4800000 dwellings
#
# Needs: sqlite3, psql and a PostgreSQL on 127.0.0.1:5432 (trust), wrk, /usr/bin/time (apt-get install wrk sqlite3 time).
set -euo pipefail
cd "$(dirname "$0")/.."
ESTATES=${1:-280000}
DWELLINGS=${2:-4800000}
PG=${HUANXIN_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
WORK=${HUANXIN_BENCH_DIR:-/tmp/huanxin-bench}
DURATION=${HUANXIN_BENCH_SECONDS:-10}
PORT=18080
for tool in sqlite3 psql wrk curl python3; do
  command -v $tool >/dev/null || { echo "missing $tool (apt-get install -y sqlite3 postgresql-client wrk)"; exit 1; }
done
[ -x /usr/bin/time ] || { echo "missing /usr/bin/time (apt-get install -y time)"; exit 1; }

scripts/build-web >/dev/null
cargo build --locked --release -p huanxin -p huanxin-bench 2>&1 | tail -n 1
BIN=target/release/huanxin
# HUANXIN_BENCH_REUSE=1 keeps the data and databases of the last run and only measures the server.
REUSE=${HUANXIN_BENCH_REUSE:-}
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(uname -r); $(date -u +%Y-%m-%dT%H:%MZ)"
if [ -z "$REUSE" ]; then
  rm -rf "$WORK" && mkdir -p "$WORK/data"
  target/release/huanxin-bench gen "$WORK/data" "$ESTATES" "$DWELLINGS"
fi
read -r _ NE < <(grep '^estates' "$WORK/data/SIZES"); read -r _ NB < <(grep '^buildings' "$WORK/data/SIZES"); read -r _ ND < <(grep '^dwellings ' "$WORK/data/SIZES")

secs() { python3 -c "import time; print(time.time())"; }
rate() { python3 -c "print(f'{$1/($3-$2):,.0f}')"; }

import_all() { # engine label; sets IMPORT_E/B/D (seconds)
  local t0 t1 t2 t3
  sync # write back what came before, so that it does not slow this load (the raw loads get the same)
  t0=$(secs); $BIN import estates "$WORK/data/estates.csv" >/dev/null; t1=$(secs)
  $BIN import buildings "$WORK/data/buildings.csv" >/dev/null; t2=$(secs)
  # The dwelling files together, as one import (keys and indexes rebuilt once, not after every file).
  /usr/bin/time -f "$1 dwellings import: peak RSS %M KB" $BIN import dwellings "$WORK"/data/dwellings-*.csv >/dev/null; t3=$(secs)
  echo "$1 import: estates $(rate $NE $t0 $t1) rows/s, buildings $(rate $NB $t1 $t2) rows/s, dwellings $(rate $ND $t2 $t3) rows/s"
  IMPORT_E=$(python3 -c "print($t1-$t0)"); IMPORT_B=$(python3 -c "print($t2-$t1)"); IMPORT_D=$(python3 -c "print($t3-$t2)")
}

# The raw engine loading the same CSV files two ways: into bare tables (every column as it comes,
# no key, no index) and into tables of the same shape as ours (typed columns, the same unique keys,
# the same secondary indexes built after the load, the fastest way to get them).
RAW_DDL_ESTATES="code TEXT NOT NULL UNIQUE, name TEXT, aliases TEXT, address TEXT, community_code TEXT, lon REAL, lat REAL, datum TEXT,
  build_year INTEGER, building_count INTEGER, households INTEGER, floor_area REAL, ownership_type TEXT, management_status TEXT,
  has_owners_committee TEXT, person_in_charge TEXT, phone TEXT"
RAW_IDX_ESTATES="CREATE INDEX raw_e1 ON raw_estates (community_code); CREATE INDEX raw_e2 ON raw_estates (management_status);
  CREATE INDEX raw_e3 ON raw_estates (community_code, build_year, management_status, households, building_count, floor_area);
  CREATE INDEX raw_e4 ON raw_estates (build_year); CREATE INDEX raw_e5 ON raw_estates (name); CREATE INDEX raw_e6 ON raw_estates (community_code, build_year);"
RAW_DDL_BUILDINGS="estate_code TEXT NOT NULL, number TEXT NOT NULL, floors INTEGER, stairwells INTEGER, lift TEXT, structure TEXT, build_year INTEGER,
  UNIQUE (estate_code, number)"
RAW_DDL_DWELLINGS="estate_code TEXT NOT NULL, building_number TEXT NOT NULL, stairwell INTEGER, floor INTEGER, number TEXT NOT NULL, area REAL,
  owner TEXT, owner_phone TEXT, share TEXT, occupancy TEXT, residents_60_plus INTEGER, UNIQUE (estate_code, building_number, number)"
RAW_IDX_DWELLINGS="CREATE INDEX raw_d1 ON raw_dwellings (estate_code);"

cols() { python3 -c "print(', '.join(f'c{i} TEXT' for i in range($1)))"; }

raw_report() { # engine bare_e bare_b bare_d shaped_e shaped_b shaped_d
  python3 - "$1" "$NE" "$NB" "$ND" "$IMPORT_E" "$IMPORT_B" "$IMPORT_D" "${@:2}" <<'PY'
import sys
eng = sys.argv[1]; n = list(map(float, sys.argv[2:5])); ours = list(map(float, sys.argv[5:8]))
bare = list(map(float, sys.argv[8:11])); shaped = list(map(float, sys.argv[11:14]))
for i, what in enumerate(["estates", "buildings", "dwellings"]):
    print(f"{eng} raw {what}: bare {n[i]/bare[i]:,.0f} rows/s, same shape {n[i]/shaped[i]:,.0f} rows/s; "
          f"huanxin/raw = {bare[i]/ours[i]:.2f} (bare), {shaped[i]/ours[i]:.2f} (same shape)")
PY
}

sqlite_raw() {
  local db="$WORK/raw.db" t0 t1 t2 t3 s0 s1 s2 s3
  sync
  rm -f "$db"
  sqlite3 "$db" "PRAGMA journal_mode=WAL; CREATE TABLE bare_estates ($(cols 17)); CREATE TABLE bare_buildings ($(cols 7));
    CREATE TABLE bare_dwellings ($(cols 11));" >/dev/null
  t0=$(secs); sqlite3 "$db" -cmd ".mode csv" ".import --skip 1 $WORK/data/estates.csv bare_estates"; t1=$(secs)
  sqlite3 "$db" -cmd ".mode csv" ".import --skip 1 $WORK/data/buildings.csv bare_buildings"; t2=$(secs)
  for f in "$WORK"/data/dwellings-*.csv; do sqlite3 "$db" -cmd ".mode csv" ".import --skip 1 $f bare_dwellings"; done; t3=$(secs)
  rm -f "$db"
  sqlite3 "$db" "PRAGMA journal_mode=WAL; CREATE TABLE raw_estates ($RAW_DDL_ESTATES); CREATE TABLE raw_buildings ($RAW_DDL_BUILDINGS);
    CREATE TABLE raw_dwellings ($RAW_DDL_DWELLINGS);" >/dev/null
  s0=$(secs); sqlite3 "$db" -cmd ".mode csv" ".import --skip 1 $WORK/data/estates.csv raw_estates" "$RAW_IDX_ESTATES"; s1=$(secs)
  sqlite3 "$db" -cmd ".mode csv" ".import --skip 1 $WORK/data/buildings.csv raw_buildings"; s2=$(secs)
  for f in "$WORK"/data/dwellings-*.csv; do sqlite3 "$db" -cmd ".mode csv" ".import --skip 1 $f raw_dwellings"; done
  sqlite3 "$db" "$RAW_IDX_DWELLINGS"; s3=$(secs)
  raw_report sqlite "$(python3 -c "print($t1-$t0)")" "$(python3 -c "print($t2-$t1)")" "$(python3 -c "print($t3-$t2)")" \
    "$(python3 -c "print($s1-$s0)")" "$(python3 -c "print($s2-$s1)")" "$(python3 -c "print($s3-$s2)")"
}

pg_raw() {
  local url="$PG/huanxin_bench" t0 t1 t2 t3 s0 s1 s2 s3 f
  sync
  psql "$url" -qc "CREATE TABLE bare_estates ($(cols 17))" -c "CREATE TABLE bare_buildings ($(cols 7))" \
    -c "CREATE TABLE bare_dwellings ($(cols 11))" \
    -c "CREATE TABLE raw_estates ($RAW_DDL_ESTATES)" -c "CREATE TABLE raw_buildings ($RAW_DDL_BUILDINGS)" \
    -c "CREATE TABLE raw_dwellings ($RAW_DDL_DWELLINGS)"
  t0=$(secs); psql "$url" -qc "\\copy bare_estates FROM '$WORK/data/estates.csv' CSV HEADER"; t1=$(secs)
  psql "$url" -qc "\\copy bare_buildings FROM '$WORK/data/buildings.csv' CSV HEADER"; t2=$(secs)
  for f in "$WORK"/data/dwellings-*.csv; do psql "$url" -qc "\\copy bare_dwellings FROM '$f' CSV HEADER"; done; t3=$(secs)
  s0=$(secs); psql "$url" -qc "\\copy raw_estates FROM '$WORK/data/estates.csv' CSV HEADER" -c "$RAW_IDX_ESTATES"; s1=$(secs)
  psql "$url" -qc "\\copy raw_buildings FROM '$WORK/data/buildings.csv' CSV HEADER"; s2=$(secs)
  for f in "$WORK"/data/dwellings-*.csv; do psql "$url" -qc "\\copy raw_dwellings FROM '$f' CSV HEADER"; done
  psql "$url" -qc "$RAW_IDX_DWELLINGS"; s3=$(secs)
  psql "$url" -qc "DROP TABLE bare_estates, bare_buildings, bare_dwellings, raw_estates, raw_buildings, raw_dwellings"
  raw_report postgres "$(python3 -c "print($t1-$t0)")" "$(python3 -c "print($t2-$t1)")" "$(python3 -c "print($t3-$t2)")" \
    "$(python3 -c "print($s1-$s0)")" "$(python3 -c "print($s2-$s1)")" "$(python3 -c "print($s3-$s2)")"
}

run_wrk() { # label url connections
  local out
  out=$(wrk -t"$(( $3 < 2 ? 1 : 2 ))" -c"$3" -d"${DURATION}s" --latency -H "Authorization: Bearer $TOKEN" "$2" 2>&1)
  local p50 p99 rps
  p50=$(echo "$out" | awk '$1=="50%" {print $2}'); p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  local non2xx; non2xx=$(echo "$out" | awk '/Non-2xx/ {print $5}')
  echo "  $1, $3 clients: p50 $p50, p99 $p99, $rps req/s${non2xx:+, NON-2XX $non2xx}"
}

measure_server() { # engine label
  HUANXIN_BIND=127.0.0.1:$PORT $BIN serve >"$WORK/server.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$PORT/api/v1/health" >/dev/null && break; sleep 0.5; done
  for who in bench_country bench_county; do
    TOKEN=$(curl -sf -XPOST "http://127.0.0.1:$PORT/api/v1/auth/login" -H 'content-type: application/json' \
      -d "{\"username\":\"$who\",\"password\":\"bench-password\"}" | python3 -c 'import sys,json; print(json.load(sys.stdin)["token"])')
    for c in 1 16 64; do
      run_wrk "$1 list ($who: eligible, sorted by year)" "http://127.0.0.1:$PORT/api/v1/estates?eligible=true&sort=-build_year&per_page=20" $c
    done
  done
  TOKEN=$(curl -sf -XPOST "http://127.0.0.1:$PORT/api/v1/auth/login" -H 'content-type: application/json' \
      -d '{"username":"bench_country","password":"bench-password"}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["token"])')
  curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/tiles/4/12/6.mvt"
  run_wrk "$1 tile z4 (country)" "http://127.0.0.1:$PORT/tiles/4/12/6.mvt" 16
  run_wrk "$1 tile z15 (street)" "http://127.0.0.1:$PORT/tiles/15/$STREET_TILE.mvt" 16
  echo "  $1 server memory: $(awk '/VmRSS/ {printf "RSS %d MB", $2/1024}' /proc/$pid/status), $(awk '/VmHWM/ {printf "peak %d MB", $2/1024}' /proc/$pid/status)"
  kill $pid; wait $pid 2>/dev/null || true
}

add_users() {
  HUANXIN_NEW_PASSWORD=bench-password $BIN user add bench_country --role ministry_admin --region 000000000000 >/dev/null
  HUANXIN_NEW_PASSWORD=bench-password $BIN user add bench_county --role county_admin --region "$COUNTY" >/dev/null
}

# The busiest county, and a street-zoom tile on its first estate.
read -r COUNTY LON LAT < <(python3 - "$WORK/data/estates.csv" <<'PY'
import csv, sys, collections
rows = list(csv.reader(open(sys.argv[1], encoding="utf-8")))[1:]
counts = collections.Counter(r[4][:6] for r in rows)
county = counts.most_common(1)[0][0]
first = next(r for r in rows if r[4].startswith(county))
print(county + "000000", first[5], first[6])
PY
)
STREET_TILE=$(python3 -c "
import math; lon,lat=$LON,$LAT; n=2**15
x=int((lon+180)/360*n); y=int((1-math.log(math.tan(math.radians(lat))+1/math.cos(math.radians(lat)))/math.pi)/2*n); print(f'{x}/{y}')")
echo "== data: $NE estates, $NB buildings, $ND dwellings; busiest county $COUNTY"

echo "== SQLite"
export HUANXIN_DATA_DIR="$WORK/sqlite" HUANXIN_LOG=warn
unset HUANXIN_DATABASE_URL DATABASE_URL
$BIN migrate >/dev/null
if [ -z "$REUSE" ]; then
  import_all sqlite
  sqlite_raw
  add_users
fi
echo "database size: $(du -sh "$WORK/sqlite" | cut -f1)"
measure_server sqlite

echo "== PostgreSQL"
export HUANXIN_DATABASE_URL="$PG/huanxin_bench"
if [ -z "$REUSE" ]; then
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS huanxin_bench" -c "CREATE DATABASE huanxin_bench" >/dev/null 2>&1
  $BIN migrate >/dev/null
  import_all postgres
  pg_raw
  add_users
  psql "$PG/huanxin_bench" -qc "VACUUM ANALYZE"
fi
$BIN migrate >/dev/null
measure_server postgres
unset HUANXIN_DATABASE_URL
