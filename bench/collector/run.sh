#!/usr/bin/env bash
# bench/collector/run.sh: the collector's ingest benchmark, one command, as
# root from anywhere (make install first):
#
#   bash bench/collector/run.sh
#
# Starts the Ray simulator (scenario `many`, BENCH_TASKS finished attempts,
# clock frozen) and a throwaway PostgreSQL 15 with raydar preloaded, then
# measures in one run:
#   1. ingest: raydar.track() of a GCS holding BENCH_TASKS finished attempts
#      until all are in raydar.task_history: the wall time, and the first
#      poll's own split (fetch, keys pass, decode+write) from its DEBUG1 line;
#   2. the baseline: COPY of the same rows (exported from task_history) into
#      an unindexed table LIKE it, median of 3; and PostgreSQL's floor for
#      this table: INSERT ... SELECT of those ready rows into task_history
#      itself (its partitions and indexes, key order), median of 3;
#   3. idle polls (nothing new): the collector's CPU time (utime+stime from
#      /proc) over BENCH_IDLE_SECONDS, divided by the polls it made;
# prints a markdown table and removes everything, also on failure or ^C.
#
# Knobs: BENCH_TASKS (100000), BENCH_POLL_MS (500), BENCH_IDLE_SECONDS (10),
# BENCH_KEEP=1 keeps the temp dir.
set -euo pipefail

cd "$(dirname "$0")/../.."
. bench/lib.sh
TASKS=${BENCH_TASKS:-100000}
POLL_MS=${BENCH_POLL_MS:-500}
IDLE=${BENCH_IDLE_SECONDS:-10}
bench_init cbench

say "starting the simulator: scenario many, $TASKS tasks, speed 0"
start_sim --scenario many --scenario-params "{\"count\": $TASKS}" --speed 0 --max-tasks -1
GRPC_PORT=$(sim_port grpc_port)

say "starting a throwaway PostgreSQL 15 (poll interval $POLL_MS ms)"
start_pg "raydar.poll_interval = $POLL_MS
log_min_messages = debug1"
psql_ >/dev/null <<SQL
CREATE EXTENSION raydar;
CREATE SERVER ray FOREIGN DATA WRAPPER raydar
  OPTIONS (address '127.0.0.1:$GRPC_PORT', timeout_ms '300000');
CREATE USER MAPPING FOR CURRENT_USER SERVER ray;
IMPORT FOREIGN SCHEMA ray LIMIT TO (tasks) FROM SERVER ray INTO public;
SQL

# The simulator encodes its entries on the first call (~2 s) and caches
# them: warm it so the ingest below measures raydar, not the encoding.
TERMINAL=$(psql_ -c "SELECT count(*) FROM tasks WHERE state IN ('FINISHED', 'FAILED')")
say "the GCS holds $TERMINAL finished or failed attempts"

# ---------------------------------------------------------------- 1. ingest
say "ingest: raydar.track('ray') until task_history holds them all"
T0=$(date +%s%N)
psql_ -c "SELECT raydar.track('ray')" >/dev/null
# Watched through collector_status, one row the collector updates in the
# transaction that inserts the attempts: counting 100,000 rows every 50 ms
# would take CPU from the collector being measured. The count is checked
# once afterwards.
for _ in $(seq 1200); do
  [ "$(psql_ -c "SELECT coalesce(tasks_ingested, 0) FROM raydar.collector_status")" = "$TERMINAL" ] && break
  sleep 0.02
done
T1=$(date +%s%N)
[ "$(psql_ -c "SELECT count(*) FROM raydar.task_history")" = "$TERMINAL" ] ||
  { echo "task_history did not reach $TERMINAL rows in 60 s" >&2; tail -20 "$TMP/pg.log" >&2; exit 1; }
WALL_MS=$(( (T1 - T0) / 1000000 ))
FIRST=$(grep -m1 "raydar collector: server \"ray\": .* $TERMINAL new" "$TMP/pg.log" || true)
[ -n "$FIRST" ] || { echo "no DEBUG1 line for the first poll" >&2; exit 1; }
FETCH_MS=$(sed -n 's/.*fetch \([0-9.]*\) ms.*/\1/p' <<<"$FIRST")
KEYS_MS=$(sed -n 's/.*keys \([0-9.]*\) ms.*/\1/p' <<<"$FIRST")
WRITE_MS=$(sed -n 's/.*decode+write \([0-9.]*\) ms.*/\1/p' <<<"$FIRST")

# ---------------------------------------------------------------- 2. baseline
say "baseline: COPY of the same rows into an unindexed table, median of 3"
# The collector is paused meanwhile: its polls would compete for the CPUs.
collector() { psql_ -c "ALTER SYSTEM SET raydar.collector = $1" -c "SELECT pg_reload_conf()" >/dev/null; }
collector off
sleep 1
chmod 777 "$TMP"
psql_ -c "COPY (SELECT * FROM raydar.task_history) TO '$TMP/rows.copy'" >/dev/null
psql_ -c "CREATE TABLE copy_baseline (LIKE raydar.task_history)"
COPIES=()
for _ in 1 2 3; do
  psql_ -c "TRUNCATE copy_baseline" >/dev/null
  COPIES+=("$(psql_ -c '\timing on' -c "COPY copy_baseline FROM '$TMP/rows.copy'" |
              sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')")
done
COPY_MS=$(printf '%s\n' "${COPIES[@]}" | sort -n | sed -n 2p)

# PostgreSQL's own floor for these rows in this table: INSERT ... SELECT of
# the ready rows (nothing to decode) into task_history with its indexes, in
# key order as the collector writes. Any client pays at least this.
say "floor: INSERT ... SELECT of the same rows into task_history, median of 3"
FLOORS=()
for _ in 1 2 3; do
  psql_ -c "TRUNCATE raydar.task_history" -c "CHECKPOINT" >/dev/null
  FLOORS+=("$(psql_ -c '\timing on' -c "INSERT INTO raydar.task_history SELECT * FROM copy_baseline ORDER BY cluster, task_id" |
              sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')")
done
FLOOR_MS=$(printf '%s\n' "${FLOORS[@]}" | sort -n | sed -n 2p)
collector on

# ---------------------------------------------------------------- 3. idle
say "idle: $IDLE s of polls that find nothing new"
PID=$(psql_ -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'raydar collector'")
sleep 1
cpu() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
polls() { grep -c "raydar collector: server \"ray\": " "$TMP/pg.log" || true; }
C0=$(cpu); P0=$(polls)
sleep "$IDLE"
C1=$(cpu); P1=$(polls)
NPOLLS=$((P1 - P0))
[ "$NPOLLS" -gt 0 ] || { echo "no idle polls seen" >&2; exit 1; }
IDLE_NEW=$(grep "raydar collector: server \"ray\": " "$TMP/pg.log" | tail -n "$NPOLLS" | grep -vc " 0 new" || true)
HZ=$(getconf CLK_TCK)
IDLE_CPU_MS=$("$PY" -c "print(f'{($C1 - $C0) * 1000 / $HZ / $NPOLLS:.1f}')")
IDLE_SPLIT=$(grep "raydar collector: server \"ray\": .* 0 new" "$TMP/pg.log" | tail -n "$NPOLLS" |
  "$PY" -c "
import re, statistics, sys
rows = [[float(x) for x in re.findall(r'([0-9.]+) ms', l)] for l in sys.stdin]
print(' / '.join(f'{statistics.median(c):.1f}' for c in zip(*rows)))")

# ---------------------------------------------------------------- report
"$PY" - "$TERMINAL" "$WALL_MS" "$FETCH_MS" "$KEYS_MS" "$WRITE_MS" "$COPY_MS" \
      "$NPOLLS" "$IDLE_CPU_MS" "$IDLE_SPLIT" "$IDLE_NEW" "$FLOOR_MS" <<'PY'
import sys
n, wall, fetch, keys, write, copy, npolls, idle_cpu, idle_split, idle_new, floor = sys.argv[1:]
floor = float(floor)
n, wall, fetch, keys, write, copy = int(n), float(wall), float(fetch), float(keys), float(write), float(copy)
print()
print(f"| collector, {n:,} finished attempts | measured | baseline (same run) | ratio | target |")
print("|---|---|---|---|---|")
print(f"| track() to all in task_history (wall) | {wall:,.0f} ms | COPY, unindexed: {copy:,.0f} ms | {wall / copy:.2f}x | 2,000 ms |")
print(f"| first poll: fetch / keys / decode+write | {fetch:,.0f} / {keys:,.0f} / {write:,.0f} ms | | | |")
print(f"| first poll's decode+write vs COPY | {write:,.0f} ms | {copy:,.0f} ms | {write / copy:.2f}x | |")
print(f"| first poll's decode+write vs PostgreSQL's floor | {write:,.0f} ms | INSERT ... SELECT of ready rows into task_history: {floor:,.0f} ms | {write / floor:.2f}x | |")
print(f"| ingest rate (wall) | {n / wall * 1000:,.0f} attempts/s | | | 50,000/s |")
print(f"| idle poll, collector CPU ({npolls} polls) | {idle_cpu} ms | | | 50 ms |")
print(f"| idle poll median fetch / keys / write | {idle_split} ms | | | |")
if idle_new != "0":
    print(f"\nwarning: {idle_new} of the last polls found new attempts; the idle numbers include them")
PY
