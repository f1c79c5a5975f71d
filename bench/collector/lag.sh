#!/usr/bin/env bash
# bench/collector/lag.sh: how long a finished task takes to become visible
# in raydar.task_history under load. One command, as root from anywhere
# (make install first):
#
#   bash bench/collector/lag.sh
#
# Starts the Ray simulator's `stream` scenario (LAG_RATE tasks per second
# for LAG_SECONDS, in real time, the GCS capped at 100,000 attempts as Ray's
# default) and a throwaway PostgreSQL 15 with the collector polling every
# LAG_POLL_MS, with track_commit_timestamp on. The lag of each attempt is
# exact: the commit time of the transaction that wrote it, minus its
# end_time (the simulator's clock is this machine's clock). Prints the lag
# distribution against the target (poll interval + 1 s), the collector's
# measured poll cycle (the baseline: the lag a poll can't avoid is about one
# cycle plus the interval), and checks nothing was lost: every attempt the
# scenario finished is in history once, and none vanished.
#
# Knobs: LAG_RATE (10000), LAG_SECONDS (20), LAG_POLL_MS (1000),
# BENCH_KEEP=1 keeps the temp dir.
set -euo pipefail

cd "$(dirname "$0")/../.."
. bench/lib.sh
RATE=${LAG_RATE:-10000}
SECONDS_=${LAG_SECONDS:-20}
POLL_MS=${LAG_POLL_MS:-1000}
START_MS=6000
bench_init lag

say "starting a throwaway PostgreSQL 15 (poll interval $POLL_MS ms, track_commit_timestamp on)"
start_pg "raydar.poll_interval = $POLL_MS
track_commit_timestamp = on
log_min_messages = debug1"

say "starting the simulator: scenario stream, $RATE tasks/s for $SECONDS_ s, in real time"
start_sim --scenario stream \
    --scenario-params "{\"rate\": $RATE, \"seconds\": $SECONDS_, \"start_ms\": $START_MS}" \
    --speed 1 --max-tasks 100000
GRPC_PORT=$(sim_port grpc_port)
psql_ >/dev/null <<SQL
CREATE EXTENSION raydar;
CREATE SERVER ray FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:$GRPC_PORT', timeout_ms '30000');
CREATE USER MAPPING FOR CURRENT_USER SERVER ray;
SELECT raydar.track('ray');
SQL

TOTAL=$("$PY" -c "print(int($RATE * $SECONDS_))")
say "tracking; waiting for the $TOTAL tasks to run and land"
DEADLINE=$(( $(date +%s) + SECONDS_ + START_MS / 1000 + 30 ))
while [ "$(date +%s)" -lt "$DEADLINE" ]; do
  [ "$(psql_ -c "SELECT count(*) FROM raydar.task_history WHERE name = 'stream_task'")" = "$TOTAL" ] && break
  sleep 0.5
done

# ---------------------------------------------------------------- report
psql_ -F '|' -c "
SELECT count(*), count(DISTINCT (task_id, attempt_number)),
       round(1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY lag))::int,
       round(1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY lag))::int,
       round(1000 * max(lag))::int,
       (SELECT vanished FROM raydar.collector_status WHERE server = 'ray'),
       (SELECT dropped_reported FROM raydar.collector_status WHERE server = 'ray')
FROM (SELECT task_id, attempt_number,
             extract(epoch FROM pg_xact_commit_timestamp(xmin) - end_time) AS lag
      FROM raydar.task_history WHERE name = 'stream_task') l" >"$TMP/lag.txt"
grep "raydar collector: server \"ray\": " "$TMP/pg.log" | grep -v " 0 new" >"$TMP/polls.txt" || true

"$PY" - "$TOTAL" "$RATE" "$POLL_MS" "$TMP/lag.txt" "$TMP/polls.txt" <<'PY'
import re, statistics, sys
total, rate, poll_ms = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
rows, distinct, p50, p99, mx, vanished, dropped = open(sys.argv[4]).read().strip().split("|")
rows, distinct, p50, p99, mx = int(rows), int(distinct), int(p50 or 0), int(p99 or 0), int(mx or 0)
cycles = []
for l in open(sys.argv[5]):
    ms = [float(x) for x in re.findall(r"([0-9.]+) ms", l)]
    cycles.append(sum(ms))
cyc = statistics.median(cycles) if cycles else float("nan")
target = poll_ms + 1000
print()
print(f"| collector lag, {rate:,.0f} tasks/s | measured | baseline (same run) | ratio | target |")
print("|---|---|---|---|---|")
print(f"| attempts in history / finished by the scenario | {rows:,} / {total:,} ({distinct:,} distinct) | | | all, once |")
print(f"| lag FINISHED -> committed, p50 | {p50:,} ms | poll interval + median busy poll ({len(cycles)} polls): {poll_ms + cyc:,.0f} ms | {p50 / (poll_ms + cyc):.2f}x | |")
print(f"| lag p99 | {p99:,} ms | | | |")
print(f"| lag max | {mx:,} ms | target: poll interval + 1 s = {target:,} ms | {mx / target:.2f}x | <= {target:,} ms |")
print(f"| vanished (seen live, gone unfinished) | {vanished} | | | 0 |")
print(f"| dropped_reported (Ray's count of attempts it evicted at its cap) | {int(dropped):,} | | | (saved before eviction) |")
ok = rows == total and distinct == total and mx <= target and vanished == "0"
print(f"\nresult: {'target met' if ok else 'target NOT met'}")
PY
