-- bench/bench.sql: the timed SQL of bench/run.sh, in ONE session.
-- psql variables: runs (timed runs after one warm-up), task_id (hex).
-- Output: lines "measure|run|ms|call_ms|rows|reply_bytes|from_cache".
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE SCHEMA IF NOT EXISTS bench;
-- Wall time of one statement inside the backend (no psql or protocol
-- overhead; planning is included and negligible), and what raydar says
-- about the scan it made: call_ms is the gRPC call alone (the simulator
-- assembling and sending the reply), so ms - call_ms is decode + tuples.
CREATE OR REPLACE FUNCTION bench.time_stmt(stmt text, OUT ms float8, OUT call_ms float8,
                                           OUT rows bigint, OUT reply_bytes bigint,
                                           OUT from_cache boolean)
LANGUAGE plpgsql AS $$
DECLARE
  t0 timestamptz;
BEGIN
  t0 := clock_timestamp();
  EXECUTE stmt;
  ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
  SELECT l.call_ms, l.rows, l.reply_bytes, l.from_cache
    INTO call_ms, rows, reply_bytes, from_cache FROM raydar.last_scan() l;
END $$;

CREATE TEMP TABLE results (measure text, run int, ms float8, call_ms float8, rows bigint,
                           reply_bytes bigint, from_cache boolean);

-- Interleaved, so a slow phase of the machine hits every measurement alike.
-- Run 0 is the warm-up and is not used.
SELECT format($f$
DO $do$
BEGIN
  FOR i IN 0..%s LOOP
    INSERT INTO results SELECT 'copy_all', i, * FROM bench.time_stmt(
      $s$COPY (SELECT * FROM tasks) TO '/dev/null'$s$);
    -- Not a target: every column but the six jsonb ones, to price them.
    INSERT INTO results SELECT 'copy_no_jsonb', i, * FROM bench.time_stmt(
      $s$COPY (SELECT task_id, attempt_number, name, state, job_id, actor_id, type,
                      func_or_class_name, parent_task_id, node_id, worker_id, worker_pid,
                      error_type, error_message, language, placement_group_id,
                      creation_time, start_time, end_time, actor_repr_name, call_site,
                      is_debugger_paused FROM tasks) TO '/dev/null'$s$);
    INSERT INTO results SELECT 'group_by_state', i, * FROM bench.time_stmt(
      $s$SELECT state, count(*) FROM tasks GROUP BY state$s$);
    INSERT INTO results SELECT 'task_id_eq', i, * FROM bench.time_stmt(
      $s$SELECT * FROM tasks WHERE task_id = '%s'$s$);
  END LOOP;
END $do$;
$f$, :'runs', :'task_id') \gexec

\pset format unaligned
\pset tuples_only on
\pset fieldsep '|'
SELECT measure, run, round(ms::numeric, 3), round(call_ms::numeric, 3), rows, reply_bytes, from_cache
  FROM results ORDER BY measure, run;
