-- Retention and maintenance: partitions made ahead, expired ones dropped,
-- for every table in raydar.partitioned_tables; bad input changes nothing.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS raydar;
RESET client_min_messages;
\set SHOW_CONTEXT never
-- pg_regress sets PGTZ, PGDATESTYLE and PGINTERVALSTYLE; this test is about UTC days.
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET intervalstyle = 'postgres';

SELECT raydar.create_metrics_table('m1', '{"node": "str", "loss": "float", "ts": "datetime"}');
-- Old rows (their partitions are made by update) and a current one.
SELECT raydar.update('m1', '[{"node": "a", "loss": 1, "ts": "2020-01-15T10:00:00Z"},
                             {"node": "a", "loss": 2, "ts": "2020-01-16T10:00:00Z"},
                             {"node": "a", "loss": 3}]');
CREATE VIEW m1_parts AS
SELECT c.relname,
       (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz AS lo
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'raydar_metrics.m1'::regclass;
SELECT count(*) AS partitions FROM m1_parts;

-- The first run makes task_history's partitions ahead: none is made by
-- CREATE EXTENSION, so that pg_dump keeps the rows of every partition.
SELECT table_name, action, count(*) FROM raydar.run_maintenance() GROUP BY 1, 2 ORDER BY 1, 2;

-- Nothing to do: every partition ahead exists and there is no retention.
SELECT * FROM raydar.run_maintenance();

-- A missing partition ahead is made again, with the deterministic name.
SELECT format('DROP TABLE raydar_metrics.%I',
              'm1_p' || to_char(now() AT TIME ZONE 'UTC' + interval '7 days', 'YYYYMMDD')) AS drop_ahead \gset
:drop_ahead;
SELECT table_name, action,
       partition_name = 'raydar_metrics.m1_p' || to_char(now() AT TIME ZONE 'UTC' + interval '7 days', 'YYYYMMDD') AS expected_name,
       detail = 'for ' || to_char(now() AT TIME ZONE 'UTC' + interval '7 days', 'YYYY-MM-DD') AS expected_detail
  FROM raydar.run_maintenance();
SELECT count(*) AS partitions FROM m1_parts;

-- set_retention: bad input is refused and changes nothing.
CREATE TABLE snapshot AS SELECT * FROM raydar.partitioned_tables;
SELECT raydar.set_retention('nope', interval '1 day');
SELECT raydar.set_retention('m1; DROP TABLE raydar_metrics.m1', interval '1 day');
SELECT raydar.set_retention('raydar.m1', interval '1 day');
SELECT raydar.set_retention('"m1', interval '1 day');
SELECT raydar.set_retention('a.b.c', interval '1 day');
SELECT raydar.set_retention(NULL, interval '1 day');
SELECT raydar.set_retention('m1', interval '-1 day');
SELECT raydar.set_retention('m1', interval '0');
SELECT (SELECT array_agg(s::text ORDER BY table_name) FROM snapshot s)
     = (SELECT array_agg(p::text ORDER BY table_name) FROM raydar.partitioned_tables p) AS unchanged;

-- Retention of 30 days: the 2020 partitions go, today's rows stay. A bare
-- name means a metrics table; a qualified one works too.
SELECT raydar.set_retention('raydar_metrics.m1', interval '30 days');
SELECT raydar.set_retention('m1', interval '30 days');
SELECT name, retention FROM raydar.metrics_tables;
SELECT table_name, action, partition_name, detail FROM raydar.run_maintenance() ORDER BY partition_name;
SELECT count(*) AS partitions, min(lo) = date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '1 day' AS oldest_is_yesterday
  FROM m1_parts;
SELECT node, loss FROM raydar_metrics.m1;
-- Idempotent: a second run has nothing to do.
SELECT count(*) AS actions FROM raydar.run_maintenance();
-- NULL keeps rows forever.
SELECT raydar.set_retention('m1', NULL);
SELECT name, retention FROM raydar.metrics_tables;

-- Any range-partitioned table can be registered (the collector's history
-- tables will); maintenance makes today and 7 days ahead for it.
CREATE TABLE hist (id int, end_time timestamptz) PARTITION BY RANGE (end_time);
SELECT raydar.register_partitioned_table('hist', 'end_time');
SELECT table_name, action, count(*) FROM raydar.run_maintenance() GROUP BY 1, 2;
SELECT count(*) AS hist_partitions FROM pg_inherits WHERE inhparent = 'hist'::regclass;
INSERT INTO hist VALUES (1, now());
SELECT raydar.set_retention('public.hist', interval '90 days');
SELECT schema_name, table_name, kind, time_column, premake, retention FROM raydar.partitioned_tables ORDER BY 2;
CREATE TABLE not_partitioned (t timestamptz);
SELECT raydar.register_partitioned_table('not_partitioned', 't');
CREATE TABLE by_id (id int, t timestamptz) PARTITION BY RANGE (id);
SELECT raydar.register_partitioned_table('by_id', 't');
SELECT raydar.register_partitioned_table('by_id', 'id');
SELECT count(*) AS registered FROM raydar.partitioned_tables;
-- A registered table dropped behind raydar's back is forgotten.
DROP TABLE hist;
SELECT * FROM raydar.run_maintenance();
SELECT count(*) AS registered FROM raydar.partitioned_tables;

-- _add_partitions takes any span (issue 12): 500 days in one call, as a
-- collector reply spanning 500 days asks; days that exist cost nothing;
-- the bound is on partitions made per call, checked before making any.
SELECT count(*) AS made_500 FROM raydar._add_partitions('raydar_metrics', 'm1',
    ARRAY(SELECT generate_series(now() - interval '700 days', now() - interval '201 days', interval '1 day')));
SELECT count(*) AS made_again FROM raydar._add_partitions('raydar_metrics', 'm1',
    ARRAY(SELECT generate_series(now() - interval '700 days', now() - interval '201 days', interval '12 hours')));
SELECT count(*) FROM raydar._add_partitions('raydar_metrics', 'm1',
    ARRAY(SELECT generate_series(now() + interval '1000 days', now() + interval '11000 days', interval '1 day')));
-- A year past 9999 has a longer name: made while it fits in 63 bytes.
SELECT raydar._add_partitions('raydar_metrics', 'm1', ARRAY['10000-01-01 00:00:00+00'::timestamptz]);
DROP TABLE raydar_metrics.m1_p100000101;
SELECT raydar.create_metrics_table(repeat('n', 53), '{"ts": "datetime"}') IS NOT NULL AS long_name;
SELECT raydar._add_partitions('raydar_metrics', repeat('n', 53), ARRAY['9999-12-31 00:00:00+00'::timestamptz]) ~ '^n{53}_p99991231$' AS made;
SELECT raydar._add_partitions('raydar_metrics', repeat('n', 53), ARRAY['10000-01-01 00:00:00+00'::timestamptz]);
SELECT raydar.drop_metrics_table(repeat('n', 53));
SELECT count(*) FROM raydar._add_partitions('raydar_metrics', 'm1', ARRAY['0044-03-15 12:00:00+00 BC'::timestamptz]);
SELECT count(*) FROM raydar._add_partitions('raydar', 'task_live', ARRAY[now()]);
SELECT count(*) AS partitions FROM m1_parts;
-- run_maintenance and partitions beyond the premake horizon: empty ones
-- (a mistaken or hostile call) are dropped, one holding rows is kept and
-- reported; retention plays no part (it is NULL here), nor do the past.
SELECT count(*) AS made_ahead FROM raydar._add_partitions('raydar_metrics', 'm1',
    ARRAY[now() + interval '8 days', now() + interval '30 days', now() + interval '40 days', now() + interval '1000 days']);
SELECT raydar.update('m1', jsonb_build_array(jsonb_build_object('node', 'early',
    'ts', to_char(now() AT TIME ZONE 'UTC' + interval '40 days', 'YYYY-MM-DD"T"12:00:00"Z"'))));
SELECT action, to_date((regexp_match(partition_name, '_p(\d{8})$'))[1], 'YYYYMMDD') - current_date AS days_ahead,
       regexp_replace(detail, '\d{4}-\d{2}-\d{2}', 'YYYY-MM-DD') AS detail
  FROM raydar.run_maintenance() ORDER BY 2;
SELECT action, regexp_replace(detail, '\d{4}-\d{2}-\d{2}', 'YYYY-MM-DD') AS detail FROM raydar.run_maintenance();
SELECT count(*) AS partitions, max(lo)::date - current_date AS last_days_ahead FROM m1_parts;
SELECT node FROM raydar_metrics.m1 WHERE node = 'early';

DROP VIEW m1_parts;
SELECT raydar.drop_metrics_table('m1');
DROP TABLE snapshot, not_partitioned, by_id;
