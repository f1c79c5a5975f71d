#!/usr/bin/env bash
# bench/node_metrics/run.sh: the metrics scraper under load, one command, as
# root from anywhere (make install first):
#
#   bash bench/node_metrics/run.sh
#
# Starts the Ray simulator with BENCH_NODES nodes, each serving about
# BENCH_SERIES series at /metrics (Ray's node gauges plus a user gauge,
# raysim/metrics_endpoint.py, no timestamps: samples take the scrape's
# time), and a throwaway PostgreSQL 15 with raydar preloaded, scraping
# every BENCH_INTERVAL_MS with raydar.metrics_keep = '*'. Over
# BENCH_SECONDS it measures:
#   1. lag per scrape: the spacing of consecutive scrape starts of each node
#      (the interval when it keeps up) and the time from a scrape's start to
#      its commit (scrape_status.last_duration, read every second);
#   2. CPU per scrape: the scraper's utime+stime from /proc over the run,
#      divided by its cycles (all nodes) and by node scrapes;
#   3. bytes per sample on disk: metric_samples (heap, primary key, all
#      partitions) over its rows, against the baseline measured in the same
#      run, the same rows COPYed into an unindexed table of the same
#      three columns (the least PostgreSQL can store them in);
# prints a markdown table and removes everything, also on failure or ^C.
#
# Knobs: BENCH_NODES (20), BENCH_SERIES (1000), BENCH_INTERVAL_MS (1000),
# BENCH_SECONDS (60), BENCH_KEEP=1 keeps the temp dir, BENCH_PGBIN runs
# another PostgreSQL 15 build (its pg_config must come first in PATH).
set -euo pipefail

cd "$(dirname "$0")/../.."
. bench/lib.sh
PGBIN=${BENCH_PGBIN:-$PGBIN}
NODES=${BENCH_NODES:-20}
SERIES=${BENCH_SERIES:-1000}
INTERVAL_MS=${BENCH_INTERVAL_MS:-1000}
SECONDS_=${BENCH_SECONDS:-60}
bench_init nmbench

# Ray's own series per idle node (metrics_endpoint.py) are 22; the
# user gauge makes up the rest.
EXTRA=$((SERIES - 22))
say "starting the simulator: $NODES nodes x $SERIES series"
start_sim --scenario classic --scenario-params "{\"nodes\": $NODES, \"count\": 10}" \
  --metrics "{\"timestamps\": false, \"extra_series\": $EXTRA}"
GRPC_PORT=$(sim_port grpc_port)

say "starting a throwaway PostgreSQL 15 (scrape every $INTERVAL_MS ms)"
start_pg "raydar.metrics_interval = '${INTERVAL_MS}ms'
raydar.metrics_keep = '*'
raydar.poll_interval = '1h'"
psql_ >/dev/null <<SQL
CREATE EXTENSION raydar;
CREATE SERVER ray FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:$GRPC_PORT');
CREATE USER MAPPING FOR CURRENT_USER SERVER ray;
SELECT raydar.track('ray');
SQL

# Wait for the first scrape of every node, then measure from a clean slate.
for _ in $(seq 300); do
  [ "$(psql_ -c "SELECT count(*) FROM raydar.scrape_status WHERE scrapes > 0")" = "$NODES" ] && break
  sleep 0.1
done
PID=$(psql_ -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'raydar metrics scraper'")
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
HZ=$(getconf CLK_TCK)
psql_ -c "CREATE TABLE bench_durations (at timestamptz, node_id text, d interval)"
psql_ -c "TRUNCATE raydar.metric_samples; UPDATE raydar.scrape_status SET scrapes = 0, errors = 0"
T0=$(cpu_ticks)
START=$(date +%s.%N)
say "scraping for $SECONDS_ s"
for _ in $(seq "$SECONDS_"); do
  sleep 1
  psql_ -c "INSERT INTO bench_durations SELECT now(), node_id, last_duration FROM raydar.scrape_status"
done
T1=$(cpu_ticks)
END=$(date +%s.%N)
psql_ -c "ALTER SYSTEM SET raydar.metrics_interval = 'off'" -c 'SELECT pg_reload_conf()' >/dev/null
sleep 2

read -r CYCLES SCRAPES ERRORS MINS MAXS <<<"$(psql_ -F ' ' -c "
  SELECT max(scrapes), sum(scrapes), sum(errors), min(scrapes), max(scrapes) FROM raydar.scrape_status")"
read -r ROWS NSERIES <<<"$(psql_ -F ' ' -c "
  SELECT count(*), count(DISTINCT series_id) FROM raydar.metric_samples")"
read -r SP50 SP95 SPMAX <<<"$(psql_ -F ' ' -c "
  WITH starts AS (SELECT DISTINCT r.node_id, s.time FROM raydar.metric_samples s JOIN raydar.metric_series r USING (series_id)),
  gaps AS (SELECT extract(epoch FROM time - lag(time) OVER (PARTITION BY node_id ORDER BY time)) * 1000 AS ms FROM starts)
  SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)), round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)),
         round(max(ms)) FROM gaps WHERE ms IS NOT NULL")"
read -r D50 D95 DMAX <<<"$(psql_ -F ' ' -c "
  SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)), round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)),
         round(max(ms)) FROM (SELECT extract(epoch FROM d) * 1000 AS ms FROM bench_durations WHERE d IS NOT NULL) x")"
read -r BYTES HEAP <<<"$(psql_ -F ' ' -c "
  SELECT sum(pg_total_relation_size(i.inhrelid)), sum(pg_relation_size(i.inhrelid))
    FROM pg_inherits i WHERE i.inhparent = 'raydar.metric_samples'::regclass")"
psql_ >/dev/null <<SQL
CREATE TABLE bench_baseline (time timestamptz, series_id bigint, value float8);
COPY (SELECT time, series_id, value FROM raydar.metric_samples) TO '$TMP/samples.copy';
COPY bench_baseline FROM '$TMP/samples.copy';
VACUUM bench_baseline;
SQL
BASE=$(psql_ -c "SELECT pg_total_relation_size('bench_baseline')")

awk -v nodes="$NODES" -v series="$SERIES" -v iv="$INTERVAL_MS" -v secs="$SECONDS_" \
    -v cycles="$CYCLES" -v scrapes="$SCRAPES" -v errors="$ERRORS" -v mins="$MINS" -v maxs="$MAXS" \
    -v rows="$ROWS" -v nseries="$NSERIES" -v sp50="$SP50" -v sp95="$SP95" -v spmax="$SPMAX" \
    -v d50="$D50" -v d95="$D95" -v dmax="$DMAX" -v bytes="$BYTES" -v heap="$HEAP" -v base="$BASE" \
    -v ticks="$((T1 - T0))" -v hz="$HZ" -v wall="$(echo "$END - $START" | bc)" 'BEGIN {
  cpu_ms = ticks * 1000 / hz
  printf "| what | value |\n|---|---|\n"
  printf "| load | %d nodes x %d series, every %d ms, %d s |\n", nodes, series, iv, secs
  printf "| scrapes per node | %d to %d (%d in all, %d errors) |\n", mins, maxs, scrapes, errors
  printf "| samples written | %d (%d series) |\n", rows, nseries
  printf "| spacing of a node'"'"'s scrape starts, ms: median / p95 / max | %s / %s / %s (interval %d) |\n", sp50, sp95, spmax, iv
  printf "| scrape start to commit, ms: median / p95 / max | %s / %s / %s |\n", d50, d95, dmax
  printf "| scraper CPU | %.0f ms in %.1f s (%.1f%% of a core) |\n", cpu_ms, wall, cpu_ms / (wall * 10)
  printf "| CPU per cycle (%d nodes) | %.1f ms |\n", nodes, cpu_ms / cycles
  printf "| CPU per node scrape (%d samples) | %.2f ms (%.2f us per sample) |\n", series, cpu_ms / scrapes, cpu_ms * 1000 / rows
  printf "| bytes per sample on disk: metric_samples (heap + key) | %.1f (heap %.1f) |\n", bytes / rows, heap / rows
  printf "| baseline: the same rows COPYed into an unindexed table | %.1f |\n", base / rows
  printf "| ratio to the baseline | %.2f |\n", bytes / base
}'
