#!/usr/bin/env bash
# Registry benchmark (foundation issue; issue 18 §3). Generates a national-scale registry, imports it with
# `huanxin import`, then has the raw engine load the same files into exact copies of our tables (keys,
# indexes, validated foreign keys; see sqlite_raw and pg_raw below) and prints the ratio; then measures the
# estate list, map tiles and "what is late" with wrk (and with PROGRAMME=1 the statistics dashboards), and
# the server's memory. Single runs: repeat a run to see its spread (docs/benchmarks.md gives what moved).
#
#   bench/registry.sh [ESTATES] [DWELLINGS]        defaults: 280000 estates, 4800000 dwellings
#   ENGINES=postgres PROGRAMME=1 bench/registry.sh 280000 48000000   the national registry at full size on
#       PostgreSQL, then a programme on it and the statistics dashboards (PROJECTS, ENTRIES as bench/national.sh)
#   BARE=1 also times the bare load (text columns, no key, no index) for comparison.
#   SKIP_BUILD=1 uses the release binaries as built; HUANXIN_BENCH_REUSE=1 measures the server again on the
#   last run's databases. HUANXIN_BENCH_DIR (default /tmp/huanxin-bench) holds the CSV and the SQLite files,
#   HUANXIN_BENCH_PG the PostgreSQL server, HUANXIN_BENCH_SECONDS each wrk line, SECONDS_EACH each dashboard.
#
# It REPLACES: the folder HUANXIN_BENCH_DIR (rm -rf) and the database huanxin_bench (DROP … WITH (FORCE)), and
# uses port 18080. It leaves the database behind for a HUANXIN_BENCH_REUSE run (13 GB at 48 million dwellings).
# Below 50,000 rows a table is imported with its indexes kept (the bulk path starts there), so small runs fall
# below the ratio of large ones (estates 0.39-0.41 at 28,000).
#
# Needs: sqlite3, psql and a PostgreSQL on 127.0.0.1:5432 (trust), wrk, /usr/bin/time (apt-get install wrk sqlite3 time).
set -euo pipefail
cd "$(dirname "$0")/.."
ESTATES=${1:-280000}
DWELLINGS=${2:-4800000}
PG=${HUANXIN_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
WORK=${HUANXIN_BENCH_DIR:-/tmp/huanxin-bench}
DURATION=${HUANXIN_BENCH_SECONDS:-10}
ENGINES=${ENGINES:-sqlite postgres}
PORT=18080
for tool in sqlite3 psql wrk curl python3; do
  command -v $tool >/dev/null || { echo "missing $tool (apt-get install -y sqlite3 postgresql-client wrk)"; exit 1; }
done
[ -x /usr/bin/time ] || { echo "missing /usr/bin/time (apt-get install -y time)"; exit 1; }

if [ -z "${SKIP_BUILD:-}" ]; then
  scripts/build-web >/dev/null
  cargo build --locked --release -p huanxin -p huanxin-bench 2>&1 | tail -n 1
fi
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
# Before each timed load (ours and the reference alike): what came before written back, and on PostgreSQL
# a checkpoint, so that neither pays for the other's writes.
settle() {
  sync
  if [ -n "${HUANXIN_DATABASE_URL:-}" ]; then psql "$HUANXIN_DATABASE_URL" -qc "CHECKPOINT"; fi
}
export PGOPTIONS="--client-min-messages=warning"
rate() { python3 -c "print(f'{$1/($3-$2):,.0f}')"; }

import_all() { # engine label; sets IMPORT_E/B/D (seconds)
  local t0 t1 t2 t3 rss="peak RSS %M KB"
  settle
  t0=$(secs); /usr/bin/time -f "$1 estates import: $rss" $BIN import estates "$WORK/data/estates.csv" >/dev/null; t1=$(secs)
  /usr/bin/time -f "$1 buildings import: $rss" $BIN import buildings "$WORK/data/buildings.csv" >/dev/null; t2=$(secs)
  # The dwelling files together, as one import (keys and indexes rebuilt once, not after every file).
  /usr/bin/time -f "$1 dwellings import: $rss" $BIN import dwellings "$WORK"/data/dwellings-*.csv >/dev/null; t3=$(secs)
  echo "$1 import: estates $(rate $NE $t0 $t1) rows/s, buildings $(rate $NB $t1 $t2) rows/s, dwellings $(rate $ND $t2 $t3) rows/s;" \
    "the whole registry in $(python3 -c "print(f'{$t3-$t0:.0f}')") s"
  IMPORT_E=$(python3 -c "print($t1-$t0)"); IMPORT_B=$(python3 -c "print($t2-$t1)"); IMPORT_D=$(python3 -c "print($t3-$t2)")
}

# The raw engine's reference: its own bulk load of the same CSV files into tables of exactly our
# shape (the same columns and types, primary and unique keys, secondary indexes and foreign keys,
# copied from the catalog of the database just imported into), the fastest plain way: the file
# into an unlogged staging table of text columns, one INSERT … SELECT that types, maps and joins
# it to its parents, then the keys, indexes and foreign keys built after the load (foreign keys
# end validated). Dwellings carry their owner, so the dwellings' figure covers dwelling_owners on
# both sides. With BARE=1 also the old bare load (text columns, no key, no index).
BARE=${BARE:-0}
cols() { python3 -c "print(', '.join(f'c{i} TEXT' for i in range($1)))"; }
NOW_TEXT="2026-01-01T00:00:00Z"
# The mapping of CSV cells to stored values, the same as the import's (labels to codes, areas to hundredths).
case_of() { # column pairs…: CASE col WHEN label THEN code … END
  local col=$1; shift; local out="CASE $col"
  while [ $# -gt 0 ]; do out="$out WHEN '$2' THEN '$1'"; shift 2; done
  echo "$out END"
}
ESTATE_SELECT="SELECT c0, c1, COALESCE(c2, ''), COALESCE(c3, ''), c4, CAST(c5 AS {REAL}), CAST(c6 AS {REAL}), CAST(c8 AS {INT}),
  CAST(c9 AS {INT}), CAST(c10 AS {INT}), CAST(ROUND(CAST(c11 AS {REAL}) * 100) AS {INT}),
  $(case_of c12 commercial 商品房 reformed 房改房 work_unit 单位自管 public_direct 直管公房 resettlement 安置房 mixed 混合产权),
  $(case_of c13 professional 专业物业 self_managed 居民自治 community_managed 社区托管 none 无物业),
  c14 = '是', COALESCE(c15, ''), COALESCE(c16, ''), '$NOW_TEXT', '$NOW_TEXT' FROM s_estates"
ESTATE_INSERT="INSERT INTO estates (code, name, aliases, address, community_code, lon, lat, build_year, building_count, households,
  floor_area, ownership_type, management_status, has_owners_committee, person_in_charge, phone, created_at, updated_at) $ESTATE_SELECT"
BUILDING_INSERT="INSERT INTO buildings (estate_id, number, floors, stairwells, has_lift, structure, build_year)
  SELECT e.id, s.c1, CAST(s.c2 AS {INT}), CAST(s.c3 AS {INT}), s.c4 = '是',
  $(case_of s.c5 brick_concrete 砖混 frame 框架 shear_wall 剪力墙 brick_wood 砖木 other 其他),
  CAST(NULLIF(s.c6, '') AS {INT}) FROM s_buildings s JOIN estates e ON e.code = s.c0"
# Dwelling ids pre-assigned (the staging row's number), so that owners need no second join.
DWELLING_INSERT="INSERT INTO dwellings (id, estate_id, building_id, stairwell, floor, number, exclusive_area, occupancy, residents_60_plus)
  SELECT s.{N}, e.id, b.id, CAST(s.c2 AS {INT}), CAST(s.c3 AS {INT}), s.c4, CAST(ROUND(CAST(s.c5 AS {REAL}) * 100) AS {INT}),
  $(case_of s.c9 owner 自住 rented 出租 vacant 空置 other 其他), CAST(s.c10 AS {INT})
  FROM s_dwellings s JOIN estates e ON e.code = s.c0 JOIN buildings b ON b.estate_id = e.id AND b.number = s.c1"
OWNER_INSERT="INSERT INTO dwelling_owners (dwelling_id, name, phone, share_bp)
  SELECT {N}, c6, COALESCE(c7, ''), CAST(ROUND(COALESCE(CAST(NULLIF(c8, '') AS {REAL}), 100) * 100) AS {INT})
  FROM s_dwellings WHERE COALESCE(c6, '') <> ''"
dialect() { # engine sql
  if [ "$1" = sqlite ]; then sed -e 's/{REAL}/REAL/g; s/{INT}/INTEGER/g; s/{N}/rowid/g' <<<"$2"
  else sed -e 's/{REAL}/DOUBLE PRECISION/g; s/{INT}/BIGINT/g; s/{N}/n/g' <<<"$2"; fi
}

secs_since() { python3 -c "print($(secs)-$1)"; }

raw_report() { # engine estates buildings dwellings (seconds, same shape) [bare…]
  python3 - "$1" "$NE" "$NB" "$ND" "$IMPORT_E" "$IMPORT_B" "$IMPORT_D" "${@:2}" <<'PY'
import sys
eng = sys.argv[1]; n = list(map(float, sys.argv[2:5])); ours = list(map(float, sys.argv[5:8]))
shaped = list(map(float, sys.argv[8:11])); bare = list(map(float, sys.argv[11:14])) if len(sys.argv) > 11 else None
for i, what in enumerate(["estates", "buildings", "dwellings (with owners)"]):
    line = (f"{eng} raw {what}: same shape {n[i]/shaped[i]:,.0f} rows/s in {shaped[i]:.1f} s; huanxin {n[i]/ours[i]:,.0f} rows/s "
            f"in {ours[i]:.1f} s; huanxin/raw = {shaped[i]/ours[i]:.2f}")
    if bare:
        line += f" (bare {n[i]/bare[i]:,.0f} rows/s, huanxin/bare = {bare[i]/ours[i]:.2f})"
    print(line)
PY
}

sqlite_raw() {
  local db="$WORK/raw.db" src="$WORK/sqlite/huanxin.db" t s_e s_b s_d f bare=()
  local q="PRAGMA journal_mode=WAL; PRAGMA cache_size=-131072; PRAGMA foreign_keys=OFF;"
  ddl() { sqlite3 "$src" "SELECT sql || ';' FROM sqlite_master WHERE type = '$1' AND tbl_name = '$2' AND sql IS NOT NULL"; }
  check_keys() { # a foreign key check that finds nothing, or the run stops
    local bad; bad=$(sqlite3 "$db" "PRAGMA foreign_key_check($1);" | head -n 3)
    [ -z "$bad" ] || { echo "raw $1: foreign key check failed: $bad"; exit 1; }
  }
  rm -f "$db" "$db"-wal "$db"-shm
  # The regions the estates refer to, copied before the clock starts.
  sqlite3 "$db" "PRAGMA journal_mode=WAL;" "$(ddl table regions)" "ATTACH '$src' AS h; INSERT INTO regions SELECT * FROM h.regions;" >/dev/null
  for t in estates buildings dwellings dwelling_owners; do sqlite3 "$db" "$(ddl table $t)"; done
  sqlite3 "$db" "CREATE TABLE s_estates ($(cols 17)); CREATE TABLE s_buildings ($(cols 7)); CREATE TABLE s_dwellings ($(cols 11));"
  sync
  t=$(secs)
  sqlite3 "$db" -cmd "$q" -cmd ".mode csv" ".import --skip 1 $WORK/data/estates.csv s_estates" \
    "$(dialect sqlite "$ESTATE_INSERT"); DROP TABLE s_estates;" "$(ddl index estates)" >/dev/null
  check_keys estates; s_e=$(secs_since "$t"); t=$(secs)
  sqlite3 "$db" -cmd "$q" -cmd ".mode csv" ".import --skip 1 $WORK/data/buildings.csv s_buildings" \
    "$(dialect sqlite "$BUILDING_INSERT"); DROP TABLE s_buildings;" "$(ddl index buildings)" >/dev/null
  check_keys buildings; s_b=$(secs_since "$t"); t=$(secs)
  local imports=(); for f in "$WORK"/data/dwellings-*.csv; do imports+=(".import --skip 1 $f s_dwellings"); done
  sqlite3 "$db" -cmd "$q" -cmd ".mode csv" "${imports[@]}" "$(dialect sqlite "$DWELLING_INSERT"); $(dialect sqlite "$OWNER_INSERT"); DROP TABLE s_dwellings;" \
    "$(ddl index dwellings)" "$(ddl index dwelling_owners)" >/dev/null
  check_keys dwellings; check_keys dwelling_owners; s_d=$(secs_since "$t")
  [ "$(sqlite3 "$db" "SELECT COUNT(*) FROM dwellings")" = "$ND" ] || { echo "raw dwellings: not every row loaded"; exit 1; }
  echo "raw database size: $(du -sh "$db" | cut -f1)"
  rm -f "$db" "$db"-wal "$db"-shm
  if [ "$BARE" = 1 ]; then
    sqlite3 "$db" "PRAGMA journal_mode=WAL; CREATE TABLE bare_estates ($(cols 17)); CREATE TABLE bare_buildings ($(cols 7));
      CREATE TABLE bare_dwellings ($(cols 11));" >/dev/null
    t=$(secs); sqlite3 "$db" -cmd ".mode csv" ".import --skip 1 $WORK/data/estates.csv bare_estates"; bare+=("$(secs_since "$t")"); t=$(secs)
    sqlite3 "$db" -cmd ".mode csv" ".import --skip 1 $WORK/data/buildings.csv bare_buildings"; bare+=("$(secs_since "$t")"); t=$(secs)
    sqlite3 "$db" -cmd ".mode csv" "${imports[@]/s_dwellings/bare_dwellings}"; bare+=("$(secs_since "$t")")
    rm -f "$db" "$db"-wal "$db"-shm
  fi
  raw_report sqlite "$s_e" "$s_b" "$s_d" "${bare[@]}"
}

pg_raw() {
  local url="$PG/huanxin_bench" t s_e s_b s_d f bare=()
  local raw="psql $url -v ON_ERROR_STOP=1 -q -c"
  # Keys, indexes and foreign keys of one of our tables, as statements for its copy in schema raw:
  # primary and unique keys first, then the other indexes, then the foreign keys.
  shape() {
    psql "$url" -Atc "SELECT string_agg(s, '; ' ORDER BY o, s) FROM (
      SELECT format('ALTER TABLE raw.%I ADD CONSTRAINT %I %s', '$1', conname, pg_get_constraintdef(oid)) s, 1 o
        FROM pg_constraint WHERE conrelid = 'public.$1'::regclass AND contype IN ('p', 'u')
      UNION ALL SELECT replace(indexdef, ' ON public.', ' ON raw.'), 2 FROM pg_indexes
        WHERE schemaname = 'public' AND tablename = '$1' AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'public.$1'::regclass)
      UNION ALL SELECT format('ALTER TABLE raw.%I ADD CONSTRAINT %I %s', '$1', conname, pg_get_constraintdef(oid)), 3
        FROM pg_constraint WHERE conrelid = 'public.$1'::regclass AND contype = 'f') x"
  }
  local shape_e shape_b shape_d shape_o
  shape_e=$(shape estates); shape_b=$(shape buildings); shape_d=$(shape dwellings); shape_o=$(shape dwelling_owners)
  $raw "DROP SCHEMA IF EXISTS raw CASCADE; CREATE SCHEMA raw"
  for t in estates buildings dwellings dwelling_owners; do
    $raw "CREATE TABLE raw.$t (LIKE public.$t INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS)"
  done
  $raw "CREATE UNLOGGED TABLE raw.s_estates ($(cols 17)); CREATE UNLOGGED TABLE raw.s_buildings ($(cols 7));
    CREATE UNLOGGED TABLE raw.s_dwellings (n BIGSERIAL, $(cols 11))"
  local in_raw="SET search_path = raw, public;"
  settle
  t=$(secs)
  psql "$url" -v ON_ERROR_STOP=1 -q -c "\\copy raw.s_estates FROM '$WORK/data/estates.csv' CSV HEADER" \
    -c "$in_raw $(dialect postgres "$ESTATE_INSERT"); DROP TABLE s_estates; $shape_e"
  s_e=$(secs_since "$t"); t=$(secs)
  psql "$url" -v ON_ERROR_STOP=1 -q -c "\\copy raw.s_buildings FROM '$WORK/data/buildings.csv' CSV HEADER" \
    -c "$in_raw ANALYZE s_buildings; $(dialect postgres "$BUILDING_INSERT"); DROP TABLE s_buildings; $shape_b"
  s_b=$(secs_since "$t"); t=$(secs)
  local copies=(); for f in "$WORK"/data/dwellings-*.csv; do
    copies+=(-c "\\copy raw.s_dwellings (c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10) FROM '$f' CSV HEADER"); done
  psql "$url" -v ON_ERROR_STOP=1 -q "${copies[@]}" \
    -c "$in_raw ANALYZE s_dwellings; $(dialect postgres "$DWELLING_INSERT"); $(dialect postgres "$OWNER_INSERT"); DROP TABLE s_dwellings;
        $shape_d; $shape_o"
  s_d=$(secs_since "$t")
  [ "$(psql "$url" -Atc "SELECT COUNT(*) FROM raw.dwellings")" = "$ND" ] || { echo "raw dwellings: not every row loaded"; exit 1; }
  [ "$(psql "$url" -Atc "SELECT COUNT(*) FROM pg_constraint WHERE connamespace = 'raw'::regnamespace AND contype = 'f' AND NOT convalidated")" = 0 ] \
    || { echo "raw: a foreign key left not valid"; exit 1; }
  echo "raw tables' size: $(psql "$url" -Atc "SELECT pg_size_pretty(SUM(pg_total_relation_size(c.oid))) FROM pg_class c WHERE c.relnamespace = 'raw'::regnamespace AND c.relkind = 'r'")"
  $raw "DROP SCHEMA raw CASCADE"
  if [ "$BARE" = 1 ]; then
    $raw "CREATE TABLE bare_estates ($(cols 17)); CREATE TABLE bare_buildings ($(cols 7)); CREATE TABLE bare_dwellings ($(cols 11))"
    t=$(secs); psql "$url" -qc "\\copy bare_estates FROM '$WORK/data/estates.csv' CSV HEADER"; bare+=("$(secs_since "$t")"); t=$(secs)
    psql "$url" -qc "\\copy bare_buildings FROM '$WORK/data/buildings.csv' CSV HEADER"; bare+=("$(secs_since "$t")"); t=$(secs)
    for f in "$WORK"/data/dwellings-*.csv; do psql "$url" -qc "\\copy bare_dwellings FROM '$f' CSV HEADER"; done; bare+=("$(secs_since "$t")")
    $raw "DROP TABLE bare_estates, bare_buildings, bare_dwellings"
  fi
  raw_report postgres "$s_e" "$s_b" "$s_d" "${bare[@]}"
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

measure_server() { # engine database-url
  if curl -sf "http://127.0.0.1:$PORT/api/v1/health" >/dev/null; then echo "port $PORT is taken: stop what runs there"; exit 1; fi
  HUANXIN_BIND=127.0.0.1:$PORT $BIN serve >"$WORK/server.log" 2>&1 &
  local pid=$!
  trap "kill $pid 2>/dev/null || true" EXIT
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
  run_wrk "$1 what is late (country)" "http://127.0.0.1:$PORT/api/v1/work/regions" 16
  dashboards "$1" "$2"
  echo "  $1 server memory: $(awk '/VmRSS/ {printf "RSS %d MB", $2/1024}' /proc/$pid/status), $(awk '/VmHWM/ {printf "peak %d MB", $2/1024}' /proc/$pid/status)"
  kill $pid; wait $pid 2>/dev/null || true
  trap - EXIT
}

# With PROGRAMME=1, a programme on top of the registry (PROJECTS projects with their approvals,
# ENTRIES ledger entries, every estate's records since 2019, as bench/national.sh makes them), then
# the statistics dashboards and "what is late" measured against it.
programme() { # engine database-url
  [ "${PROGRAMME:-0}" = 1 ] || return 0
  local county
  echo "  $1 programme: $(target/release/huanxin-bench projects "$2" "${PROJECTS:-5000}" spread)"
  target/release/huanxin-bench ledger "$2" "${ENTRIES:-200000}" | sed 's/^/  /'
  county=$(target/release/huanxin-bench national "$2" bench_country | tail -n 1)
  HUANXIN_NEW_PASSWORD=bench-password $BIN user add bench_programme_county --role county_admin --region "$county" >/dev/null
}

dashboards() { # engine database-url
  [ "${PROGRAMME:-0}" = 1 ] || return 0
  target/release/huanxin-bench dashboards "http://127.0.0.1:$PORT" "$2" bench_country bench_programme_county bench-password
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
echo "== data: $NE estates, $NB buildings, $ND dwellings ($(du -sh "$WORK/data" | cut -f1) of CSV); busiest county $COUNTY"

if [[ " $ENGINES " == *" sqlite "* ]]; then
  echo "== SQLite"
  export HUANXIN_DATA_DIR="$WORK/sqlite" HUANXIN_LOG=warn
  unset HUANXIN_DATABASE_URL DATABASE_URL
  $BIN migrate >/dev/null
  if [ -z "$REUSE" ]; then
    import_all sqlite
    sqlite_raw
    add_users
    programme sqlite "$WORK/sqlite/huanxin.db"
  fi
  echo "database size: $(du -sh "$WORK/sqlite" | cut -f1)"
  measure_server sqlite "$WORK/sqlite/huanxin.db"
fi

if [[ " $ENGINES " == *" postgres "* ]]; then
  echo "== PostgreSQL"
  export HUANXIN_DATA_DIR="$WORK/pg" HUANXIN_LOG=warn
  export HUANXIN_DATABASE_URL="$PG/huanxin_bench"
  if [ -z "$REUSE" ]; then
    psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS huanxin_bench WITH (FORCE)" -c "CREATE DATABASE huanxin_bench" >/dev/null
    $BIN migrate >/dev/null
    import_all postgres
    echo "database size after the import: $(psql "$HUANXIN_DATABASE_URL" -Atc "SELECT pg_size_pretty(pg_database_size(current_database()))")"
    pg_raw
    add_users
    programme postgres "$HUANXIN_DATABASE_URL"
    psql "$PG/huanxin_bench" -qc "VACUUM ANALYZE"
  fi
  $BIN migrate >/dev/null
  measure_server postgres "$HUANXIN_DATABASE_URL"
  unset HUANXIN_DATABASE_URL
fi
