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
# first call), then runs each query BENCH_RUNS times per road, the roads
# alternating within each run so that load on the machine falls on all:
#   grpc:   the server with address
#   http:   the server with dashboard_url (parsed rows derived in memory)
#   packed: the same server with raydar.dashboard_packed = on, the road
#           before issue 13 (parsed rows packed into GetTaskEventsReply
#           bytes, then decoded from those as gRPC bytes are)
# and the queries
#   count: SELECT count(*)                      (keys-only decode)
#   full:  SELECT sum(length(t::text)) FROM t   (every column built)
# For each it reports the median execution time (EXPLAIN ANALYZE), the
# median time in the transfer (raydar.last_scan().call_ms: waiting for and
# receiving the reply, which includes the simulator's own work) and the
# rest (decoding and tuples in the backend), the HTTP/gRPC ratios, and the
# ratio of HTTP in memory to HTTP packed (below 1: the removed round trip
# saves that much), with the spread (min-max) of each road's decode.
# Prints a markdown table; removes everything, also on failure or ^C.
#
# Knobs: BENCH_TASKS (10000), BENCH_RUNS (5), BENCH_KEEP=1 keeps the temp dir.
set -euo pipefail

cd "$(dirname "$0")/../.."
. bench/lib.sh
TASKS=${BENCH_TASKS:-10000}
RUNS=${BENCH_RUNS:-5}
bench_init hbench

say "starting the simulator: scenario many, $TASKS tasks, speed 0, dashboard on"
start_sim --scenario many --scenario-params "{\"count\": $TASKS}" --speed 0 --max-tasks -1 \
    --dashboard-port 0
GRPC_PORT=$(sim_port grpc_port)
DASH_URL=$(sim_port dashboard_url)

say "starting a throwaway PostgreSQL 15"
start_pg ""
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

# One run of query $1 on road $2: "execution_ms call_ms rows bytes", one session.
run_once() {
  local sql schema=$2 packed=off
  [ "$2" = packed ] && { schema=http; packed=on; }
  sql=$(printf "${Q[$1]}" "$schema")
  psql_ -c "SET client_min_messages = error" -c "SET raydar.dashboard_packed = $packed" \
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

ROADS="grpc http packed"
say "warming up"
for t in $ROADS; do run_once count $t >/dev/null; run_once full $t >/dev/null; done

declare -A EXEC CALL REST SPREAD ROWS BYTES
for q in count full; do
  for t in $ROADS; do : >"$TMP/$q-$t"; done
  say "$q: $RUNS runs of $ROADS, alternating"
  for _ in $(seq "$RUNS"); do
    for t in $ROADS; do run_once "$q" "$t" >>"$TMP/$q-$t"; done
  done
  for t in $ROADS; do
    EXEC[$q-$t]=$(awk '{print $1}' "$TMP/$q-$t" | median)
    CALL[$q-$t]=$(awk '{print $2}' "$TMP/$q-$t" | median)
    REST[$q-$t]=$(awk '{print $1 - $2}' "$TMP/$q-$t" | median)
    SPREAD[$q-$t]=$(awk '{d = $1 - $2; if (NR == 1 || d < lo) lo = d; if (NR == 1 || d > hi) hi = d}
                         END {printf "%.0f-%.0f", lo, hi}' "$TMP/$q-$t")
    ROWS[$q-$t]=$(awk 'END {print $3}' "$TMP/$q-$t")
    BYTES[$q-$t]=$(awk 'END {print $4}' "$TMP/$q-$t")
  done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf (b > 0 ? "%.2f" : "-"), a / b}'; }
echo
echo "tasks: $TASKS, runs: $RUNS (medians, ms)"
echo
echo "| query | road | rows | reply bytes | execution | transfer (call_ms) | decode + tuples (min-max) | execution HTTP/gRPC | decode HTTP/gRPC |"
echo "|---|---|---|---|---|---|---|---|---|"
for q in count full; do
  for t in $ROADS; do
    if [ "$t" = grpc ]; then
      r1=; r2=
    else
      r1=$(ratio "${EXEC[$q-$t]}" "${EXEC[$q-grpc]}"); r2=$(ratio "${REST[$q-$t]}" "${REST[$q-grpc]}")
    fi
    printf '| %s | %s | %s | %s | %.1f | %.1f | %.1f (%s) | %s | %s |\n' "$q" "$t" "${ROWS[$q-$t]}" \
      "${BYTES[$q-$t]}" "${EXEC[$q-$t]}" "${CALL[$q-$t]}" "${REST[$q-$t]}" "${SPREAD[$q-$t]}" "$r1" "$r2"
  done
done
echo
echo "| query | execution in memory / packed | decode + tuples in memory / packed |"
echo "|---|---|---|"
for q in count full; do
  printf '| %s | %s | %s |\n' "$q" "$(ratio "${EXEC[$q-http]}" "${EXEC[$q-packed]}")" \
    "$(ratio "${REST[$q-http]}" "${REST[$q-packed]}")"
done
