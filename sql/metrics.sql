-- Metrics tables: create, update, INSERT, drop. Every bad input is refused
-- with a clear error and changes nothing (checked by unchanged() after each).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS raydar;
RESET client_min_messages;
\set SHOW_CONTEXT never
-- pg_regress sets PGTZ, PGDATESTYLE and PGINTERVALSTYLE; this test is about UTC days.
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET intervalstyle = 'postgres';

-- The contract's example, verbatim.
SELECT raydar.create_metrics_table('metrics_table',
  '{"node_id": "str", "metric_name": "str", "value": "float", "timestamp": "datetime"}');
INSERT INTO raydar_metrics.metrics_table VALUES ('n1', 'loss', 0.31, now());
SELECT raydar.update('metrics_table',
  '[{"node_id": "n1", "metric_name": "loss", "value": 0.31, "timestamp": 1793534400.5}]');
SELECT node_id, metric_name, value,
       CASE WHEN "timestamp" > now() - interval '1 minute' THEN 'about now' ELSE "timestamp"::text END AS "timestamp"
  FROM raydar_metrics.metrics_table ORDER BY 4;
SELECT raydar.drop_metrics_table('metrics_table');
SELECT to_regclass('raydar_metrics.metrics_table') IS NULL AS dropped,
       (SELECT count(*) FROM raydar.partitioned_tables) AS registered;

-- Every type alias; columns keep the order they were given in.
SELECT raydar.create_metrics_table('all_types', '{"s1": "str", "s2": "string", "s3": "text",
  "f1": "float", "f2": "double", "i1": "int", "i2": "integer", "b1": "bool", "b2": "boolean",
  "t1": "datetime", "t2": "timestamp", "j1": "json", "j2": "jsonb"}');
SELECT attname, format_type(atttypid, atttypmod) AS type, attnotnull
  FROM pg_attribute WHERE attrelid = 'raydar_metrics.all_types'::regclass AND attnum > 0
 ORDER BY attnum;
-- Partitioned by the first datetime column, in UTC days: yesterday, today
-- and 7 days ahead, named <table>_pYYYYMMDD; no default partition.
SELECT pg_get_partkeydef('raydar_metrics.all_types'::regclass) AS partition_key;
SELECT count(*) AS partitions,
       bool_and(c.relname = 'all_types_p' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMMDD')) AS named_by_day,
       min(lo) = date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '1 day' AS from_yesterday,
       max(lo) = date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + interval '7 days' AS to_7_days_ahead,
       bool_and(NOT c.relispartition OR pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT') AS no_default
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
  CROSS JOIN LATERAL (SELECT (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz AS lo) b
 WHERE i.inhparent = 'raydar_metrics.all_types'::regclass;
-- A named time column instead of the first datetime one.
SELECT raydar.create_metrics_table('named_time', '{"a": "datetime", "b": "datetime", "v": "float"}', time_column => 'b');
SELECT pg_get_partkeydef('raydar_metrics.named_time'::regclass) AS partition_key;
SELECT name, "table", jsonb_array_length(columns) AS ncolumns, columns->0 AS first_column, time_column,
       retention, premake, partitions, created_by = session_user AS by_me
  FROM raydar.metrics_tables ORDER BY name;

-- Values: every kind, datetimes as epoch seconds or ISO 8601 with or
-- without zone (session TimeZone, UTC here), JSON null as NULL, a missing
-- time column as now(), floats' NaN and infinities as strings.
SELECT raydar.update('all_types', '[
 {"s1": "a", "s2": "ü é", "s3": "x''; DROP TABLE y; --", "f1": 0.5, "f2": -1e300, "i1": 42, "i2": -9223372036854775808,
  "b1": true, "b2": false, "t1": 1793534400.25, "t2": "2026-11-01T12:00:00Z", "j1": {"a": [1, 2]}, "j2": [null]},
 {"s1": null, "f1": "NaN", "f2": "-Infinity", "t1": "2026-11-01T14:00:00+02:00", "t2": "2026-11-01 12:00:00.123456", "j1": "str"},
 {"f1": "Infinity", "t1": "2026-11-01", "t2": "2026-11-01T12:00:00.5+0530"},
 {"s1": "no time"}
]');
SELECT s1, s2, s3, f1, f2, i1, i2, b1, b2, t1, t2, j1, j2
  FROM raydar_metrics.all_types WHERE s1 IS DISTINCT FROM 'no time' ORDER BY t1, s1;
SELECT t1 BETWEEN now() - interval '1 minute' AND now() AS time_defaults_to_now, t2 IS NULL AS other_datetime_null
  FROM raydar_metrics.all_types WHERE s1 = 'no time';
-- A single object is one row; an empty array or NULL inserts nothing.
SELECT raydar.update('all_types', '{"s1": "single", "t1": 1793534400}');
SELECT raydar.update('all_types', '[]'), raydar.update('all_types', NULL);
-- A time before the premade range: update makes that day's partition.
SELECT raydar.update('all_types', '[{"s1": "old", "t1": "2020-01-15T08:00:00Z"}, {"s1": "old2", "t1": "2020-01-15T23:59:59Z"}]');
SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bounds,
       (SELECT count(*) FROM raydar_metrics.all_types_p20200115) AS rows
  FROM pg_class c WHERE c.relname = 'all_types_p20200115';
-- Plain INSERT does not make partitions: outside the range it fails loudly.
INSERT INTO raydar_metrics.all_types (s1, t1) VALUES ('too old', '2019-06-01T00:00:00Z');

-- From here on, bad input. unchanged() compares the metrics tables, the
-- registry and every row with a snapshot taken now.
CREATE TABLE snapshot AS
SELECT (SELECT count(*) FROM raydar.partitioned_tables) AS registered,
       (SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class
         WHERE relnamespace = 'raydar_metrics'::regnamespace) AS relations,
       (SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM raydar_metrics.all_types t) AS all_types_rows;
CREATE FUNCTION unchanged() RETURNS boolean LANGUAGE sql AS $$
  SELECT s = ROW((SELECT count(*) FROM raydar.partitioned_tables),
                 (SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class
                   WHERE relnamespace = 'raydar_metrics'::regnamespace),
                 (SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM raydar_metrics.all_types t))::snapshot
    FROM snapshot s $$;
SELECT unchanged();

-- Hostile and invalid table names.
SELECT raydar.create_metrics_table('x''; DROP TABLE raydar_metrics.all_types; --', '{"t": "datetime"}');
SELECT raydar.create_metrics_table('x"; DROP TABLE raydar_metrics.all_types; --', '{"t": "datetime"}');
SELECT raydar.create_metrics_table('a;b', '{"t": "datetime"}');
SELECT raydar.create_metrics_table('all_types_p20200115', '{"t": "datetime"}');
SELECT raydar.create_metrics_table('Loss', '{"t": "datetime"}');
SELECT raydar.create_metrics_table('verlust_ü', '{"t": "datetime"}');
SELECT raydar.create_metrics_table('损失', '{"t": "datetime"}');
SELECT raydar.create_metrics_table('1loss', '{"t": "datetime"}');
SELECT raydar.create_metrics_table('has space', '{"t": "datetime"}');
SELECT raydar.create_metrics_table('', '{"t": "datetime"}');
SELECT raydar.create_metrics_table(NULL, '{"t": "datetime"}');
SELECT raydar.create_metrics_table('select', '{"t": "datetime"}');
SELECT raydar.create_metrics_table('user', '{"t": "datetime"}');
SELECT raydar.create_metrics_table(repeat('x', 54), '{"t": "datetime"}');
SELECT raydar.create_metrics_table(repeat('x', 1000), '{"t": "datetime"}');
SELECT unchanged();
-- 53 bytes is the longest: its partitions' names are exactly 63 bytes.
SELECT raydar.create_metrics_table(repeat('x', 53), '{"t": "datetime"}');
SELECT max(octet_length(relname)) AS longest_partition_name FROM pg_class
 WHERE relname LIKE repeat('x', 53) || '_p%';
SELECT raydar.drop_metrics_table(repeat('x', 53));
SELECT unchanged();

-- Hostile and invalid columns, unknown types.
SELECT raydar.create_metrics_table('c', '{"t": "datetime", "a\"); DROP TABLE raydar_metrics.all_types; --": "str"}');
SELECT raydar.create_metrics_table('c', '{"t": "datetime", "a''b": "str"}');
SELECT raydar.create_metrics_table('c', '{"t": "datetime", "Value": "float"}');
SELECT raydar.create_metrics_table('c', '{"t": "datetime", "wert_ä": "float"}');
SELECT raydar.create_metrics_table('c', '{"t": "datetime", "from": "float"}');
SELECT raydar.create_metrics_table('c', '{"t": "datetime", "user": "str"}');
SELECT raydar.create_metrics_table('c', '{"t": "datetime", "xmin": "int"}');
SELECT raydar.create_metrics_table('c', json_build_object('t', 'datetime', repeat('v', 64), 'float'));
SELECT raydar.create_metrics_table('c', '{"t": "datetime", "": "float"}');
SELECT raydar.create_metrics_table('c', '{"t": "datetime", "v": "float64"}');
SELECT raydar.create_metrics_table('c', '{"t": "datetime", "v": "float; DROP TABLE x"}');
SELECT raydar.create_metrics_table('c', '{"t": "datetime", "v": 1}');
SELECT raydar.create_metrics_table('c', '{"t": "datetime", "v": null}');
SELECT raydar.create_metrics_table('c', '{"t": "datetime", "v": "float", "v": "int"}');
SELECT raydar.create_metrics_table('c', '["t", "datetime"]');
SELECT raydar.create_metrics_table('c', '{}');
SELECT raydar.create_metrics_table('c', NULL);
SELECT raydar.create_metrics_table('c', '{"v": "float"}');
SELECT raydar.create_metrics_table('c', '{"t": "datetime", "v": "float"}', time_column => 'v');
SELECT raydar.create_metrics_table('c', '{"t": "datetime", "v": "float"}', time_column => 'nope''; --');
SELECT raydar.create_metrics_table('c', '{"t": "datetime" "v": "float"}');
SELECT unchanged();

-- A second create of the same name: an error, unless if_not_exists and
-- the same definition.
SELECT raydar.create_metrics_table('named_time', '{"a": "datetime", "b": "datetime", "v": "float"}', time_column => 'b');
SELECT raydar.create_metrics_table('named_time', '{"a": "datetime", "b": "datetime", "v": "double"}', time_column => 'b', if_not_exists => true);
SELECT raydar.create_metrics_table('named_time', '{"a": "datetime", "b": "datetime", "v": "int"}', time_column => 'b', if_not_exists => true);
SELECT raydar.create_metrics_table('named_time', '{"a": "datetime", "b": "datetime", "v": "float"}', if_not_exists => true);
-- A relation raydar did not make is never taken over.
CREATE TABLE raydar_metrics.squatter (t timestamptz);
SELECT raydar.create_metrics_table('squatter', '{"t": "datetime"}');
DROP TABLE raydar_metrics.squatter;
SELECT unchanged();

-- update: a missing table, rows that are not objects, unknown keys.
SELECT raydar.update('nope', '[{"t": 1}]');
SELECT raydar.update('all_types''; DROP TABLE raydar_metrics.all_types; --', '[{"t1": 1}]');
SELECT raydar.update(NULL, '[{"t1": 1}]');
SELECT raydar.update('all_types', '"rows"');
SELECT raydar.update('all_types', '[{"s1": "ok"}, 5]');
SELECT raydar.update('all_types', '[{"s1": "ok"}, {"s1": "ok", "lsos": 1, "zzz": 2}]');
SELECT raydar.update('all_types', '[{"s1": "ok", "S1": "upper"}]');
SELECT unchanged();
-- Values of the wrong type: the error names the row (0-based, as in the
-- caller's list) and the column; earlier good rows are not kept.
SELECT raydar.update('all_types', '[{"s1": "ok"}, {"s1": "ok"}, {"f1": "abc"}]');
SELECT raydar.update('all_types', '[{"f1": true}]');
SELECT raydar.update('all_types', '[{"f2": {"v": 1}}]');
SELECT raydar.update('all_types', '[{"f1": 1e400}]');
SELECT raydar.update('all_types', '[{"i1": 1.5}]');
SELECT raydar.update('all_types', '[{"i1": "42"}]');
SELECT raydar.update('all_types', '[{"i2": 9223372036854775808}]');
SELECT raydar.update('all_types', '[{"b1": "yes"}]');
SELECT raydar.update('all_types', '[{"b2": 1}]');
SELECT raydar.update('all_types', '[{"s1": 3}]');
SELECT raydar.update('all_types', '[{"s2": ["a"]}]');
SELECT raydar.update('all_types', '[{"t1": "tomorrow"}]');
SELECT raydar.update('all_types', '[{"t1": "infinity"}]');
SELECT raydar.update('all_types', '[{"t1": "2026-13-45T00:00:00Z"}]');
SELECT raydar.update('all_types', '[{"t1": "22/11/2026"}]');
SELECT raydar.update('all_types', '[{"t1": 1e20}]');
SELECT raydar.update('all_types', '[{"t1": true}]');
SELECT raydar.update('all_types', '[{"t2": "2026-11-01T12:00:00Z; DROP TABLE x"}]');
-- Many rows: the first bad one is found by bisection, wherever it is and
-- whatever is wrong with it; a later bad row does not mislead it.
SELECT raydar.update('all_types', (SELECT jsonb_agg(CASE i WHEN 737 THEN '{"f1": "abc"}'::jsonb
                                                           WHEN 900 THEN '{"zzz": 1}' ELSE jsonb_build_object('s1', 'r' || i) END
                                                    ORDER BY i) FROM generate_series(0, 999) i));
SELECT raydar.update('all_types', (SELECT jsonb_agg(CASE i WHEN 0 THEN '{"i1": 1.5}'::jsonb WHEN 1 THEN '[]'
                                                           ELSE jsonb_build_object('s1', 'r' || i) END
                                                    ORDER BY i) FROM generate_series(0, 1000) i));
SELECT raydar.update('all_types', (SELECT jsonb_agg(CASE i WHEN 1023 THEN '{"s1": "x", "lsos": 1}'::jsonb
                                                           ELSE jsonb_build_object('s1', 'r' || i) END
                                                    ORDER BY i) FROM generate_series(0, 1023) i));
-- A value of the right JSON kind that does not convert (a bigint out of
-- range) before one of the wrong kind: the earlier one is named.
SELECT raydar.update('all_types', (SELECT jsonb_agg(CASE i WHEN 300 THEN '{"i2": 9223372036854775808}'::jsonb
                                                           WHEN 700 THEN '{"f1": "abc"}'
                                                           WHEN 800 THEN '{"t1": "2026-02-30"}' ELSE jsonb_build_object('s1', 'r' || i) END
                                                    ORDER BY i) FROM generate_series(0, 2999) i));
SELECT raydar.update('all_types', (SELECT jsonb_agg(CASE i WHEN 2500 THEN '{"t1": "2026-02-30"}'::jsonb
                                                           WHEN 2600 THEN '{"f1": "abc"}' ELSE jsonb_build_object('s1', 'r' || i) END
                                                    ORDER BY i) FROM generate_series(0, 2999) i));
SELECT raydar.update('all_types', (SELECT jsonb_agg(CASE i WHEN 1 THEN '"two"'::jsonb
                                                           ELSE jsonb_build_object('s1', 'r' || i) END
                                                    ORDER BY i) FROM generate_series(0, 2) i));
SELECT unchanged();

-- drop_metrics_table: a missing table is an error unless if_exists.
SELECT raydar.drop_metrics_table('nope');
SELECT raydar.drop_metrics_table('all_types; DROP TABLE raydar.partitioned_tables');
SELECT raydar.drop_metrics_table('nope', if_exists => true);
SELECT unchanged();

SELECT raydar.drop_metrics_table('all_types'), raydar.drop_metrics_table('named_time');
SELECT count(*) AS relations_left FROM pg_class WHERE relnamespace = 'raydar_metrics'::regnamespace;
SELECT count(*) AS registered FROM raydar.partitioned_tables;
DROP FUNCTION unchanged();
DROP TABLE snapshot;
