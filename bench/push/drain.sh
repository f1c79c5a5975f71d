#!/usr/bin/env bash
# bench/push/drain.sh: the push merger alone. A throwaway PostgreSQL with
# the receiver; the merger processes are stopped (SIGSTOP) while the load
# generator spools BENCH_ATTEMPTS attempts (4 nodes, as fast as
# acknowledged), then continued, and the drain is timed until the spool is
# empty: attempts merged per second and the merger's CPU seconds
# (/proc/<pid>/stat). BENCH_PERF=record profiles the drain with perf into
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
# shellcheck disable=SC2086
kill -STOP $mpids
"$PY" test/raysim/push_load.py --url "http://127.0.0.1:$PORT/events/drain" --attempts "$ATTEMPTS" \
  --nodes 4 --pregenerate --timeout 1200 >"$TMP/load.json"
say "spooled: $(psql_ -c "SELECT count(*) || ' bodies, ' || pg_size_pretty(pg_total_relation_size('raydar.event_spool')) FROM raydar.event_spool")"
psql_ -c "CHECKPOINT" >/dev/null
c0=$(cpu)
t0=$(date +%s.%N)
if [ "${BENCH_PERF:-}" = record ]; then
  perf record -F 999 -g -p "$(echo "$mpids" | tr ' ' ,)" -o "$TMP/perf.data" >/dev/null 2>&1 & perf_pid=$!
fi
# shellcheck disable=SC2086
kill -CONT $mpids
until [ "$(psql_ -c "SELECT count(*) FROM raydar.event_spool")" -eq 0 ]; do sleep 0.1; done
t1=$(date +%s.%N)
c1=$(cpu)
if [ -n "${perf_pid:-}" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; say "perf data: $TMP/perf.data"; fi
n=$(psql_ -c "SELECT count(*) FROM raydar.task_history WHERE cluster = 'drain'")
copy_med=$(copy_baseline drain)
echo "| attempts | drain | merged | merger CPU | COPY, unindexed | merged / COPY |"
echo "|---|---|---|---|---|---|"
"$PY" -c "n, d, c, cm = $n, $t1 - $t0, ($c1 - $c0) / 100.0, $copy_med / 1000.0; print('| %d | %.1f s | **%.0f attempts/s** | %.1f s (%.0f us an attempt) | %.0f attempts/s | %.2f |' % (n, d, n / d, c, c * 1e6 / max(n, 1), n / cm, (n / d) / (n / cm)))"
