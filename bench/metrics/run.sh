#!/usr/bin/env bash
# bench/metrics/run.sh: metrics-table benchmarks, one command, as root from
# anywhere (or as an ordinary user who can run initdb):
#
#   bash bench/metrics/run.sh
#
# Starts a throwaway PostgreSQL 15 with raydar installed (make install
# first), then measures
#   1. raydar.update() of 10,000 rows in one call, against a plain
#      multi-row INSERT of the same rows (both sent as one statement by psql,
#      median of BENCH_RUNS timed runs after a warm-up);
#   2. pgbench, 32 clients inserting single metric rows for PGBENCH_SECONDS
#      (60): plain INSERT, then SELECT raydar.update() of one row;
# prints a markdown table and removes everything, also on failure or ^C.
#
# Knobs: BENCH_ROWS (10000), BENCH_RUNS (7), PGBENCH_SECONDS (60),
# PGBENCH_CLIENTS (32), BENCH_KEEP=1 keeps the temp dir.
set -euo pipefail

PGBIN=/usr/lib/postgresql/15/bin
ROWS=${BENCH_ROWS:-10000}
RUNS=${BENCH_RUNS:-7}
SECS=${PGBENCH_SECONDS:-60}
CLIENTS=${PGBENCH_CLIENTS:-32}
OSUSER=raydar_test

if [ "$(id -u)" -eq 0 ]; then
  id "$OSUSER" >/dev/null 2>&1 || { echo "run.sh: user $OSUSER is missing" >&2; exit 1; }
  as() { runuser -u "$OSUSER" -- "$@"; }
else
  as() { "$@"; }
fi
[ -f "$($PGBIN/pg_config --pkglibdir 2>/dev/null || pg_config --pkglibdir)/raydar.so" ] ||
  { echo "run.sh: raydar is not installed (make && make install)" >&2; exit 1; }

TMP=$(mktemp -d /tmp/raydar-mbench.XXXXXX)
chmod 755 "$TMP"
[ "$(id -u)" -eq 0 ] && chown "$OSUSER" "$TMP"
PORT=$((20000 + RANDOM % 20000))
cleanup() {
  as "$PGBIN/pg_ctl" -D "$TMP/data" -m immediate stop >/dev/null 2>&1 || true
  [ "${BENCH_KEEP:-0}" = 1 ] && echo "kept $TMP" || rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

as "$PGBIN/initdb" -D "$TMP/data" -A trust --encoding=UTF8 --no-locale >/dev/null
cat >> "$TMP/data/postgresql.conf" <<CONF
shared_preload_libraries = 'raydar'
listen_addresses = ''
unix_socket_directories = '$TMP'
port = $PORT
max_connections = 100
timezone = 'UTC'
CONF
as "$PGBIN/pg_ctl" -D "$TMP/data" -l "$TMP/log" -w start >/dev/null
PSQL=(as "$PGBIN/psql" -h "$TMP" -p "$PORT" -d postgres -X -q -v ON_ERROR_STOP=1)

"${PSQL[@]}" >/dev/null <<'SQL'
CREATE EXTENSION raydar;
SELECT raydar.create_metrics_table('bench',
  '{"node_id": "str", "metric_name": "str", "value": "float", "timestamp": "datetime"}');
SELECT raydar.create_metrics_table('bench_baseline',
  '{"node_id": "str", "metric_name": "str", "value": "float", "timestamp": "datetime"}');
SQL

# The same rows twice: a JSON array for raydar.update, VALUES for INSERT.
"${PSQL[@]}" -At -o "$TMP/update.sql" -c "
  SELECT format('SELECT raydar.update(''bench'', %L);',
         jsonb_agg(jsonb_build_object('node_id', 'node-' || (i % 32), 'metric_name', 'loss',
                   'value', 1.0 / i, 'timestamp', extract(epoch FROM now()) + i / 1000.0)))
    FROM generate_series(1, $ROWS) i"
"${PSQL[@]}" -At -o "$TMP/insert.sql" -c "
  SELECT 'INSERT INTO raydar_metrics.bench_baseline VALUES '
         || string_agg(format('(%L, %L, %s, to_timestamp(%s))', 'node-' || (i % 32), 'loss',
                              1.0 / i, extract(epoch FROM now()) + i / 1000.0), ', ') || ';'
    FROM generate_series(1, $ROWS) i"

# median_ms FILE: run FILE once to warm up, then RUNS times; median time.
median_ms() {
  local f=$1 i t=()
  for i in $(seq 0 "$RUNS"); do
    ms=$("${PSQL[@]}" -c '\timing on' -f "$f" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1)
    [ "$i" -gt 0 ] && t+=("$ms")
  done
  printf '%s\n' "${t[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'
}
chmod 644 "$TMP"/*.sql
upd=$(median_ms "$TMP/update.sql")
ins=$(median_ms "$TMP/insert.sql")
check=$("${PSQL[@]}" -At -c "SELECT (SELECT count(*) FROM raydar_metrics.bench) || '/' || (SELECT count(*) FROM raydar_metrics.bench_baseline)")

# pgbench: single-row inserts from CLIENTS clients.
cat > "$TMP/insert1.pgb" <<'PGB'
INSERT INTO raydar_metrics.bench VALUES ('node-' || :client_id, 'loss', random(), now());
PGB
cat > "$TMP/update1.pgb" <<'PGB'
SELECT raydar.update('bench', json_build_object('node_id', 'node-' || :client_id, 'metric_name', 'loss', 'value', random())::jsonb);
PGB
chmod 644 "$TMP"/*.pgb
pgb() {
  as "$PGBIN/pgbench" -h "$TMP" -p "$PORT" -n -c "$CLIENTS" -j 2 -T "$SECS" -f "$1" postgres > "$TMP/pgbench.out" 2>&1 ||
    { cat "$TMP/pgbench.out" >&2; echo "pgbench failed" >&2; exit 1; }
  local tps failed
  tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$TMP/pgbench.out")
  failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$TMP/pgbench.out")
  echo "${tps:-?} ${failed:-0} $(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$TMP/pgbench.out")"
}
read -r tps_ins fail_ins n_ins < <(pgb "$TMP/insert1.pgb")
read -r tps_upd fail_upd n_upd < <(pgb "$TMP/update1.pgb")
errors=$(grep -c 'ERROR' "$TMP/log" || true)

cat <<TABLE
raydar metrics benchmark, $(date -u +%Y-%m-%d), $(nproc) CPUs, PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}')

| measurement | result |
|---|---|
| raydar.update, $ROWS rows, one call (median of $RUNS) | $upd ms = $(awk -v ms="$upd" -v n="$ROWS" 'BEGIN {printf "%.0f", n / ms * 1000}') rows/s |
| plain multi-row INSERT of the same rows (baseline) | $ins ms = $(awk -v ms="$ins" -v n="$ROWS" 'BEGIN {printf "%.0f", n / ms * 1000}') rows/s |
| update / INSERT time | $(awk -v a="$upd" -v b="$ins" 'BEGIN {printf "%.2f", a / b}') |
| pgbench, $CLIENTS clients, single-row INSERT, ${SECS} s | $tps_ins tps, $n_ins rows, $fail_ins failed |
| pgbench, $CLIENTS clients, single-row raydar.update, ${SECS} s | $tps_upd tps, $n_upd rows, $fail_upd failed |
| server log ERROR lines | $errors |
| rows check (bench/baseline after timed runs) | $check |
TABLE
[ "$errors" = 0 ] && [ "$fail_ins" = 0 ] && [ "$fail_upd" = 0 ]
