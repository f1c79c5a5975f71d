#!/usr/bin/env bash
# bench/http/run.sh: the tasks table over HTTP (dashboard_url) against gRPC
# (address) on the same cluster, one command, as root from anywhere (make
# install first):
#
#   bash bench/http/run.sh
#
# Starts the Ray simulator (scenario `many`, BENCH_TASKS finished attempts,
# clock frozen, dashboard on) and a throwaway PostgreSQL 15, makes one
# server per transport, warms both (the simulator builds its replies on the
# first call), then runs each query BENCH_RUNS times per transport:
#   count: SELECT count(*)                      (keys-only decode)
#   full:  SELECT sum(length(t::text)) FROM t   (every column built)
# For each it reports the median execution time (EXPLAIN ANALYZE), the
# median time in the transfer (raydar.last_scan().call_ms: waiting for and
# receiving the reply, which includes the simulator's own work) and the
# rest (decoding and tuples in the backend), and the HTTP/gRPC ratios.
# Prints a markdown table; removes everything, also on failure or ^C.
#
# Knobs: BENCH_TASKS (10000), BENCH_RUNS (5), BENCH_KEEP=1 keeps the temp dir.
set -euo pipefail

cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
PGBIN=/usr/lib/postgresql/15/bin
TASKS=${BENCH_TASKS:-10000}
RUNS=${BENCH_RUNS:-5}
OSUSER=raydar_test

[ "$(id -u)" -eq 0 ] || { echo "run.sh: run as root (PostgreSQL runs as $OSUSER)" >&2; exit 1; }
id "$OSUSER" >/dev/null 2>&1 || { echo "run.sh: user $OSUSER is missing (scripts/test.sh makes it)" >&2; exit 1; }
[ -f "$(pg_config --pkglibdir)/raydar.so" ] || { echo "run.sh: raydar is not installed (make && make install)" >&2; exit 1; }
as() { runuser -u "$OSUSER" -- "$@"; }
say() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }

TMP=$(mktemp -d /tmp/raydar-hbench.XXXXXX)
chmod 755 "$TMP"
SIM_PID=
cleanup() {
  [ -n "$SIM_PID" ] && kill -- -"$SIM_PID" 2>/dev/null || true
  as "$PGBIN/pg_ctl" -D "$TMP/pg" -m immediate stop >/dev/null 2>&1 || true
  [ "${BENCH_KEEP:-0}" = 1 ] && echo "kept $TMP" >&2 || rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "starting the simulator: scenario many, $TASKS tasks, speed 0, dashboard on"
setsid "$PY" test/raysim/raysim.py --scenario many --scenario-params "{\"count\": $TASKS}" \
    --speed 0 --max-tasks -1 --port 0 --admin-port 0 --dashboard-port 0 \
    --port-file "$TMP/sim.json" >"$TMP/sim.log" 2>&1 &
SIM_PID=$!
for _ in $(seq 600); do [ -s "$TMP/sim.json" ] && break; kill -0 "$SIM_PID" || exit 1; sleep 0.1; done
[ -s "$TMP/sim.json" ] || { echo "the simulator did not start" >&2; exit 1; }
port() { "$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$TMP/sim.json" "$1"; }
GRPC_PORT=$(port grpc_port)
DASH_URL=$(port dashboard_url)

say "starting a throwaway PostgreSQL 15"
mkdir -p "$TMP/pg"
chown -R "$OSUSER" "$TMP"
as "$PGBIN/initdb" -D "$TMP/pg" -A trust -U postgres --encoding=UTF8 --no-locale >"$TMP/initdb.log"
cat >>"$TMP/pg/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$TMP'
timezone = 'UTC'
jit = off
CONF
as "$PGBIN/pg_ctl" -D "$TMP/pg" -l "$TMP/pg.log" -w start >/dev/null
psql_() { as "$PGBIN/psql" -X -q -At -h "$TMP" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
psql_ >/dev/null <<SQL
CREATE EXTENSION raydar;
CREATE SERVER grpc FOREIGN DATA WRAPPER raydar
  OPTIONS (address '127.0.0.1:$GRPC_PORT', timeout_ms '300000');
CREATE SERVER http FOREIGN DATA WRAPPER raydar
  OPTIONS (dashboard_url '$DASH_URL', timeout_ms '300000');
CREATE SCHEMA grpc; CREATE SCHEMA http;
IMPORT FOREIGN SCHEMA ray LIMIT TO (tasks) FROM SERVER grpc INTO grpc;
IMPORT FOREIGN SCHEMA ray LIMIT TO (tasks) FROM SERVER http INTO http;
SQL

declare -A Q=([count]='SELECT count(*) FROM %s.tasks'
              [full]='SELECT sum(length(t::text)) FROM %s.tasks t')

# One run: "execution_ms call_ms rows" in one session.
run_once() {
  local sql
  sql=$(printf "${Q[$1]}" "$2")
  psql_ -c "SET client_min_messages = error" \
        -c "EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON, FORMAT JSON) $sql" \
        -c "SELECT call_ms, rows, reply_bytes FROM raydar.last_scan()" |
    "$PY" -c '
import json, sys
text = sys.stdin.read()
plan_end = text.rindex("]") + 1
plan = json.loads(text[:plan_end])[0]
call_ms, rows, nbytes = text[plan_end:].strip().split("|")
print(plan["Execution Time"], call_ms, rows, nbytes)'
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

say "warming up"
for t in grpc http; do run_once count $t >/dev/null; run_once full $t >/dev/null; done

declare -A EXEC CALL REST ROWS BYTES
for q in count full; do
  for t in grpc http; do
    say "$q over $t: $RUNS runs"
    : >"$TMP/$q-$t"
    for _ in $(seq "$RUNS"); do run_once "$q" "$t" >>"$TMP/$q-$t"; done
    EXEC[$q-$t]=$(awk '{print $1}' "$TMP/$q-$t" | median)
    CALL[$q-$t]=$(awk '{print $2}' "$TMP/$q-$t" | median)
    REST[$q-$t]=$(awk '{print $1 - $2}' "$TMP/$q-$t" | median)
    ROWS[$q-$t]=$(awk 'END {print $3}' "$TMP/$q-$t")
    BYTES[$q-$t]=$(awk 'END {print $4}' "$TMP/$q-$t")
  done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf (b > 0 ? "%.2f" : "-"), a / b}'; }
echo
echo "tasks: $TASKS, runs: $RUNS (medians, ms)"
echo
echo "| query | transport | rows | reply bytes | execution | transfer (call_ms) | decode + tuples | execution HTTP/gRPC | decode HTTP/gRPC |"
echo "|---|---|---|---|---|---|---|---|---|"
for q in count full; do
  for t in grpc http; do
    if [ "$t" = http ]; then
      r1=$(ratio "${EXEC[$q-http]}" "${EXEC[$q-grpc]}"); r2=$(ratio "${REST[$q-http]}" "${REST[$q-grpc]}")
    else
      r1=; r2=
    fi
    printf '| %s | %s | %s | %s | %.1f | %.1f | %.1f | %s | %s |\n' "$q" "$t" "${ROWS[$q-$t]}" \
      "${BYTES[$q-$t]}" "${EXEC[$q-$t]}" "${CALL[$q-$t]}" "${REST[$q-$t]}" "$r1" "$r2"
  done
done
