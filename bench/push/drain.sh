#!/usr/bin/env bash
# bench/push/drain.sh: the push merger alone. A throwaway PostgreSQL with
# the receiver; the merger processes are stopped (SIGSTOP) while the load
# generator spools BENCH_ATTEMPTS attempts (4 nodes, as fast as
# acknowledged), then continued, and the drain is timed until the spool is
# empty: attempts merged per second and the merger's CPU seconds
# (/proc/<pid>/stat), the WAL it wrote an attempt, and where each of its
# threads spent the drain (/proc/<pid>/task/*/schedstat: on a CPU, waiting
# for one, off). BENCH_PERF=record profiles the drain with perf into
# $TMP/perf.data (BENCH_KEEP=1 keeps it). The baseline, as in run.sh: COPY
# of the same rows into an unindexed table LIKE task_history, median of
# three. Knobs as bench/push/run.sh:
# BENCH_PG_CONF, BENCH_PGBIN. Run as root after `make install`.
set -euo pipefail

cd "$(dirname "$0")/../.."
. bench/lib.sh
PGBIN=${BENCH_PGBIN:-$PGBIN}
ATTEMPTS=${BENCH_ATTEMPTS:-200000}
bench_init pdrain
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_pg "raydar.event_receiver_listen = '127.0.0.1:$PORT'
raydar.event_spool_max = '4GB'
${BENCH_PG_CONF:-}"
psql_ -c "CREATE EXTENSION raydar" -c "SELECT raydar.receive_events('drain')" >/dev/null
for _ in $(seq 100); do grep -q "event receiver listening" "$TMP/pg.log" && break; sleep 0.1; done
sleep 1
mpids=$(psql_ -c "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE backend_type = 'raydar event merger'")
cpu() { for p in $mpids; do awk '{print $14 + $15}' "/proc/$p/stat"; done | awk '{s += $1} END {print s}'; }
# per thread of the merger: ns on a CPU, ns runnable but waiting for one
sched() { for p in $mpids; do for t in /proc/$p/task/*; do echo "$(basename "$t") $(cat "$t/schedstat")"; done; done; }
# shellcheck disable=SC2086
kill -STOP $mpids
"$PY" test/raysim/push_load.py --url "http://127.0.0.1:$PORT/events/drain" --attempts "$ATTEMPTS" \
  --nodes 4 --pregenerate --timeout 1200 >"$TMP/load.json"
say "spooled: $(psql_ -c "SELECT count(*) || ' bodies, ' || pg_size_pretty(pg_total_relation_size('raydar.event_spool')) FROM raydar.event_spool")"
psql_ -c "CHECKPOINT" >/dev/null
c0=$(cpu)
s0=$(sched)
w0=$(psql_ -c "SELECT pg_current_wal_lsn()")
t0=$(date +%s.%N)
if [ "${BENCH_PERF:-}" = record ]; then
  perf record -F 999 -g -p "$(echo "$mpids" | tr ' ' ,)" -o "$TMP/perf.data" >/dev/null 2>&1 & perf_pid=$!
fi
# shellcheck disable=SC2086
kill -CONT $mpids
until [ "$(psql_ -c "SELECT count(*) FROM raydar.event_spool")" -eq 0 ]; do sleep 0.1; done
t1=$(date +%s.%N)
c1=$(cpu)
s1=$(sched)
w1=$(psql_ -c "SELECT pg_current_wal_lsn()")
say "WAL: $(psql_ -c "SELECT pg_size_pretty(pg_wal_lsn_diff('$w1', '$w0')) || ', ' || round(pg_wal_lsn_diff('$w1', '$w0') / $ATTEMPTS) || ' bytes an attempt'")"
# Where each merger thread's drain time went: on a CPU, waiting for one
# (the cores were busy), or off (I/O, locks, the other thread).
"$PY" - "$t0" "$t1" "$s0" "$s1" <<'PYEOF' | while read -r l; do say "$l"; done
import sys
wall = float(sys.argv[2]) - float(sys.argv[1])
before = {l.split()[0]: [int(x) for x in l.split()[1:3]] for l in sys.argv[3].splitlines()}
for l in sys.argv[4].splitlines():
    t, run, wait = l.split()[:3]
    if t in before:
        run = (int(run) - before[t][0]) / 1e9
        wait = (int(wait) - before[t][1]) / 1e9
        print("merger thread %s: on a CPU %.1f s (%.0f%% of the drain), waiting for one %.1f s, off %.1f s"
              % (t, run, 100 * run / wall, wait, wall - run - wait))
PYEOF
if [ -n "${perf_pid:-}" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; say "perf data: $TMP/perf.data"; fi
n=$(psql_ -c "SELECT count(*) FROM raydar.task_history WHERE cluster = 'drain'")
copy_med=$(copy_baseline drain)
echo "| attempts | drain | merged | merger CPU | COPY, unindexed | merged / COPY |"
echo "|---|---|---|---|---|---|"
"$PY" -c "n, d, c, cm = $n, $t1 - $t0, ($c1 - $c0) / 100.0, $copy_med / 1000.0; print('| %d | %.1f s | **%.0f attempts/s** | %.1f s (%.0f us an attempt) | %.0f attempts/s | %.2f |' % (n, d, n / d, c, c * 1e6 / max(n, 1), n / cm, (n / d) / (n / cm)))"
