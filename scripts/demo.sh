#!/usr/bin/env bash
# demo.sh: set everything up, start a throwaway PostgreSQL with raydar, point
# it at a Ray cluster and ask it questions.
#
#   bash scripts/demo.sh                      # the bundled Ray cluster simulator
#   RAYDAR_GCS_ADDRESS=10.0.0.5:6379 bash scripts/demo.sh   # your cluster's GCS
#   RAYDAR_GCS_TOKEN=...                      # if it runs with RAY_AUTH_MODE=token
#   RAYDAR_DEMO_KEEP=1                        # leave PostgreSQL running to explore
#
# Run as root on Debian 12 (packages are installed by scripts/setup.sh;
# PostgreSQL runs as the unprivileged user raydar_demo, since initdb refuses
# root). Without RAYDAR_GCS_ADDRESS the simulator runs Ray's classic example:
# 100 tasks of about a second, about 10% failing.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# RAYDAR_DEMO_OUT relative to where the demo was started (it runs in $work).
case ${RAYDAR_DEMO_OUT:-/} in /*) ;; *) RAYDAR_DEMO_OUT=$PWD/$RAYDAR_DEMO_OUT ;; esac
pgbin=/usr/lib/postgresql/15/bin

"$repo/scripts/setup.sh"
echo "demo: building and installing raydar"
make -C "$repo" -s -j2 >/dev/null
make -C "$repo" -s install >/dev/null

user=${RAYDAR_DEMO_USER:-raydar_demo}
if [ "$(id -u)" -eq 0 ]; then
  id -u "$user" >/dev/null 2>&1 || useradd --system --create-home --shell /bin/bash "$user"
  as_user_cmd=(runuser -u "$user" --)
else
  user=$(id -un)
  as_user_cmd=()
fi
as_user() { "${as_user_cmd[@]}" "$@"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/raydar-demo.XXXXXX")
chmod 755 "$work"
chown "$user" "$work"
# Run from the demo's own directory: a clone in a 0700 home (root's) is
# not readable by the demo user, and psql would say it cannot change to it.
cd "$work"
sim_pid=""
cleanup() {
  if [ -n "${RAYDAR_DEMO_KEEP:-}" ]; then return; fi
  # The simulator runs in a session of its own: end all of it.
  [ -n "$sim_pid" ] && kill -- -"$sim_pid" 2>/dev/null || true
  as_user "$pgbin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "demo: starting a throwaway PostgreSQL in $work"
as_user "$pgbin/initdb" -D "$work/data" -U postgres --encoding=UTF8 --no-locale >/dev/null
cat >> "$work/data/postgresql.conf" <<CONF
shared_preload_libraries = 'raydar'
raydar.poll_interval = '500ms'
listen_addresses = ''
unix_socket_directories = '$work'
port = 5432
CONF
as_user "$pgbin/pg_ctl" -D "$work/data" -l "$work/postgres.log" -w start >/dev/null
psql() { as_user "$pgbin/psql" -h "$work" -U postgres -X -q -v ON_ERROR_STOP=1 "$@"; }

if [ -n "${RAYDAR_GCS_ADDRESS:-}" ]; then
  address=$RAYDAR_GCS_ADDRESS
  echo "demo: using the Ray GCS at $address"
else
  echo "demo: starting the Ray cluster simulator (Ray's classic example, 10x speed)"
  cp -r "$repo/test/raysim" "$repo/src/proto" "$work/" 2>/dev/null || true
  mkdir -p "$work/sim/test" "$work/sim/src"
  mv "$work/raysim" "$work/sim/test/raysim"; mv "$work/proto" "$work/sim/src/proto"
  chown -R "$user" "$work/sim"
  setsid "${as_user_cmd[@]}" /usr/bin/python3 "$work/sim/test/raysim/raysim.py" --scenario classic \
    --speed 10 --port-file "$work/sim.json" > "$work/sim.log" 2>&1 &
  sim_pid=$!
  for _ in $(seq 100); do [ -s "$work/sim.json" ] && break; sleep 0.2; done
  port=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['grpc_port'])" "$work/sim.json")
  address=127.0.0.1:$port
fi

psql <<SQL
CREATE EXTENSION raydar;
CREATE SERVER ray FOREIGN DATA WRAPPER raydar OPTIONS (address '$address');
CREATE SCHEMA ray_live;
IMPORT FOREIGN SCHEMA ray FROM SERVER ray INTO ray_live;
SQL
# The collector reads with the tracking role's user mapping (its token, if any).
if [ -n "${RAYDAR_GCS_TOKEN:-}" ]; then
  psql -v token="$RAYDAR_GCS_TOKEN" -c "CREATE USER MAPPING FOR CURRENT_USER SERVER ray OPTIONS (token :'token')"
else
  psql -c "CREATE USER MAPPING FOR CURRENT_USER SERVER ray"
fi
psql -c "SELECT raydar.track('ray')"   # the collector keeps every finished task

show() { echo; echo "-- $1"; echo "$2"; psql -c "$2"; }

show "What is my cluster doing right now?" \
  "SELECT state, count(*) FROM ray_live.tasks GROUP BY state ORDER BY count(*) DESC;"

if [ -z "${RAYDAR_GCS_ADDRESS:-}" ]; then
  echo; echo "demo: job progress while the example runs (raydar.job_progress, every second)"
  for _ in $(seq 60); do
    psql -At -c "SELECT format('  job %s: %s%% done, %s finished, %s failed, %s running, %s pending, %s tasks/s, about %s left',
                               job_id, percent_done, finished, failed, running, pending,
                               coalesce(tasks_per_second_last_minute::text, '-'),
                               coalesce(date_trunc('second', time_left)::text, '?'))
                   FROM raydar.job_progress WHERE cluster = 'ray'" 2>/dev/null || true
    left=$(psql -At -c "SELECT count(*) FROM ray_live.tasks WHERE type <> 'DRIVER_TASK' AND state NOT IN ('FINISHED', 'FAILED')" 2>/dev/null || echo 1)
    kept=$(psql -At -c "SELECT count(*) FROM raydar.task_history" 2>/dev/null || echo 0)
    [ "$left" = "0" ] && [ "$kept" -ge 100 ] && break
    sleep 1
  done
  show "And now?" \
    "SELECT state, count(*) FROM ray_live.tasks GROUP BY state ORDER BY count(*) DESC;"
fi

show "Which tasks failed, where, and why?" \
  "SELECT left(task_id, 12) AS task, name, error_type, left(node_id, 12) AS node,
          split_part(error_message, E'\n', 3) AS error
     FROM ray_live.tasks WHERE state = 'FAILED' ORDER BY end_time LIMIT 10;"

show "Which nodes ran them, and how did each fare? (tasks joined with nodes)" \
  "SELECT n.node_ip, n.is_head_node, n.state AS node_state, count(*) AS tasks,
          count(*) FILTER (WHERE t.state = 'FAILED') AS failed
     FROM ray_live.tasks t JOIN ray_live.nodes n USING (node_id)
    GROUP BY 1, 2, 3 ORDER BY 1;"

show "Which were slowest?" \
  "SELECT left(task_id, 12) AS task, name, state, end_time - start_time AS took
     FROM ray_live.tasks WHERE end_time IS NOT NULL
    ORDER BY took DESC LIMIT 5;"

show "What did raydar ask Ray? (filters run inside the GCS)" \
  "EXPLAIN (VERBOSE, COSTS OFF) SELECT name FROM ray_live.tasks WHERE state = 'FAILED' LIMIT 3;"

show "What has the collector kept? (raydar.task_history: native, partitioned)" \
  "SELECT cluster, state, count(*) FROM raydar.task_history GROUP BY 1, 2 ORDER BY 1, 2;"

show "ray summary tasks, over all of history (raydar.task_summary)" \
  "SELECT cluster, func_or_class_name, type, attempts, finished, failed, p50_s, p95_s, max_s
     FROM raydar.task_summary ORDER BY 1, 2, 3;"

# The job in pictures: its task graph (rendered by Graphviz), its timeline
# (an SVG a browser shows) and its Chrome trace (Perfetto).
# Outside the clone unless asked (RAYDAR_DEMO_OUT), so it stays clean.
out=${RAYDAR_DEMO_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/raydar-demo-out.XXXXXX")}
mkdir -p "$out"
job=$(psql -At -c "SELECT job_id FROM raydar.job_progress WHERE cluster = 'ray' ORDER BY total DESC, job_id LIMIT 1")
if [ -n "$job" ]; then
  show "Where did job $job's time go? (raydar.critical_path)" \
    "SELECT step, name, state, duration, ended_before_parent FROM raydar.critical_path('$job', 'ray');"
  psql -At -c "SELECT raydar.task_graph_dot('$job', 'state', 'duration', cluster => 'ray')" > "$out/task_graph.dot"
  psql -At -c "SELECT raydar.timeline_svg('$job', cluster => 'ray')" > "$out/timeline.svg"
  psql -At -c "SELECT raydar.chrome_trace('$job', cluster => 'ray')" > "$out/timeline.json"
  echo
  if command -v dot >/dev/null; then
    dot -Tsvg "$out/task_graph.dot" > "$out/task_graph.svg"
    echo "demo: task graph of job $job:  $out/task_graph.svg  (DOT: $out/task_graph.dot)"
  else
    echo "demo: task graph of job $job:  $out/task_graph.dot  (apt install graphviz; dot -Tsvg)"
  fi
  echo "demo: its timeline:            $out/timeline.svg  (open in a browser)"
  echo "demo: its Chrome trace:        $out/timeline.json  (load in https://ui.perfetto.dev)"
fi

if [ -z "${RAYDAR_GCS_ADDRESS:-}" ]; then
  echo; echo "demo: restarting the simulated GCS: Ray forgets every task event"
  admin=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['admin_port'])" "$work/sim.json")
  /usr/bin/python3 -c "import urllib.request as u; u.urlopen(u.Request('http://127.0.0.1:$admin/restart', data=b'{}', method='POST'))"
  show "Ray after its restart" "SELECT count(*) AS tasks_in_ray FROM ray_live.tasks;"
  show "raydar still has them" \
    "SELECT count(*) AS tasks_in_history, count(*) FILTER (WHERE state = 'FAILED') AS failed,
            max(end_time) - min(start_time) AS span FROM raydar.task_history;"
fi

if [ -n "${RAYDAR_DEMO_KEEP:-}" ]; then
  echo
  echo "demo: PostgreSQL keeps running. Connect with:"
  echo "  runuser -u $user -- $pgbin/psql -h $work -U postgres"
  echo "Stop it with: ${as_user_cmd[*]} $pgbin/pg_ctl -D $work/data stop${sim_pid:+; kill -- -$sim_pid}"
else
  echo; echo "demo: done (set RAYDAR_DEMO_KEEP=1 to keep PostgreSQL running and explore)"
fi
