-- Node metrics storage (75_node_metrics.sql): one scrape written whole,
-- series once, samples idempotent, NaN and infinities kept, partitions for
-- any day, the readable view, and the answers that join task history.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS raydar;
RESET client_min_messages;
\set SHOW_CONTEXT never
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET extra_float_digits = 0;

-- A scrape of node n1: a gauge with unicode and escaped labels, a
-- histogram's series, NaN and infinities.
SELECT raydar._write_node_scrape('c1', 'n1',
    ARRAY['ray_node_cpu_utilization', 'ray_node_mem_used', 'lat_bucket', 'lat_bucket', 'lat_sum', 'odd'],
    ARRAY['{"ip": "10.0.0.1", "SessionName": "s"}', '{"ip": "10.0.0.1"}', '{"le": "0.5"}',
          '{"le": "+Inf"}', '{}', '{"u": "日本 \"q\"\n🚀"}']::jsonb[],
    ARRAY['gauge', 'gauge', 'histogram', 'histogram', 'histogram', 'untyped'],
    ARRAY[75, 8589934592, 1, 'Infinity', 'NaN', '-Infinity']::float8[],
    array_fill('2026-01-02 03:04:05+00'::timestamptz, ARRAY[6])) AS written;
-- The same scrape again writes nothing new.
SELECT raydar._write_node_scrape('c1', 'n1',
    ARRAY['ray_node_cpu_utilization'], ARRAY['{"SessionName": "s", "ip": "10.0.0.1"}']::jsonb[],
    ARRAY['gauge'], ARRAY[99]::float8[], ARRAY['2026-01-02 03:04:05+00']::timestamptz[]) AS written_again;
-- A later scrape: the same series get new samples, no new series.
SELECT raydar._write_node_scrape('c1', 'n1',
    ARRAY['ray_node_cpu_utilization', 'ray_node_mem_used'],
    ARRAY['{"ip": "10.0.0.1", "SessionName": "s"}', '{"ip": "10.0.0.1"}']::jsonb[],
    ARRAY['gauge', 'gauge'], ARRAY[25, 4294967296]::float8[],
    array_fill('2026-01-02 03:04:20+00'::timestamptz, ARRAY[2])) AS written_later;
SELECT count(*) AS series FROM raydar.metric_series;
SELECT time, cluster, node_id, metric, labels, value
  FROM raydar.node_metrics ORDER BY time, metric, labels::text;
-- The scrape's days got partitions of their own.
SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'raydar.metric_samples'::regclass AND c.relname LIKE '%2026010%';

-- Labels too long for a btree entry still make one series.
SELECT raydar._write_node_scrape('c1', 'n1', ARRAY['big', 'big'],
    ARRAY[jsonb_build_object('l', repeat('x', 10000)), jsonb_build_object('l', repeat('x', 10000))],
    ARRAY['gauge', 'gauge'], ARRAY[1, 2]::float8[],
    ARRAY['2026-01-02 03:04:05+00', '2026-01-02 03:04:06+00']::timestamptz[]) AS written_big;
SELECT count(*) AS big_series FROM raydar.metric_series WHERE metric = 'big';

-- A bad scrape (a NULL value) is refused whole: nothing of it is kept.
\set VERBOSITY terse
SELECT raydar._write_node_scrape('c1', 'n2', ARRAY['a', 'b'], ARRAY['{}', '{}']::jsonb[],
    ARRAY['gauge', 'gauge'], ARRAY[1, NULL]::float8[],
    array_fill('2026-01-02 03:04:05+00'::timestamptz, ARRAY[2]));
\set VERBOSITY default
SELECT count(*) AS n2_series FROM raydar.metric_series WHERE node_id = 'n2';

-- Answers: an attempt on n1 from 03:04:10 to 03:04:30 ran while the node
-- read 75 (the sample before its start) and 25: mean 50. One that ran
-- from 03:04:06 to 03:04:08 read only 75. Another node's sample is ignored.
SELECT raydar._add_partitions('raydar', 'task_history', ARRAY['2026-01-02 00:00+00'::timestamptz]);
INSERT INTO raydar.task_history (task_id, attempt_number, state, job_id, node_id, start_time, end_time, cluster)
VALUES ('t1', 0, 'FINISHED', 'j1', 'n1', '2026-01-02 03:04:10+00', '2026-01-02 03:04:30+00', 'c1'),
       ('t2', 0, 'FINISHED', 'j1', 'n1', '2026-01-02 03:04:06+00', '2026-01-02 03:04:08+00', 'c1'),
       ('t3', 0, 'FINISHED', 'j2', 'n9', '2026-01-02 03:04:06+00', '2026-01-02 03:04:08+00', 'c1');
SELECT raydar._write_node_scrape('c1', 'n9', ARRAY['ray_node_cpu_utilization'], ARRAY['{}']::jsonb[],
    ARRAY['gauge'], ARRAY[10]::float8[], ARRAY['2026-01-02 03:04:07+00']::timestamptz[]) AS n9;
SELECT task_id, node_id, cpu_percent, mem_used_bytes, gpu_percent
  FROM raydar.task_node_usage ORDER BY task_id;

-- Object store: per node the sum over locations at one scrape; the peak
-- of job j1 is n1's 300 at 03:04:20, not n9's 250 nor the 900 after j1.
SELECT raydar._write_node_scrape('c1', node, ARRAY['ray_object_store_memory', 'ray_object_store_memory'],
    ARRAY['{"Location": "MMAP_SHM"}', '{"Location": "SPILLED"}']::jsonb[],
    ARRAY['gauge', 'gauge'], vals, array_fill(at, ARRAY[2]))
  FROM (VALUES ('n1', ARRAY[100, 50]::float8[], '2026-01-02 03:04:10+00'::timestamptz),
               ('n1', ARRAY[200, 100]::float8[], '2026-01-02 03:04:20+00'),
               ('n9', ARRAY[200, 50]::float8[], '2026-01-02 03:04:07+00'),
               ('n1', ARRAY[900, 0]::float8[], '2026-01-02 03:05:00+00')) v(node, vals, at);
SELECT * FROM raydar.job_object_store_peak ORDER BY job_id;

-- Retention: samples are dropped with their day's partition by maintenance.
SELECT raydar.set_retention('raydar.metric_samples', interval '1 day');
SELECT count(*) > 0 AS dropped FROM raydar.run_maintenance()
 WHERE table_name = 'raydar.metric_samples' AND action = 'dropped' AND partition_name LIKE '%20260102';
SELECT count(*) AS samples_left_from_2026_01_02 FROM raydar.metric_samples
 WHERE time < '2026-01-03';
SELECT raydar.set_retention('raydar.metric_samples', interval '14 days');

-- Readers read, nobody else writes.
SELECT has_table_privilege('raydar_reader', 'raydar.node_metrics', 'SELECT') AS reader_reads,
       has_table_privilege('raydar_reader', 'raydar.metric_samples', 'INSERT') AS reader_writes,
       has_function_privilege('public', 'raydar._write_node_scrape(text, text, text[], jsonb[], text[], float8[], timestamptz[])', 'EXECUTE') AS public_writes;

DELETE FROM raydar.task_history WHERE cluster = 'c1';
DELETE FROM raydar.metric_series;
