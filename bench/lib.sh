# bench/lib.sh: what the end-to-end benchmarks share: a throwaway
# PostgreSQL 15 run as an ordinary user, the Ray simulator in its own
# session, and cleanup of both on exit, failure or ^C. Sourced, not run:
#
#   . "$(dirname "$0")/../lib.sh"      # from bench/<name>/run.sh
#   bench_init lag                     # checks, $TMP, the cleanup trap
#   start_sim --scenario many ...      # sets SIM_PID; sim_port grpc_port
#   start_pg "raydar.poll_interval = 500"   # extra postgresql.conf lines
#   psql_ -c "SELECT 1"
#
# BENCH_KEEP=1 keeps $TMP (logs, the data directory) for a look afterwards.
# BENCH_PGBIN runs another PostgreSQL 15 build (a private install; its
# pg_config must come first in PATH).

PY=/usr/bin/python3
PGBIN=${BENCH_PGBIN:-/usr/lib/postgresql/15/bin}
OSUSER=raydar_test
SIM_PID=

as() { runuser -u "$OSUSER" -- "$@"; }
say() { printf '[%s %s] %s\n' "$BENCH_NAME" "$(date +%T)" "$*" >&2; }

bench_cleanup() {
  [ -n "$SIM_PID" ] && kill -- -"$SIM_PID" 2>/dev/null || true
  as "$PGBIN/pg_ctl" -D "$TMP/pg" -m immediate stop >/dev/null 2>&1 || true
  [ "${BENCH_KEEP:-0}" = 1 ] && echo "kept $TMP" >&2 || rm -rf "$TMP"
}

# bench_init NAME: refuse to run without what the benchmark needs, make $TMP.
bench_init() {
  BENCH_NAME=$1
  [ "$(id -u)" -eq 0 ] || { echo "$BENCH_NAME: run as root (PostgreSQL runs as $OSUSER)" >&2; exit 1; }
  id "$OSUSER" >/dev/null 2>&1 ||
    { echo "$BENCH_NAME: user $OSUSER is missing (scripts/test.sh makes it)" >&2; exit 1; }
  [ -f "$(pg_config --pkglibdir)/raydar.so" ] ||
    { echo "$BENCH_NAME: raydar is not installed (make && make install)" >&2; exit 1; }
  TMP=$(mktemp -d "/tmp/raydar-$BENCH_NAME.XXXXXX")
  chmod 755 "$TMP"
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

# start_sim ARGS...: the simulator (test/raysim/raysim.py) with ARGS, in its
# own session so that cleanup ends all of it; waits for its port file.
start_sim() {
  setsid "$PY" test/raysim/raysim.py "$@" --port 0 --admin-port 0 --port-file "$TMP/sim.json" \
      >"$TMP/sim.log" 2>&1 &
  SIM_PID=$!
  for _ in $(seq 600); do [ -s "$TMP/sim.json" ] && break; kill -0 "$SIM_PID" || exit 1; sleep 0.1; done
  [ -s "$TMP/sim.json" ] || { echo "$BENCH_NAME: the simulator did not start" >&2; exit 1; }
}

# sim_port KEY: a value of the simulator's port file (grpc_port, admin_port, ...).
sim_port() { "$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$TMP/sim.json" "$1"; }

# start_pg "CONF LINES": initdb and start PostgreSQL in $TMP/pg with raydar
# preloaded, a socket in $TMP and no TCP, plus the given settings.
start_pg() {
  mkdir -p "$TMP/pg"
  chown -R "$OSUSER" "$TMP"
  as "$PGBIN/initdb" -D "$TMP/pg" -A trust -U postgres --encoding=UTF8 --no-locale >"$TMP/initdb.log"
  cat >>"$TMP/pg/postgresql.conf" <<CONF
shared_preload_libraries = 'raydar'
raydar.database = 'postgres'
listen_addresses = ''
unix_socket_directories = '$TMP'
timezone = 'UTC'
jit = off
$1
CONF
  as "$PGBIN/pg_ctl" -D "$TMP/pg" -l "$TMP/pg.log" -w start >/dev/null
}

psql_() { as "$PGBIN/psql" -X -q -At -h "$TMP" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }

# copy_baseline CLUSTER: the push benchmarks' baseline, COPY of CLUSTER's
# task_history rows into an unindexed table LIKE it; prints the median of
# three, in ms.
copy_baseline() {
  psql_ -c "COPY (SELECT * FROM raydar.task_history WHERE cluster = '$1') TO '$TMP/rows.copy'" >/dev/null
  local ms=() s
  for _ in 1 2 3; do
    psql_ -c "DROP TABLE IF EXISTS copy_target; CREATE TABLE copy_target (LIKE raydar.task_history)" >/dev/null
    s=$(date +%s%N)
    psql_ -c "COPY copy_target FROM '$TMP/rows.copy'" >/dev/null
    ms+=($(( ($(date +%s%N) - s) / 1000000 )))
  done
  printf '%s\n' "${ms[@]}" | sort -n | sed -n 2p
}
