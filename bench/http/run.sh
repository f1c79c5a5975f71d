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
