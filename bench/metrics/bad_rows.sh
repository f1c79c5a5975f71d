#!/usr/bin/env bash
# bench/metrics/bad_rows.sh: raydar.update() of BENCH_ROWS (200,000) rows
# with one bad value, against the same rows all good, in the same run
# (issue 12: the per-value diagnosis made the bad run 15 times slower).
#
#   bash bench/metrics/bad_rows.sh                 # the PostgreSQL of pg_config
#   PG_CONFIG=/opt/pg-x/.../pg_config bash bench/metrics/bad_rows.sh
#
# As root it runs the server as raydar_test. Starts a throwaway PostgreSQL
# with raydar installed (make install into that PostgreSQL first), times
# BENCH_RUNS (3) good runs and a bad run with the bad value first, in the
# middle and last (the INSERT fails early or late), and one whose bad value
# has the right JSON kind but does not convert (the bisection),
# and prints seconds and the ratio bad/good (median good run). Removes
# everything, also on failure or ^C.
set -euo pipefail

PGBIN=$("${PG_CONFIG:-pg_config}" --bindir)
ROWS=${BENCH_ROWS:-200000}
RUNS=${BENCH_RUNS:-3}
OSUSER=raydar_test

if [ "$(id -u)" -eq 0 ]; then
  as() { runuser -u "$OSUSER" -- "$@"; }
else
  as() { "$@"; }
fi
[ -f "$("$PGBIN/pg_config" --pkglibdir)/raydar.so" ] ||
  { echo "bad_rows.sh: raydar is not installed into $PGBIN/.. (make install)" >&2; exit 1; }

TMP=$(mktemp -d /tmp/raydar-badrows.XXXXXX)
chmod 755 "$TMP"
[ "$(id -u)" -eq 0 ] && chown "$OSUSER" "$TMP"
PORT=$((20000 + RANDOM % 20000))
cleanup() {
  as "$PGBIN/pg_ctl" -D "$TMP/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

as "$PGBIN/initdb" -D "$TMP/data" -A trust --encoding=UTF8 --no-locale >/dev/null
cat >> "$TMP/data/postgresql.conf" <<CONF
shared_preload_libraries = 'raydar'
listen_addresses = ''
unix_socket_directories = '$TMP'
port = $PORT
timezone = 'UTC'
CONF
as "$PGBIN/pg_ctl" -D "$TMP/data" -l "$TMP/log" -w start >/dev/null
PSQL=(as "$PGBIN/psql" -h "$TMP" -p "$PORT" -d postgres -X -q -v ON_ERROR_STOP=1)

"${PSQL[@]}" >/dev/null <<SQL
CREATE EXTENSION raydar;
SELECT raydar.create_metrics_table('bench',
  '{"node": "str", "step": "int", "value": "float", "ok": "bool", "extra": "json", "ts": "datetime"}');
CREATE TABLE input AS
SELECT jsonb_agg(jsonb_build_object('node', 'node-' || (i % 64), 'step', i, 'value', i * 0.001,
                                    'ok', i % 2 = 0, 'extra', CASE WHEN i % 5 = 0 THEN jsonb_build_object('k', i) END,
                                    'ts', extract(epoch FROM now())) ORDER BY i) AS good
  FROM generate_series(0, $ROWS - 1) i;
ALTER TABLE input ADD COLUMN bad jsonb;
SQL

# seconds(sql): wall time of one statement, in psql's own timing.
# A bad run ends in an error (psql exits 1): its time is still printed.
seconds() {
  { "${PSQL[@]}" -v ON_ERROR_STOP=0 -c '\timing on' -c "$1" 2>/dev/null || true; } |
    sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1 | awk '{ printf "%.3f", $1 / 1000 }'
}

goods=()
for _ in $(seq "$RUNS"); do
  goods+=("$(seconds "SELECT raydar.update('bench', good) FROM input")")
  "${PSQL[@]}" -c 'TRUNCATE raydar_metrics.bench'
done
good=$(printf '%s\n' "${goods[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')

echo "| run | rows | seconds | bad / good |"
echo "|---|---:|---:|---:|"
echo "| all good (median of $RUNS: ${goods[*]}) | $ROWS | $good | 1.00 |"
for at in 0 $((ROWS / 2 + 17)) $((ROWS - 1)); do
  "${PSQL[@]}" -c "UPDATE input SET bad = jsonb_set(good, '{$at,value}', '\"abc\"')"
  s=$(seconds "SELECT raydar.update('bench', bad) FROM input")
  echo "| one bad value at row $at | $ROWS | $s | $(awk -v b="$s" -v g="$good" 'BEGIN { printf "%.2f", b / g }') |"
done
# A value of the right JSON kind that does not convert: the bisection.
at=$((ROWS / 2 + 17))
"${PSQL[@]}" -c "UPDATE input SET bad = jsonb_set(good, '{$at,step}', '9223372036854775808')"
s=$(seconds "SELECT raydar.update('bench', bad) FROM input")
echo "| one int past 64 bits at row $at | $ROWS | $s | $(awk -v b="$s" -v g="$good" 'BEGIN { printf "%.2f", b / g }') |"
