#!/usr/bin/env bash
# bench/push/run.sh: the push receiver's ingest benchmark, one command, as
# root from anywhere (make install first):
#
#   bash bench/push/run.sh
#
# A throwaway PostgreSQL 15 with raydar preloaded and the receiver listening;
# the simulator's load generator (test/raysim/push_load.py: Ray's FEB26
# aggregator policy, one POST in flight per node) pushes task attempts from
# BENCH_NODES nodes. Measured in one run:
#   1. sustained ingest: BENCH_ATTEMPTS attempts as fast as the receiver
#      acknowledges them: attempts/s and events/s until every batch is
#      acknowledged, and until all are in task_history (both timed from
#      the first POST: the events are encoded before it);
#   2. latency at a fixed rate: BENCH_RATE attempts/s for BENCH_RATE_SECONDS:
#      POST latency percentiles, whether the rate was kept, and how many of
#      its attempts were merged by its last acknowledgement (the merged
#      rate sustained at that load);
#   3. memory: the receiver's (and the merger's) peak RSS (VmHWM) over both;
#      the rows the merge wrote per attempt (pg_stat_user_tables) in each
#      run, and the merger's CPU an attempt in the fixed-rate one;
#   4. the baseline: COPY of the same rows (exported from task_history) into
#      an unindexed table LIKE it, median of 3, as attempts/s.
# Prints a markdown table. Knobs: BENCH_ATTEMPTS (200000), BENCH_NODES (4),
# BENCH_RATE (10000), BENCH_RATE_SECONDS (20), BENCH_PROCS (sender processes,
# 1; each its own event ids), BENCH_PGBIN (PostgreSQL's
# bin directory), BENCH_SQL (SQL run after CREATE EXTENSION, to try a
# storage setting), BENCH_KEEP=1 keeps the temp dir.
set -euo pipefail

cd "$(dirname "$0")/../.."
. bench/lib.sh
PGBIN=${BENCH_PGBIN:-$PGBIN}
ATTEMPTS=${BENCH_ATTEMPTS:-200000}
NODES=${BENCH_NODES:-4}
RATE=${BENCH_RATE:-10000}
RATE_S=${BENCH_RATE_SECONDS:-20}
PROCS=${BENCH_PROCS:-1}
bench_init pbench
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_pg "raydar.event_receiver_listen = '127.0.0.1:$PORT'
${BENCH_PG_CONF:-}"
psql_ -c "CREATE EXTENSION raydar" -c "SELECT raydar.receive_events('bench'); SELECT raydar.receive_events('rate');" ${BENCH_SQL:+-c "$BENCH_SQL"} >/dev/null
for _ in $(seq 100); do
  grep -q "event receiver listening" "$TMP/pg.log" && break; sleep 0.1
done
rpid=$(psql_ -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'raydar event receiver'")

say "pushing $ATTEMPTS attempts from $NODES nodes as fast as acknowledged"
"$PY" test/raysim/push_load.py --url "http://127.0.0.1:$PORT/events/bench" --attempts "$ATTEMPTS" \
  --nodes "$NODES" --procs "$PROCS" --pregenerate --timeout 1200 >"$TMP/load.json"
until [ "$(psql_ -c "SELECT count(*) FROM raydar.task_history WHERE cluster = 'bench'")" -ge "$ATTEMPTS" ]; do sleep 0.2; done
t1=$(date +%s.%N)
# From the first POST: the load generator encodes every event first
# (--pregenerate), which is not the receiver's time.
stored_s=$("$PY" -c "import json; print(round($t1 - json.load(open('$TMP/load.json'))['posting_since'], 2))")
# What the merge wrote per attempt (pg_stat_user_tables, partitions summed;
# the merger reports its statistics at most once a second).
write_counts() {
  psql_ -F ' ' -c "SELECT CASE WHEN relname LIKE 'task_history%' THEN 'task_history' ELSE relname END AS t,
      sum(n_tup_ins), sum(n_tup_upd), sum(n_tup_hot_upd), sum(n_tup_del)
    FROM pg_stat_user_tables WHERE schemaname LIKE 'raydar%'
      AND (relname LIKE 'task_history%' OR relname IN ('task_live', 'event_attempts', 'event_ids', 'event_spool'))
    GROUP BY 1 ORDER BY 1"
}
mcpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sleep 2
write_counts >"$TMP/writes1.txt"
mpid=$(psql_ -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'raydar event merger'")

mcpu0=$(mcpu "$mpid")
say "pushing $RATE attempts/s for $RATE_S s"
"$PY" test/raysim/push_load.py --url "http://127.0.0.1:$PORT/events/rate" --attempts $((RATE * RATE_S)) \
  --nodes "$NODES" --procs "$PROCS" --pregenerate --rate "$RATE" --timeout 1200 >"$TMP/rate.json"
# The drain's lag: the backlog when the offered load stopped, and how long
# until it was merged.
backlog=$(psql_ -c "SELECT count(*) FROM raydar.event_spool")
t2=$(date +%s.%N)
# What the merger kept up with: attempts in history from the first POST of
# the fixed-rate run to its last acknowledgement (the attempts all finish).
rate_merged=$(psql_ -c "SELECT count(*) FROM raydar.task_history WHERE cluster = 'rate'")
until [ "$(psql_ -c "SELECT count(*) FROM raydar.event_spool")" -eq 0 ]; do sleep 0.1; done
drain_s=$("$PY" -c "print(round($(date +%s.%N) - $t2, 1))")
mcpu1=$(mcpu "$mpid")
sleep 2
write_counts >"$TMP/writes2.txt"
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$rpid/status")
mhwm=$(awk '/VmHWM/ {print $2}' "/proc/$mpid/status" 2>/dev/null || echo 0)

say "baseline: COPY of the same rows into an unindexed table"
copy_med=$(copy_baseline bench)

"$PY" - "$TMP/load.json" "$TMP/rate.json" "$ATTEMPTS" "$stored_s" "$copy_med" "$hwm" "$RATE" "${mhwm:-0}" "$TMP/writes1.txt" "$backlog" "$drain_s" "$rate_merged" "$t2" "$TMP/writes2.txt" "$((mcpu1 - mcpu0))" <<'PY'
import json, sys
load, rate = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
n, stored_s, copy_ms, hwm, want = int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7])
mhwm = int(sys.argv[8] or 0)
def counts(path):
    return {l.split()[0]: [int(x) for x in l.split()[1:]] for l in open(path) if l.strip()}
def per_attempt(now, before, k):
    return "; ".join("%s: ins %.2f upd %.2f (hot %.2f) del %.2f per attempt"
                     % ((t,) + tuple((v - before.get(t, [0] * 4)[i]) / k for i, v in enumerate(c)))
                     for t, c in sorted(now.items()))
w1, w2 = counts(sys.argv[9]), counts(sys.argv[14])
merger_ticks = int(sys.argv[15])
backlog, drain_s = int(sys.argv[10]), float(sys.argv[11])
rate_merged, rate_window = int(sys.argv[12]), float(sys.argv[13]) - rate["posting_since"]
copy_rate = n / (copy_ms / 1000.0)
print("| measure | value |")
print("|---|---|")
print("| sustained ingest, acknowledged | %d attempts in %.1f s: **%.0f attempts/s**, %.0f events/s |"
      % (n, load["elapsed_s"], load["attempts_per_s"], load["events_per_s"]))
print("| sustained ingest, all in task_history | %.1f s: %.0f attempts/s |" % (stored_s, n / stored_s))
print("| POST latency, as fast as possible | p50 %s ms, p99 %s ms |" % (load["latency_ms"]["p50"], load["latency_ms"]["p99"]))
print("| POST latency at %.0f attempts/s | kept %.0f attempts/s; p50 %s ms, p99 **%s ms**, max %s ms |"
      % (want, rate["attempts_per_s"], rate["latency_ms"]["p50"], rate["latency_ms"]["p99"], rate["latency_ms"]["p100"]))
print("| merged while %.0f attempts/s were offered | %d of %d attempts in %.1f s: **%.0f attempts/s** |"
      % (want, rate_merged, rate["attempts"], rate_window, rate_merged / rate_window))
print("| drain lag after the fixed-rate run | %d bodies acknowledged and not yet merged; merged %.1f s later |" % (backlog, drain_s))
print("| receiver peak RSS (VmHWM) | %.0f MB%s |" % (hwm / 1024.0, ", merger %.0f MB" % (mhwm / 1024.0) if mhwm else ""))
print("| baseline: COPY of the same rows, unindexed | %d ms: %.0f attempts/s |" % (copy_ms, copy_rate))
print("| receiver / COPY | %.2f acknowledged, %.2f in task_history |" % (load["attempts_per_s"] / copy_rate, n / stored_s / copy_rate))
print("| merger CPU while %.0f attempts/s were offered | %.0f us an attempt (its drain included) |"
      % (want, merger_ticks * 10000.0 / rate["attempts"]))
print("| rows written (as fast as acknowledged) | %s |" % per_attempt(w1, {}, n))
print("| rows written (at %.0f attempts/s) | %s |" % (want, per_attempt(w2, w1, rate["attempts"])))
PY
