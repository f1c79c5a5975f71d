-- bench/memory.sql: peak RSS of a fresh backend during one full scan.
-- psql variable: task_id. Output: "mem|rss_before_kb|hwm_before_kb|hwm_after_kb|reply_bytes|rows".
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
-- Warm up everything but the big reply: gRPC channel and threads, the
-- server's version, catalog caches, plpgsql and the COPY code paths.
COPY (SELECT * FROM tasks WHERE task_id = :'task_id') TO '/dev/null';
CREATE OR REPLACE FUNCTION pg_temp.kb(field text) RETURNS bigint LANGUAGE sql AS $$
  SELECT (regexp_match(pg_read_file('/proc/' || pg_backend_pid() || '/status'),
                       field || ':\s+(\d+) kB'))[1]::bigint $$;
SELECT pg_temp.kb('VmRSS') AS rss_before, pg_temp.kb('VmHWM') AS hwm_before \gset
COPY (SELECT * FROM tasks) TO '/dev/null';
SELECT pg_temp.kb('VmHWM') AS hwm_after \gset
\pset format unaligned
\pset tuples_only on
\pset fieldsep '|'
SELECT 'mem', :rss_before, :hwm_before, :hwm_after, reply_bytes, rows FROM raydar.last_scan();
