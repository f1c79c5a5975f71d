-- 12_sql_hardening.sql: issue 12, the SQL side (0.1 -> 0.2). Each
-- function here is copied exactly from src/sql (the same text as a fresh
-- install); see there for why each is as it is.
--
-- Answers: one filter for the characters XML cannot carry, used by every
-- SVG and DOT writer; chrome_trace skips events without numeric times.

CREATE FUNCTION raydar._xml_chars(s text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT translate(s,
        E'\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\uFFFE\uFFFF',
        repeat(E'\uFFFD', 30))
$fn$;

CREATE OR REPLACE FUNCTION raydar._dot_quote(s text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT '"' || replace(replace(replace(replace(
                   translate(raydar._xml_chars(CASE WHEN length(s) > 1000
                                                    THEN left(s, 1000) || '… (md5 ' || md5(s) || ')'
                                                    ELSE coalesce(s, '') END), E'\t\r', '  '),
                   '\', '\\'), '"', '\"'), '&', '&amp;'), E'\n', '\n') || '"'
$fn$;

CREATE OR REPLACE FUNCTION raydar._xml(s text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT replace(replace(replace(replace(replace(replace(replace(replace(
               raydar._xml_chars(coalesce(s, '')),
               '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'), '''', '&#39;'),
               E'\t', '&#9;'), E'\n', '&#10;'), E'\r', '&#13;')
$fn$;

CREATE OR REPLACE FUNCTION raydar.chrome_trace(job_id text, cluster text DEFAULT NULL)
RETURNS json
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    WITH ev AS (
        SELECT t.task_id, t.attempt_number, t.job_id, t.func_or_class_name, t.actor_id,
               t.profiling_data->>'node_ip_address' AS node_ip,
               (t.profiling_data->>'component_type') || ':' || (t.profiling_data->>'component_id') AS component,
               e.value AS event, e.ord
          FROM raydar.tasks t
         CROSS JOIN LATERAL jsonb_array_elements(t.profiling_data->'events') WITH ORDINALITY AS e(value, ord)
         WHERE t.cluster = (SELECT raydar._job_cluster($1, $2)) AND t.job_id = $1
           AND t.profiling_data->>'component_type' IN ('worker', 'driver')
           AND jsonb_typeof(t.profiling_data->'events') = 'array'
           -- An event without numeric times cannot be placed: skipped,
           -- rather than failing the whole trace on a cast.
           AND jsonb_typeof(e.value->'start_time') = 'number'
           AND jsonb_typeof(e.value->'end_time') = 'number'
    ), ids AS (
        -- Ray numbers nodes and workers from 0; here in the order of their names.
        SELECT ev.*,
               dense_rank() OVER (ORDER BY ev.node_ip) - 1 AS pid,
               dense_rank() OVER (ORDER BY ev.component) - 1 AS tid
          FROM ev
    ), x AS (
        SELECT json_build_object(
                   'cat', i.event->>'event_name',
                   'name', coalesce(i.event->'extra_data'->>'name', i.event->>'event_name'),
                   'pid', i.pid,
                   'tid', i.tid,
                   -- Milliseconds to microseconds, in numeric: exact, and
                   -- never in exponent notation (float8 prints 1.7e+15).
                   'ts', trim_scale((i.event->>'start_time')::numeric * 1000),
                   'dur', trim_scale(((i.event->>'end_time')::numeric - (i.event->>'start_time')::numeric) * 1000),
                   'cname', coalesce(i.event->'extra_data'->>'cname',
                                     CASE i.event->>'event_name'
                                         WHEN 'worker_idle' THEN 'cq_build_abandoned'
                                         WHEN 'task' THEN 'rail_response'
                                         WHEN 'task:deserialize_arguments' THEN 'rail_load'
                                         WHEN 'task:execute' THEN 'rail_animation'
                                         WHEN 'task:store_outputs' THEN 'rail_idle'
                                         WHEN 'wait_for_function' THEN 'detailed_memory_dump'
                                         WHEN 'ray.get' THEN 'good'
                                         WHEN 'ray.put' THEN 'terrible'
                                         WHEN 'ray.wait' THEN 'vsync_highlight_color'
                                         WHEN 'submit_task' THEN 'background_memory_dump'
                                         WHEN 'fetch_and_run_function' THEN 'detailed_memory_dump'
                                         WHEN 'register_remote_function' THEN 'detailed_memory_dump'
                                         ELSE 'generic_work' END),
                   'args', CASE WHEN jsonb_typeof(i.event->'extra_data') = 'object' THEN i.event->'extra_data' ELSE '{}' END
                           || jsonb_build_object('task_id', i.task_id, 'job_id', i.job_id,
                                                 'attempt_number', i.attempt_number,
                                                 'func_or_class_name', i.func_or_class_name,
                                                 'actor_id', i.actor_id),
                   'ph', 'X') AS j,
               1 AS part, (i.event->>'start_time')::numeric AS k1, i.task_id AS k2, i.attempt_number AS k3, i.ord AS k4
          FROM ids i
        UNION ALL
        SELECT json_build_object('name', 'process_name', 'args', json_build_object('name', 'Node ' || n.node_ip),
                                 'pid', n.pid, 'tid', NULL, 'ph', 'M'),
               2, n.pid, NULL, NULL, NULL
          FROM (SELECT DISTINCT i.node_ip, i.pid FROM ids i) n
        UNION ALL
        SELECT json_build_object('name', 'thread_name', 'args', json_build_object('name', w.component),
                                 'pid', w.pid, 'tid', w.tid, 'ph', 'M'),
               3, w.tid, NULL, NULL, NULL
          FROM (SELECT DISTINCT i.component, i.pid, i.tid FROM ids i) w
    )
    SELECT coalesce(json_agg(x.j ORDER BY x.part, x.k1, x.k2, x.k3, x.k4), '[]')
      FROM x
$fn$;

CREATE OR REPLACE FUNCTION raydar.timeline_svg(job_id text, cluster text DEFAULT NULL)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    WITH c AS MATERIALIZED (
        SELECT raydar._job_cluster($1, $2) AS cluster
    ), bars AS MATERIALIZED (
        SELECT t.task_id, t.attempt_number, t.name, t.state, t.node_id, t.worker_id, t.worker_pid,
               t.start_time, t.end_time, t.cluster, n.node_ip
          FROM raydar.tasks t
          LEFT JOIN raydar.node_history n ON n.cluster = t.cluster AND n.node_id = t.node_id
         WHERE t.cluster = (SELECT c.cluster FROM c) AND t.job_id = $1
           AND t.type IS DISTINCT FROM 'DRIVER_TASK' AND t.start_time IS NOT NULL
    ), geo AS (
        -- Layout in px: label column lx, plot width pw, lane height lh,
        -- bar height bh, plot top; the time span in seconds.
        SELECT 230 AS lx, 900 AS pw, 22 AS lh, 16 AS bh, 48 AS top,
               min(b.start_time) AS t0, greatest(max(b.end_time), max(b.start_time)) AS t1,
               greatest(extract(epoch FROM greatest(max(b.end_time), max(b.start_time)) - min(b.start_time)), 0.001) AS span,
               count(*) AS attempts
          FROM bars b
    ), ax AS (
        -- Axis ticks: the 1-2-5 step that gives at most 10 of them.
        SELECT g.*, (SELECT min(m * 10::numeric ^ e) FROM unnest(ARRAY[1, 2, 5]) m, generate_series(-3, 7) e
                      WHERE g.span / (m * 10::numeric ^ e) <= 10) AS step
          FROM geo g
    ), lanes AS MATERIALIZED (
        SELECT l.node_id, l.worker_id, l.label,
               (row_number() OVER (ORDER BY l.node_ip NULLS LAST, l.node_id NULLS LAST, l.first_start, l.worker_id) - 1)::integer AS lane
          FROM (SELECT b.node_id, b.worker_id, min(b.node_ip) AS node_ip, min(b.start_time) AS first_start,
                       coalesce(min(b.node_ip), left(b.node_id, 8), 'no node') || ' · '
                       || coalesce('pid ' || min(b.worker_pid), 'worker ' || left(b.worker_id, 8), 'no worker') AS label
                  FROM bars b GROUP BY b.node_id, b.worker_id) l
    ), dims AS (
        SELECT a.*, (SELECT count(*) FROM lanes)::integer AS nlanes FROM ax a
    )
    SELECT format(E'<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" font-family="Helvetica, Arial, sans-serif" font-size="11">\n',
                  d.lx + d.pw + 20, d.top + d.nlanes * d.lh + 40, d.lx + d.pw + 20, d.top + d.nlanes * d.lh + 40)
        || E'<rect width="100%" height="100%" fill="#ffffff"/>\n'
        || format(E'<text x="10" y="18" font-size="14" font-weight="bold">%s</text>\n',
                  raydar._xml(format('job %s on %s: %s attempts on %s workers, %s s', $1, (SELECT c.cluster FROM c),
                                     d.attempts, d.nlanes, round(d.span, 3))))
        -- Lanes: a band every other lane, the worker's node and pid on the left.
        || coalesce((SELECT string_agg(
               CASE WHEN l.lane % 2 = 0
                    THEN format(E'<rect x="%s" y="%s" width="%s" height="%s" fill="#f3f3f3"/>\n', d.lx, d.top + l.lane * d.lh, d.pw, d.lh)
                    ELSE '' END
               || format(E'<text x="%s" y="%s" text-anchor="end">%s</text>\n', d.lx - 8, d.top + l.lane * d.lh + 15, raydar._xml(l.label)),
               '' ORDER BY l.lane) FROM lanes l), '')
        -- Time axis: a tick and a grid line per step, seconds from the first start.
        || coalesce((SELECT string_agg(format(E'<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#cccccc"/><text x="%s" y="%s" text-anchor="middle">%s s</text>\n',
                                            k.x, d.top - 4, k.x, d.top + d.nlanes * d.lh, k.x, d.top - 8,
                                            rtrim(rtrim(round(k.i * d.step, 3)::text, '0'), '.')),
                                     '' ORDER BY k.i)
                     FROM (SELECT i, round(d.lx + d.pw * i * d.step / d.span, 1) AS x
                             FROM generate_series(0, floor(d.span / d.step)::integer) i) k), '')
        -- Bars: at least 2 px wide, so that the shortest attempt is seen;
        -- crisp edges, so that a bar is its colour, not a blend.
        || coalesce((SELECT string_agg(format(
               E'<rect class="bar" data-task="%s" data-attempt="%s" data-lane="%s" x="%s" y="%s" width="%s" height="%s" fill="%s" shape-rendering="crispEdges"><title>%s</title></rect>\n',
               raydar._xml(b.task_id), b.attempt_number, l.lane,
               round(d.lx + d.pw * extract(epoch FROM b.start_time - d.t0) / d.span, 1),
               d.top + l.lane * d.lh + (d.lh - d.bh) / 2,
               greatest(2, round(d.pw * extract(epoch FROM coalesce(b.end_time, d.t1) - b.start_time) / d.span, 1)),
               d.bh, raydar._state_color(b.state),
               raydar._xml(format('%s (attempt %s) %s, %s', coalesce(b.name, '?'), b.attempt_number, b.state,
                                  CASE WHEN b.end_time IS NULL THEN 'running'
                                       ELSE raydar._seconds(b.end_time - b.start_time) || ' s' END))),
               '' ORDER BY l.lane, b.start_time, b.task_id, b.attempt_number)
             FROM bars b
             JOIN lanes l ON l.node_id IS NOT DISTINCT FROM b.node_id AND l.worker_id IS NOT DISTINCT FROM b.worker_id), '')
        -- Legend.
        || (SELECT string_agg(format(E'<rect x="%s" y="%s" width="12" height="12" fill="%s"/><text x="%s" y="%s">%s</text>\n',
                                     d.lx + v.k * 110, d.top + d.nlanes * d.lh + 16, v.c, d.lx + v.k * 110 + 16, d.top + d.nlanes * d.lh + 26, v.s),
                              '' ORDER BY v.k)
              FROM (VALUES (0, '#59a14f', 'finished'), (1, '#e15759', 'failed'), (2, '#4e79a7', 'running')) v(k, c, s))
        || E'</svg>\n'
      FROM dims d
$fn$;


-- Partitions: _add_partitions takes any span (at most 10,000 new
-- partitions a call) and is the owner's only; writers make metrics
-- partitions through _add_metrics_partitions.

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
    PERFORM pg_advisory_xact_lock(hashtext('raydar.partitions:' || p_schema || '.' || p_table));
    SELECT array_agg(s.d ORDER BY s.d) INTO todo
      FROM (SELECT DISTINCT date_trunc('day', x AT TIME ZONE 'UTC') AS d
              FROM unnest(p_days) x WHERE x IS NOT NULL) s
     WHERE NOT EXISTS (
            SELECT 1 FROM pg_inherits i
              JOIN pg_class c ON c.oid = i.inhrelid
              JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = p_schema AND c.relname = p_table || '_p' || to_char(s.d, 'YYYYMMDD'));
    IF cardinality(todo) > 10000 THEN
        RAISE EXCEPTION 'refusing to make % partitions of %.% in one call', cardinality(todo),
                        quote_ident(p_schema), quote_ident(p_table)
            USING ERRCODE = 'program_limit_exceeded',
                  DETAIL = 'One call makes at most 10000 daily partitions.',
                  HINT = 'Pass the days in several calls, or check the times: each partition is a table.';
    END IF;
    FOREACH d IN ARRAY coalesce(todo, '{}')
    LOOP
        part := p_table || '_p' || to_char(d, 'YYYYMMDD');
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

CREATE FUNCTION raydar._add_metrics_partitions(p_table name, p_days timestamptz[])
RETURNS SETOF text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM raydar.partitioned_tables
                    WHERE schema_name = 'raydar_metrics' AND table_name = p_table AND kind = 'metrics') THEN
        RAISE EXCEPTION 'metrics table % does not exist', coalesce(quote_literal(left(p_table, 80)), 'NULL')
            USING ERRCODE = 'undefined_table';
    END IF;
    RETURN QUERY SELECT raydar._add_partitions('raydar_metrics', p_table, p_days);
END
$fn$;

REVOKE ALL ON FUNCTION raydar._add_partitions(name, name, timestamptz[]) FROM raydar_writer;
REVOKE ALL ON FUNCTION raydar._add_metrics_partitions(name, timestamptz[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION raydar._add_metrics_partitions(name, timestamptz[]) TO raydar_writer;

-- Maintenance drops empty partitions beyond the premake horizon.

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
        IF NOT pg_try_advisory_xact_lock(hashtext('raydar.partitions:' || reg.schema_name || '.' || reg.table_name)) THEN
            action := 'skipped'; partition_name := NULL; detail := 'another session is changing its partitions';
            RETURN NEXT;
            CONTINUE;
        END IF;

        -- Make partitions ahead.
        FOR i IN 0 .. reg.premake LOOP
            lo := today + make_interval(days => i);
            part := reg.table_name || '_p' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMMDD');
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


-- update(): a failed batch is searched in a few statements, not checked
-- value by value.

CREATE FUNCTION raydar._metrics_rows_ok(probe text, batches jsonb[], cols text[], below integer)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    EXECUTE probe USING batches, cols, below;
    RETURN true;
EXCEPTION WHEN OTHERS THEN
    RETURN false;
END
$fn$;

CREATE OR REPLACE FUNCTION raydar.update(name text, rows jsonb)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    reg      raydar.partitioned_tables;
    data     jsonb := rows;
    cols     text[];
    collist  text;
    exprs    text;
    tsexpr   text;
    ins      text;
    n        bigint;
    st       text;
    msg      text;
    r        record;
    c        record;
    bad      text;
    listing  text;
    days     timestamptz[];
    attempt  integer;
    kinds    text;
    cand     integer;
    searching boolean;
    pass     integer;
    chunks   jsonb[];
    arr      jsonb[];
    first    integer;
    probe    text;
    lo       integer;
    hi       integer;
    mid      integer;
BEGIN
    SELECT * INTO reg FROM raydar.partitioned_tables
     WHERE schema_name = 'raydar_metrics' AND table_name = name AND kind = 'metrics';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'metrics table % does not exist', coalesce(quote_literal(left(name, 80)), 'NULL')
            USING ERRCODE = 'undefined_table',
                  HINT = 'Create it with raydar.create_metrics_table(); raydar.metrics_tables lists them.';
    END IF;
    IF data IS NULL THEN
        RETURN 0;
    ELSIF jsonb_typeof(data) = 'object' THEN
        data := jsonb_build_array(data);
    ELSIF jsonb_typeof(data) <> 'array' THEN
        RAISE EXCEPTION 'rows must be a JSON array of objects, not a JSON %', jsonb_typeof(data)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_array_length(data) = 0 THEN
        RETURN 0;
    END IF;

    SELECT array_agg(s.c->>0 ORDER BY s.o),
           string_agg(quote_ident(s.c->>0), ', ' ORDER BY s.o),
           string_agg(CASE WHEN s.c->>0 = reg.time_column
                           THEN format('coalesce(%s, now())', raydar._metrics_value_sql(format('x->%L', s.c->>0), s.c->>1))
                           ELSE raydar._metrics_value_sql(format('x->%L', s.c->>0), s.c->>1) END,
                      ', ' ORDER BY s.o),
           string_agg(s.c->>0 || ' ' || (s.c->>1), ', ' ORDER BY s.o)
      INTO cols, collist, exprs, listing
      FROM jsonb_array_elements(reg.columns) WITH ORDINALITY AS s(c, o);
    SELECT format('coalesce(%s, now())', raydar._metrics_value_sql(format('x->%L', s.c->>0), s.c->>1))
      INTO tsexpr
      FROM jsonb_array_elements(reg.columns) AS s(c) WHERE s.c->>0 = reg.time_column;

    ins := format('INSERT INTO raydar_metrics.%I (%s) SELECT %s FROM jsonb_array_elements($1) AS x '
                  'WHERE CASE WHEN jsonb_typeof(x) = ''object'' AND (x - $2) = ''{}''::jsonb THEN true '
                  'ELSE raydar._metrics_reject(NULL::boolean) END',
                  reg.table_name, collist, exprs);
    FOR attempt IN 1 .. 2 LOOP
        BEGIN
            EXECUTE ins USING data, cols;
            GET DIAGNOSTICS n = ROW_COUNT;
            RETURN n;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
        END;
        -- A time outside the partitions made so far: make them and retry.
        IF attempt = 1 AND st = '23514' AND msg LIKE 'no partition of relation%'
           AND pg_has_role('raydar_writer', 'USAGE') THEN
            BEGIN
                EXECUTE format('SELECT array_agg(DISTINCT %s) FROM jsonb_array_elements($1) AS x', tsexpr)
                   INTO days USING data;
            EXCEPTION WHEN OTHERS THEN
                days := NULL;
            END;
            IF days IS NOT NULL THEN
                PERFORM raydar._add_metrics_partitions(reg.table_name, days);
                CONTINUE;
            END IF;
        END IF;
        EXIT;
    END LOOP;

    -- The INSERT failed: find the first row and column to blame, in a few
    -- statements whatever the size (a subtransaction per value made
    -- 200,000 rows take 15 times a good run).
    -- The steps below read the batch several times: decompress it once
    -- (jsonb || '[]' returns the array itself, detoasted).
    data := data || '[]'::jsonb;
    -- 1. One pass that cannot fail: the first row that is not an object,
    --    has an unknown key or a value of the wrong JSON kind (a string
    --    for a datetime counts as right here: its text is for step 2).
    SELECT string_agg(CASE s.c->>1
               WHEN 'str' THEN format('coalesce(jsonb_typeof(x->%L), ''null'') IN (''string'', ''null'')', s.c->>0)
               WHEN 'float' THEN format('(coalesce(jsonb_typeof(x->%1$L), ''null'') IN (''number'', ''null'') '
                                        'OR (jsonb_typeof(x->%1$L) = ''string'' AND x->>%1$L IN (''NaN'', ''Infinity'', ''-Infinity'')))', s.c->>0)
               WHEN 'int' THEN format('coalesce(jsonb_typeof(x->%L), ''null'') IN (''number'', ''null'')', s.c->>0)
               WHEN 'bool' THEN format('coalesce(jsonb_typeof(x->%L), ''null'') IN (''boolean'', ''null'')', s.c->>0)
               WHEN 'datetime' THEN format('coalesce(jsonb_typeof(x->%L), ''null'') IN (''number'', ''string'', ''null'')', s.c->>0)
               ELSE 'true' END, ' AND ' ORDER BY s.o)
      INTO kinds
      FROM jsonb_array_elements(reg.columns) WITH ORDINALITY AS s(c, o);
    EXECUTE format('SELECT min(e.o) FROM jsonb_array_elements($1) WITH ORDINALITY AS e(x, o) '
                   'WHERE NOT CASE WHEN jsonb_typeof(x) = ''object'' THEN (x - $2) = ''{}''::jsonb AND %s ELSE false END',
                   kinds)
       INTO cand USING data, cols;
    -- 2. One statement converting every row before it, as the INSERT does
    --    (_metrics_rows_ok). If they all convert, that row is the first bad
    --    one, or, without one, the failure was not about values.
    --    Otherwise (a number out of range, a datetime that is no date), or
    --    if the row turns out fine after all:
    -- 3. bisection: items (0, lo] are known good, the first bad one is in
    --    (lo, hi]: first over chunks of 1024 rows (slicing an array of
    --    200,000 small values costs more than evaluating them), then over
    --    the rows of the chunk found. If no row is bad, it ends on the last
    --    row, which the checks pass.
    probe := format('SELECT count(ROW(%s)) FROM (SELECT e.x FROM unnest($1) AS c, '
                    'jsonb_array_elements(c) WITH ORDINALITY AS e(x, o) WHERE e.o < $3 OFFSET 0) AS s '
                    'WHERE CASE WHEN jsonb_typeof(x) = ''object'' AND (x - $2) = ''{}''::jsonb THEN true '
                    'ELSE raydar._metrics_reject(NULL::boolean) END', exprs);
    searching := NOT raydar._metrics_rows_ok(probe, ARRAY[data], cols, coalesce(cand, jsonb_array_length(data) + 1));
    IF searching THEN
        cand := NULL;
    END IF;
    FOR pass IN 1 .. 2 LOOP
        IF pass = 2 THEN
            EXIT WHEN NOT searching;
            chunks := ARRAY(SELECT jsonb_agg(e.value ORDER BY e.ord)
                              FROM jsonb_array_elements(data) WITH ORDINALITY AS e(value, ord)
                             GROUP BY (e.ord - 1) / 1024 ORDER BY (e.ord - 1) / 1024);
            lo := 0;
            hi := cardinality(chunks);
            WHILE hi - lo > 1 LOOP
                mid := lo + (hi - lo) / 2;
                IF raydar._metrics_rows_ok(probe, chunks[lo + 1 : mid], cols, 2147483647) THEN
                    lo := mid;
                ELSE
                    hi := mid;
                END IF;
            END LOOP;
            first := (hi - 1) * 1024;
            arr := ARRAY(SELECT jsonb_build_array(e.value)
                           FROM jsonb_array_elements(chunks[hi]) WITH ORDINALITY AS e(value, ord) ORDER BY e.ord);
            lo := 0;
            hi := cardinality(arr);
            WHILE hi - lo > 1 LOOP
                mid := lo + (hi - lo) / 2;
                IF raydar._metrics_rows_ok(probe, arr[lo + 1 : mid], cols, 2147483647) THEN
                    lo := mid;
                ELSE
                    hi := mid;
                END IF;
            END LOOP;
            cand := first + hi;
        END IF;
        CONTINUE WHEN cand IS NULL;
        SELECT data -> (cand - 1) AS v, cand - 1 AS idx INTO r;
        IF jsonb_typeof(r.v) <> 'object' THEN
            RAISE EXCEPTION 'rows[%] of metrics table "%" is not a JSON object but a JSON %', r.idx, name, jsonb_typeof(r.v)
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'Nothing was inserted.';
        END IF;
        SELECT k INTO bad FROM jsonb_object_keys(r.v) k WHERE k <> ALL (cols) ORDER BY k LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'rows[%] of metrics table "%" has unknown column %', r.idx, name, quote_literal(left(bad, 80))
                USING ERRCODE = 'undefined_column',
                      DETAIL = format('Metrics table "%s" has columns: %s. Nothing was inserted.', name, listing);
        END IF;
        FOR c IN SELECT s.c->>0 AS col, s.c->>1 AS ctype
                   FROM jsonb_array_elements(reg.columns) WITH ORDINALITY AS s(c, o) ORDER BY s.o
        LOOP
            bad := raydar._metrics_value_error(r.v -> c.col, c.ctype);
            IF bad IS NOT NULL THEN
                RAISE EXCEPTION 'rows[%] of metrics table "%": invalid value for column "%"', r.idx, name, c.col
                    USING ERRCODE = 'invalid_text_representation',
                          DETAIL = bad || '. Nothing was inserted.';
            END IF;
        END LOOP;
        -- The row converts after all: search.
        searching := true;
    END LOOP;
    -- Not a value problem (no partition, permission, constraint, ...).
    IF st = '23514' AND msg LIKE 'no partition of relation%' THEN
        RAISE EXCEPTION 'metrics table "%" has no partition for a row''s time', name
            USING ERRCODE = 'check_violation',
                  DETAIL = msg || '. Nothing was inserted.',
                  HINT = 'Members of raydar_writer get missing partitions made by raydar.update(); raydar.run_maintenance() makes them ahead.';
    END IF;
    RAISE EXCEPTION '%', msg USING ERRCODE = st;
END
$fn$;
