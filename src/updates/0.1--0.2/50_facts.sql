-- 50_facts.sql: 0.1 -> 0.2 upgrade: one place per fact in SQL (issue 13).
-- The same definitions as src/sql: partition names come from
-- raydar._partition_name and the partitions' lock key from
-- raydar._partitions_lock (40_metrics.sql), terminal states from
-- raydar._is_terminal (80_answers.sql), and the functions and views that
-- spelled them out are replaced by their 0.2 text. raydar.tasks is only
-- moved within the install script (80_answers.sql); its definition, as
-- 30_history.sql makes it, is unchanged.

CREATE FUNCTION raydar._partition_name(p_table text, p_day timestamp)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT p_table || '_p' || to_char(p_day, 'YYYYMMDD')
$fn$;

CREATE FUNCTION raydar._partitions_lock(p_schema text, p_table text)
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT hashtext('raydar.partitions:' || p_schema || '.' || p_table)
$fn$;

CREATE OR REPLACE FUNCTION raydar._add_partitions(p_schema name, p_table name, p_days timestamptz[])
RETURNS SETOF text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    reg   raydar.partitioned_tables;
    todo  timestamp[];
    d     timestamp;
    lo    timestamptz;
    part  text;
BEGIN
    SELECT * INTO reg FROM raydar.partitioned_tables
     WHERE schema_name = p_schema AND table_name = p_table;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'table %.% is not managed by raydar', quote_ident(p_schema), quote_ident(p_table)
            USING ERRCODE = 'undefined_table';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(p_days) x WHERE NOT isfinite(x)) THEN
        RAISE EXCEPTION 'cannot make a partition for an infinite time'
            USING ERRCODE = 'datetime_field_overflow';
    END IF;
    SELECT x INTO lo FROM unnest(p_days) x WHERE x < timestamptz '0001-01-01 00:00:00+00' LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'cannot make a daily partition of %.% for %', quote_ident(p_schema), quote_ident(p_table),
                        to_char(lo AT TIME ZONE 'UTC', 'FMYYYY-MM-DD BC')
            USING ERRCODE = 'datetime_field_overflow',
                  DETAIL = 'Partitions are named <table>_pYYYYMMDD, which has no room for years before Christ.';
    END IF;
    -- Serialise with maintenance and other writers making partitions.
    PERFORM pg_advisory_xact_lock(raydar._partitions_lock(p_schema, p_table));
    SELECT array_agg(s.d ORDER BY s.d) INTO todo
      FROM (SELECT DISTINCT date_trunc('day', x AT TIME ZONE 'UTC') AS d
              FROM unnest(p_days) x WHERE x IS NOT NULL) s
     WHERE NOT EXISTS (
            SELECT 1 FROM pg_inherits i
              JOIN pg_class c ON c.oid = i.inhrelid
              JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = p_schema AND c.relname = raydar._partition_name(p_table, s.d));
    IF cardinality(todo) > 10000 THEN
        RAISE EXCEPTION 'refusing to make % partitions of %.% in one call', cardinality(todo),
                        quote_ident(p_schema), quote_ident(p_table)
            USING ERRCODE = 'program_limit_exceeded',
                  DETAIL = 'One call makes at most 10000 daily partitions.',
                  HINT = 'Pass the days in several calls, or check the times: each partition is a table.';
    END IF;
    FOREACH d IN ARRAY coalesce(todo, '{}')
    LOOP
        part := raydar._partition_name(p_table, d);
        IF octet_length(part) > 63 THEN
            -- A year past 9999 adds digits: truncated, the name would clash.
            RAISE EXCEPTION 'cannot make a daily partition of %.% for %: its name % is too long',
                            quote_ident(p_schema), quote_ident(p_table), to_char(d, 'FMYYYY-MM-DD'), part
                USING ERRCODE = 'name_too_long',
                      HINT = 'A time far in the future is often epoch milliseconds sent as seconds.';
        END IF;
        lo := d AT TIME ZONE 'UTC';
        EXECUTE format('CREATE TABLE %I.%I (LIKE %I.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                       p_schema, part, p_schema, p_table);
        EXECUTE format('ALTER TABLE %I.%I ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
                       p_schema, p_table, p_schema, part, lo, lo + interval '1 day');
        RETURN NEXT part;
    END LOOP;
END
$fn$;

CREATE OR REPLACE FUNCTION raydar.create_metrics_table(
    name text,
    columns json,
    time_column text DEFAULT NULL,
    if_not_exists boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    tbl      text := name;
    spec     jsonb := '[]';
    coldefs  text := '';
    col      record;
    ctype    text;
    seen     text[] := '{}';
    tcol     text := time_column;
    existing raydar.partitioned_tables;
    today    timestamptz := date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    lo       timestamptz;
    i        integer;
BEGIN
    PERFORM raydar._check_identifier('table', tbl, 53);
    IF columns IS NULL OR json_typeof(columns) <> 'object' THEN
        RAISE EXCEPTION 'columns must be a JSON object mapping column names to types'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'For example ''{"node_id": "str", "loss": "float", "timestamp": "datetime"}''.';
    END IF;
    FOR col IN SELECT e.key, e.value, e.ord FROM json_each(columns) WITH ORDINALITY AS e(key, value, ord)
    LOOP
        PERFORM raydar._check_identifier('column', col.key, 63);
        IF col.key = ANY (seen) THEN
            RAISE EXCEPTION 'column "%" is given more than once', col.key
                USING ERRCODE = 'duplicate_column';
        END IF;
        seen := seen || col.key;
        IF json_typeof(col.value) = 'string' THEN
            ctype := raydar._metrics_type(col.value #>> '{}');
        ELSE
            ctype := NULL;
        END IF;
        IF ctype IS NULL THEN
            RAISE EXCEPTION 'unknown type % for column "%"', left(col.value::text, 80), col.key
                USING ERRCODE = 'undefined_object',
                      HINT = 'Types are str (string, text), float (double), int (integer), bool (boolean), datetime (timestamp), json (jsonb).';
        END IF;
        spec := spec || jsonb_build_array(jsonb_build_array(col.key, ctype));
    END LOOP;
    IF cardinality(seen) = 0 THEN
        RAISE EXCEPTION 'a metrics table needs at least one column'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF cardinality(seen) > 1000 THEN
        RAISE EXCEPTION 'a metrics table has at most 1000 columns (got %)', cardinality(seen)
            USING ERRCODE = 'too_many_columns';
    END IF;
    IF tcol IS NULL THEN
        SELECT c->>0 INTO tcol FROM jsonb_array_elements(spec) WITH ORDINALITY AS s(c, o)
         WHERE c->>1 = 'datetime' ORDER BY o LIMIT 1;
        IF tcol IS NULL THEN
            RAISE EXCEPTION 'metrics table "%" has no datetime column to partition by', tbl
                USING ERRCODE = 'invalid_table_definition',
                      HINT = 'Add one, for example "timestamp": "datetime".';
        END IF;
    ELSIF NOT EXISTS (SELECT 1 FROM jsonb_array_elements(spec) c WHERE c->>0 = tcol AND c->>1 = 'datetime') THEN
        RAISE EXCEPTION 'time column % is not a datetime column of the table', quote_literal(left(tcol, 80))
            USING ERRCODE = 'invalid_table_definition';
    END IF;

    SELECT * INTO existing FROM raydar.partitioned_tables
     WHERE schema_name = 'raydar_metrics' AND table_name = tbl;
    IF FOUND THEN
        IF if_not_exists AND existing.columns = spec AND existing.time_column = tcol THEN
            RAISE NOTICE 'metrics table "%" already exists, skipping', tbl;
            RETURN 'raydar_metrics.' || tbl;
        END IF;
        IF NOT if_not_exists THEN
            RAISE EXCEPTION 'metrics table "%" already exists', tbl
                USING ERRCODE = 'duplicate_table',
                      HINT = 'Pass if_not_exists => true to reuse it.';
        END IF;
        RAISE EXCEPTION 'metrics table "%" already exists with another definition', tbl
            USING ERRCODE = 'duplicate_table',
                  DETAIL = format('It has columns: %s; time column %s.',
                           (SELECT string_agg(c->>0 || ' ' || (c->>1), ', ' ORDER BY o)
                              FROM jsonb_array_elements(existing.columns) WITH ORDINALITY s(c, o)),
                           existing.time_column),
                  HINT = 'Drop it with raydar.drop_metrics_table() or use another name.';
    END IF;
    IF to_regclass(format('raydar_metrics.%I', tbl)) IS NOT NULL THEN
        RAISE EXCEPTION 'relation raydar_metrics.% exists but is not a raydar metrics table', tbl
            USING ERRCODE = 'duplicate_table';
    END IF;

    SELECT string_agg(format('%I %s%s', c->>0,
               CASE c->>1 WHEN 'str' THEN 'text' WHEN 'float' THEN 'double precision'
                          WHEN 'int' THEN 'bigint' WHEN 'bool' THEN 'boolean'
                          WHEN 'datetime' THEN 'timestamptz' WHEN 'json' THEN 'jsonb' END,
               CASE WHEN c->>0 = tcol THEN ' NOT NULL DEFAULT now()' ELSE '' END), ', ' ORDER BY o)
      INTO coldefs
      FROM jsonb_array_elements(spec) WITH ORDINALITY AS s(c, o);
    EXECUTE format('CREATE TABLE raydar_metrics.%I (%s) PARTITION BY RANGE (%I)', tbl, coldefs, tcol);
    EXECUTE format('COMMENT ON TABLE raydar_metrics.%I IS %L', tbl,
                   'raydar metrics table; write with raydar.update() or INSERT');
    INSERT INTO raydar.partitioned_tables (schema_name, table_name, kind, time_column, columns)
    VALUES ('raydar_metrics', tbl, 'metrics', tcol, spec);
    -- Yesterday (clients whose clocks lag), today, and premake days ahead.
    -- The table is new, so PARTITION OF takes no lock anyone waits for.
    FOR i IN -1 .. 7 LOOP
        lo := today + make_interval(days => i);
        EXECUTE format('CREATE TABLE raydar_metrics.%I PARTITION OF raydar_metrics.%I FOR VALUES FROM (%L) TO (%L)',
                       raydar._partition_name(tbl, lo AT TIME ZONE 'UTC'), tbl, lo, lo + interval '1 day');
    END LOOP;
    EXECUTE format('GRANT SELECT ON raydar_metrics.%I TO raydar_reader', tbl);
    EXECUTE format('GRANT SELECT, INSERT ON raydar_metrics.%I TO raydar_writer', tbl);
    RETURN 'raydar_metrics.' || tbl;
END
$fn$;

CREATE OR REPLACE FUNCTION raydar.run_maintenance(lock_timeout interval DEFAULT interval '2 s')
RETURNS TABLE (table_name text, action text, partition_name text, detail text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $fn$
DECLARE
    reg    raydar.partitioned_tables;
    qname  text;
    today  timestamptz := date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    lo     timestamptz;
    part   text;
    p      record;
    i      integer;
    has_rows boolean;
BEGIN
    PERFORM set_config('lock_timeout', (extract(epoch FROM run_maintenance.lock_timeout) * 1000)::bigint::text, true);
    FOR reg IN SELECT * FROM raydar.partitioned_tables t ORDER BY t.schema_name, t.table_name LOOP
        qname := format('%I.%I', reg.schema_name, reg.table_name);
        table_name := qname;
        IF to_regclass(qname) IS NULL THEN
            DELETE FROM raydar.partitioned_tables t
             WHERE t.schema_name = reg.schema_name AND t.table_name = reg.table_name;
            action := 'forgotten'; partition_name := NULL; detail := 'table no longer exists';
            RETURN NEXT;
            CONTINUE;
        END IF;
        IF NOT pg_try_advisory_xact_lock(raydar._partitions_lock(reg.schema_name, reg.table_name)) THEN
            action := 'skipped'; partition_name := NULL; detail := 'another session is changing its partitions';
            RETURN NEXT;
            CONTINUE;
        END IF;

        -- Make partitions ahead.
        FOR i IN 0 .. reg.premake LOOP
            lo := today + make_interval(days => i);
            part := raydar._partition_name(reg.table_name, lo AT TIME ZONE 'UTC');
            CONTINUE WHEN EXISTS (SELECT 1 FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
                                   WHERE h.inhparent = qname::regclass AND c.relname = part);
            partition_name := format('%I.%I', reg.schema_name, part);
            BEGIN
                EXECUTE format('CREATE TABLE %I.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                               reg.schema_name, part, qname);
                EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
                               qname, reg.schema_name, part, lo, lo + interval '1 day');
                action := 'created'; detail := format('for %s', to_char(lo AT TIME ZONE 'UTC', 'YYYY-MM-DD'));
            EXCEPTION WHEN lock_not_available THEN
                action := 'skipped'; detail := 'lock timeout, retried by the next run';
            END;
            RETURN NEXT;
            EXIT WHEN action = 'skipped';
        END LOOP;

        -- Partitions beyond the premake horizon (their day starts after
        -- today + premake) are made only by a caller asking for that day:
        -- data from a clock far ahead, or a mistaken or hostile call of
        -- _add_partitions. Retention only ever reaches the past, so the
        -- empty ones are dropped here (a later row for that day makes it
        -- again); one holding rows is kept and reported, as rows are never
        -- dropped for being early. Emptiness is checked again under the
        -- partition's lock, so a row inserted meanwhile is never lost.
        FOR p IN
            SELECT c.relname, b.lo
              FROM pg_inherits h
              JOIN pg_class c ON c.oid = h.inhrelid
              CROSS JOIN LATERAL (SELECT (regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                                       'FROM \(''([^'']+)''\)'))[1]::timestamptz AS lo) b
             WHERE h.inhparent = qname::regclass
               AND b.lo > today + make_interval(days => reg.premake)
             ORDER BY b.lo
        LOOP
            partition_name := format('%I.%I', reg.schema_name, p.relname);
            EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.%I)', reg.schema_name, p.relname) INTO has_rows;
            IF NOT has_rows THEN
                BEGIN
                    EXECUTE format('LOCK TABLE %I.%I IN ACCESS EXCLUSIVE MODE', reg.schema_name, p.relname);
                    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.%I)', reg.schema_name, p.relname) INTO has_rows;
                    IF NOT has_rows THEN
                        EXECUTE format('DROP TABLE %I.%I', reg.schema_name, p.relname);
                        action := 'dropped';
                        detail := format('empty, for %s, beyond the premake horizon', to_char(p.lo AT TIME ZONE 'UTC', 'YYYY-MM-DD'));
                    END IF;
                EXCEPTION WHEN lock_not_available THEN
                    action := 'skipped'; detail := 'lock timeout, retried by the next run';
                END;
            END IF;
            IF has_rows THEN
                action := 'kept';
                detail := format('holds rows for %s, beyond the premake horizon', to_char(p.lo AT TIME ZONE 'UTC', 'YYYY-MM-DD'));
            END IF;
            RETURN NEXT;
        END LOOP;

        -- Drop expired partitions: those whose upper bound is at or before
        -- now() - retention, so every row in them is older than retention.
        CONTINUE WHEN reg.retention IS NULL;
        FOR p IN
            SELECT c.relname, b.hi
              FROM pg_inherits h
              JOIN pg_class c ON c.oid = h.inhrelid
              CROSS JOIN LATERAL (SELECT (regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                                       'TO \(''([^'']+)''\)'))[1]::timestamptz AS hi) b
             WHERE h.inhparent = qname::regclass
               AND b.hi <= now() - reg.retention
             ORDER BY b.hi
        LOOP
            partition_name := format('%I.%I', reg.schema_name, p.relname);
            BEGIN
                EXECUTE format('DROP TABLE %I.%I', reg.schema_name, p.relname);
                action := 'dropped'; detail := format('rows before %s', p.hi);
            EXCEPTION WHEN lock_not_available THEN
                action := 'skipped'; detail := 'lock timeout, retried by the next run';
            END;
            RETURN NEXT;
        END LOOP;
    END LOOP;
END
$fn$;

CREATE FUNCTION raydar._is_terminal(state text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
    SELECT state IN ('FINISHED', 'FAILED')
$fn$;

CREATE OR REPLACE FUNCTION raydar.job_progress_at(as_of timestamptz)
RETURNS TABLE (cluster text, incarnation text, job_id text, total bigint, finished bigint, failed bigint,
               running bigint, pending bigint, percent_done numeric,
               tasks_per_second_last_minute numeric, tasks_per_second_overall numeric,
               started_at timestamptz, last_end_time timestamptz, elapsed interval,
               time_left interval, as_of timestamptz)
LANGUAGE sql STABLE
AS $fn$
    WITH latest AS (
        -- job_id is in the DISTINCT ON and the window's partition (a task
        -- id determines its job) so that a filter on job_id is pushed down.
        SELECT DISTINCT ON (t.cluster, t.incarnation, t.job_id, t.task_id)
               t.cluster, t.incarnation, t.job_id, t.state, t.end_time,
               min(coalesce(t.creation_time, t.start_time))
                   OVER (PARTITION BY t.cluster, t.incarnation, t.job_id, t.task_id) AS first_seen
          FROM raydar.tasks t
         WHERE t.type IS DISTINCT FROM 'DRIVER_TASK'
         ORDER BY t.cluster, t.incarnation, t.job_id, t.task_id, t.attempt_number DESC
    ), counts AS (
        SELECT l.cluster, l.incarnation, l.job_id,
               count(*) AS total,
               count(*) FILTER (WHERE l.state = 'FINISHED') AS finished,
               count(*) FILTER (WHERE l.state = 'FAILED') AS failed,
               count(*) FILTER (WHERE l.state LIKE 'RUNNING%') AS running,
               -- No upper bound: a Ray node whose clock runs ahead of the
               -- database's must not make its tasks vanish from the rate.
               count(*) FILTER (WHERE raydar._is_terminal(l.state)
                                  AND l.end_time > $1 - interval '1 minute') AS ended_last_minute,
               min(l.first_seen) AS started_at,
               max(l.end_time) AS last_end_time
          FROM latest l
         GROUP BY l.cluster, l.incarnation, l.job_id
    ), timing AS (
        SELECT c.*,
               c.finished + c.failed AS done,
               c.total - c.finished - c.failed AS remaining,
               CASE WHEN c.total = c.finished + c.failed THEN c.last_end_time ELSE $1 END
                   - c.started_at AS elapsed,
               -- The last minute, or the job's life when it is younger.
               extract(epoch FROM least(interval '1 minute', $1 - c.started_at)) AS window_s
          FROM counts c
    ), rates AS (
        SELECT t.*,
               CASE WHEN t.window_s > 0 THEN t.ended_last_minute / t.window_s END AS rate_recent,
               CASE WHEN extract(epoch FROM t.elapsed) > 0
                    THEN t.done / extract(epoch FROM t.elapsed) END AS rate_overall
          FROM timing t
    )
    SELECT r.cluster, r.incarnation, r.job_id, r.total, r.finished, r.failed, r.running,
           r.total - r.finished - r.failed - r.running AS pending,
           round(100.0 * r.done / r.total, 1) AS percent_done,
           round(r.rate_recent, 3) AS tasks_per_second_last_minute,
           round(r.rate_overall, 3) AS tasks_per_second_overall,
           r.started_at, r.last_end_time, r.elapsed,
           CASE WHEN r.remaining = 0 THEN interval '0'
                WHEN r.rate_recent > 0 THEN make_interval(secs => round(r.remaining / r.rate_recent, 3)::float8)
                WHEN r.rate_overall > 0 THEN make_interval(secs => round(r.remaining / r.rate_overall, 3)::float8)
           END AS time_left,
           $1 AS as_of
      FROM rates r
     ORDER BY r.cluster, r.incarnation, r.job_id
$fn$;

CREATE OR REPLACE VIEW raydar.task_summary AS
    SELECT t.cluster, t.incarnation, t.job_id, t.func_or_class_name, t.type,
           count(DISTINCT t.task_id) AS tasks,
           count(*) AS attempts,
           count(*) FILTER (WHERE t.state = 'FINISHED') AS finished,
           count(*) FILTER (WHERE t.state = 'FAILED') AS failed,
           count(*) FILTER (WHERE t.state LIKE 'RUNNING%') AS running,
           count(*) FILTER (WHERE NOT raydar._is_terminal(t.state) AND t.state NOT LIKE 'RUNNING%') AS pending,
           (SELECT jsonb_object_agg(s.state, s.n)
              FROM (SELECT u.state, count(*) AS n FROM unnest(array_agg(t.state)) AS u(state) GROUP BY u.state) s)
               AS state_counts,
           round(avg(extract(epoch FROM t.end_time - t.start_time)), 3) AS mean_s,
           round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM t.end_time - t.start_time)))::numeric, 3) AS p50_s,
           round((percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM t.end_time - t.start_time)))::numeric, 3) AS p95_s,
           round(max(extract(epoch FROM t.end_time - t.start_time)), 3) AS max_s
      FROM raydar.tasks t
     WHERE t.type IS DISTINCT FROM 'DRIVER_TASK'
     GROUP BY t.cluster, t.incarnation, t.job_id, t.func_or_class_name, t.type;
