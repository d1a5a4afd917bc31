#!/usr/bin/env bash
# Page benchmark (issue 14): how long the pages people open all day take in Chromium on the full
# demo (release build, SQLite): each role's work page, and one estate's page at every stage, each a
# full load from a blank page (the app's scripts included) until the page's content shows. Next to each, the bare app
# shell (the login page: HTML, scripts and styles, no data) loaded the same way in the same run,
# and the ratio (page ÷ shell), the figure that travels between machines. Target: the estate
# page under 1 s.
#
#   bench/pages.sh               # builds, creates the demo in a temporary folder, measures
#   ROUNDS=10 bench/pages.sh     # loads per page (5 by default)
#   SKIP_BUILD=1 bench/pages.sh  # the release binary as built
#
# Needs: Debian's chromium (/usr/bin/chromium) and web/node_modules (scripts/build-web).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${HUANXIN_BENCH_DIR:-/tmp/huanxin-bench-pages}
PORT=18084
# SKIP_BUILD=1: measure the release binary already built.
if [ -z "${SKIP_BUILD:-}" ]; then
  scripts/build-web >/dev/null
  cargo build --locked --release -p huanxin 2>&1 | tail -n 1
fi
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(uname -r); $(date -u +%Y-%m-%dT%H:%MZ)"
rm -rf "$WORK" && mkdir -p "$WORK/data"
export HUANXIN_DATA_DIR="$WORK/data" HUANXIN_BIND=127.0.0.1:$PORT HUANXIN_LOG=warn
target/release/huanxin demo >"$WORK/server.log" 2>"$WORK/progress.log" &
pid=$!
trap "kill $pid 2>/dev/null || true" EXIT
for _ in $(seq 1 900); do
  grep -q "demo data created" "$WORK/server.log" 2>/dev/null && break
  kill -0 $pid 2>/dev/null || { tail -c 2000 "$WORK/progress.log"; exit 1; }
  sleep 0.2
done
cd web && HUANXIN_URL=http://127.0.0.1:$PORT ROUNDS=${ROUNDS:-5} node ../bench/pages.mjs
