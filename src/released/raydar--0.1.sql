/* raydar--0.1.sql: objects of raydar 0.1, built from the files in src/sql, in name order. */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION raydar" to load this file. \quit

COMMENT ON SCHEMA raydar IS 'raydar: Ray cluster observability in SQL';
-- 10_decode.sql: the decoding core as SQL functions.

-- The Ray wire layer this build speaks, for bug reports and support.
CREATE FUNCTION raydar.build_info(
    OUT extension_version text,
    OUT protobuf_c_version text,
    OUT oldest_ray_version text,
    OUT newest_ray_layout text)
RETURNS record
AS 'MODULE_PATHNAME', 'raydar_build_info'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

-- Decode an encoded GetTaskEventsReply as a server of ray_version would
-- have meant it: the PostgreSQL face of the decoding core, for tests and
-- for debugging captured replies. One row per task attempt.
CREATE FUNCTION raydar.decode_task_events(
    reply bytea,
    ray_version text,
    OUT task_id text,
    OUT attempt_number integer,
    OUT name text,
    OUT state text,
    OUT job_id text,
    OUT type text,
    OUT error_type text,
    OUT error_message text,
    OUT creation_time timestamptz,
    OUT start_time timestamptz,
    OUT end_time timestamptz,
    OUT events jsonb)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'raydar_decode_task_events'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

-- 20_fdw.sql: the foreign data wrapper and its scan counters.

-- The foreign data wrapper: live Ray state over the GCS's gRPC protocol.
CREATE FUNCTION raydar.fdw_handler()
RETURNS fdw_handler
AS 'MODULE_PATHNAME', 'raydar_fdw_handler'
LANGUAGE C STRICT;

CREATE FUNCTION raydar.fdw_validator(text[], oid)
RETURNS void
AS 'MODULE_PATHNAME', 'raydar_fdw_validator'
LANGUAGE C STRICT;

CREATE FOREIGN DATA WRAPPER raydar
  HANDLER raydar.fdw_handler
  VALIDATOR raydar.fdw_validator;

COMMENT ON FOREIGN DATA WRAPPER raydar IS 'Ray cluster state (tasks) over the GCS gRPC protocol';

-- What Ray reported about this session's last foreign scan: rows returned,
-- the GCS's counters (truncated and dropped task events mean incomplete
-- data), reply size, whether the TTL cache answered, and call time.
CREATE FUNCTION raydar.last_scan(
    OUT server text,
    OUT rows bigint,
    OUT num_total_stored bigint,
    OUT num_filtered_on_gcs bigint,
    OUT num_truncated bigint,
    OUT num_status_task_events_dropped bigint,
    OUT num_profile_task_events_dropped bigint,
    OUT reply_bytes bigint,
    OUT from_cache boolean,
    OUT call_ms double precision)
RETURNS record
AS 'MODULE_PATHNAME', 'raydar_last_scan'
LANGUAGE C STRICT VOLATILE;
-- 40_metrics.sql: metrics tables (the `new` / `update` of the Python raydar),
-- and the registry of raydar-managed partitioned tables that maintenance
-- (50_maintenance.sql) works from. Privileges are set in 60_access.sql.
--
-- Names are data: every identifier that reaches dynamic SQL is validated
-- here and quoted with format('%I'); no value is ever spliced into SQL text
-- (values travel as parameters: EXECUTE ... USING).

CREATE SCHEMA raydar_metrics;
COMMENT ON SCHEMA raydar_metrics IS 'raydar: metrics tables made by raydar.create_metrics_table()';

-- One row per partitioned table that raydar maintains: metrics tables and,
-- later, the collector's history tables. Names rather than a regclass: a
-- reg* column in a user table makes pg_upgrade refuse the cluster.
CREATE TABLE raydar.partitioned_tables (
    schema_name        name NOT NULL,
    table_name         name NOT NULL,
    kind               text NOT NULL CHECK (kind IN ('metrics', 'history')),
    time_column        name NOT NULL,
    -- Daily partitions only (names are <table>_pYYYYMMDD, bounds UTC days).
    partition_interval interval NOT NULL DEFAULT interval '1 day'
                       CHECK (partition_interval = interval '1 day'),
    premake            integer NOT NULL DEFAULT 7 CHECK (premake BETWEEN 1 AND 90),
    retention          interval CHECK (retention > interval '0'),
    -- Metrics tables: [[column, type], ...] in table order, canonical types.
    columns            jsonb,
    created_at         timestamptz NOT NULL DEFAULT now(),
    created_by         name NOT NULL DEFAULT session_user,
    PRIMARY KEY (schema_name, table_name),
    CHECK (octet_length(table_name) <= 53)
);
COMMENT ON TABLE raydar.partitioned_tables IS
  'raydar-managed range-partitioned tables: partitions made ahead and dropped after retention by raydar.run_maintenance()';
SELECT pg_catalog.pg_extension_config_dump('raydar.partitioned_tables', '');

-- _check_identifier(what, ident, maxlen): refuse a name that is not a plain
-- lowercase SQL identifier usable without quotes. Quoting would make any
-- name safe in raydar's own SQL, but users type these names in psql and
-- Grafana: "user" or "Loss" would silently mean something else there.
CREATE FUNCTION raydar._check_identifier(what text, ident text, maxlen integer)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF ident IS NULL OR ident = '' THEN
        RAISE EXCEPTION '% name must not be empty', what
            USING ERRCODE = 'invalid_name';
    END IF;
    IF octet_length(ident) > maxlen THEN
        RAISE EXCEPTION '% name "%" is too long (% bytes, at most %)',
            what, left(ident, 80) || CASE WHEN length(ident) > 80 THEN '...' ELSE '' END,
            octet_length(ident), maxlen
            USING ERRCODE = 'name_too_long',
                  HINT = CASE WHEN what = 'table'
                    THEN 'Partition names add 10 bytes (_pYYYYMMDD) and PostgreSQL names have at most 63.'
                    ELSE 'PostgreSQL names have at most 63 bytes.' END;
    END IF;
    IF ident !~ '^[a-z_][a-z0-9_]*$' THEN
        RAISE EXCEPTION '% name % is not a valid name', what, quote_literal(left(ident, 80))
            USING ERRCODE = 'invalid_name',
                  HINT = 'Use lowercase ASCII letters, digits and underscores, starting with a letter or underscore.';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_get_keywords() k
                WHERE k.word = ident AND k.catcode IN ('R', 'T')) THEN
        RAISE EXCEPTION '% name "%" is a reserved SQL word', what, ident
            USING ERRCODE = 'invalid_name',
                  HINT = 'It would need double quotes in every query; choose another name.';
    END IF;
END
$fn$;

-- _metrics_type(alias): the canonical type of a metrics column type alias,
-- NULL when unknown.
CREATE FUNCTION raydar._metrics_type(alias text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT CASE lower(alias)
        WHEN 'str' THEN 'str' WHEN 'string' THEN 'str' WHEN 'text' THEN 'str'
        WHEN 'float' THEN 'float' WHEN 'double' THEN 'float'
        WHEN 'int' THEN 'int' WHEN 'integer' THEN 'int'
        WHEN 'bool' THEN 'bool' WHEN 'boolean' THEN 'bool'
        WHEN 'datetime' THEN 'datetime' WHEN 'timestamp' THEN 'datetime'
        WHEN 'json' THEN 'json' WHEN 'jsonb' THEN 'json'
    END
$fn$;

-- _add_partitions(schema, table, days): make the daily partitions holding
-- the given instants, skipping those that exist; returns the names made.
-- CREATE TABLE ... LIKE + ATTACH rather than CREATE TABLE ... PARTITION OF:
-- ATTACH takes SHARE UPDATE EXCLUSIVE on the parent, which does not
-- conflict with writers' ROW EXCLUSIVE, so making a partition never stalls
-- inserts. Only raydar-registered tables, at most 400 partitions a call.
CREATE FUNCTION raydar._add_partitions(p_schema name, p_table name, p_days timestamptz[])
RETURNS SETOF text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    reg   raydar.partitioned_tables;
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
    IF (SELECT count(DISTINCT date_trunc('day', x AT TIME ZONE 'UTC')) FROM unnest(p_days) x) > 400 THEN
        RAISE EXCEPTION 'refusing to make more than 400 partitions of %.% at once', quote_ident(p_schema), quote_ident(p_table)
            USING ERRCODE = 'program_limit_exceeded';
    END IF;
    -- Serialise with maintenance and other writers making partitions.
    PERFORM pg_advisory_xact_lock(hashtext('raydar.partitions:' || p_schema || '.' || p_table));
    FOR d IN SELECT DISTINCT date_trunc('day', x AT TIME ZONE 'UTC')
               FROM unnest(p_days) x WHERE x IS NOT NULL ORDER BY 1
    LOOP
        IF NOT isfinite(d) THEN
            RAISE EXCEPTION 'cannot make a partition for an infinite time'
                USING ERRCODE = 'datetime_field_overflow';
        END IF;
        part := p_table || '_p' || to_char(d, 'YYYYMMDD');
        CONTINUE WHEN EXISTS (
            SELECT 1 FROM pg_inherits i
              JOIN pg_class c ON c.oid = i.inhrelid
              JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = p_schema AND c.relname = part);
        lo := d AT TIME ZONE 'UTC';
        EXECUTE format('CREATE TABLE %I.%I (LIKE %I.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                       p_schema, part, p_schema, p_table);
        EXECUTE format('ALTER TABLE %I.%I ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
                       p_schema, p_table, p_schema, part, lo, lo + interval '1 day');
        RETURN NEXT part;
    END LOOP;
END
$fn$;

-- create_metrics_table(name, columns [, time_column] [, if_not_exists]):
-- columns is json, not jsonb, because jsonb reorders keys (and keeps only
-- the last of duplicate keys): the table's column order is the order the
-- caller wrote, so that a positional INSERT ... VALUES works.
CREATE FUNCTION raydar.create_metrics_table(
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
                       tbl || '_p' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMMDD'), tbl, lo, lo + interval '1 day');
    END LOOP;
    EXECUTE format('GRANT SELECT ON raydar_metrics.%I TO raydar_reader', tbl);
    EXECUTE format('GRANT SELECT, INSERT ON raydar_metrics.%I TO raydar_writer', tbl);
    RETURN 'raydar_metrics.' || tbl;
END
$fn$;

-- _metrics_reject(): raised inside update's INSERT for a value of the wrong
-- JSON kind; update catches it and reports row and column.
CREATE FUNCTION raydar._metrics_reject(anyelement)
RETURNS anyelement
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    RAISE EXCEPTION 'invalid metrics value' USING ERRCODE = 'invalid_text_representation';
END
$fn$;

-- _metrics_value_sql(expr, type): SQL converting the jsonb expression to
-- the column's type, strictly: a JSON value of another kind is an error.
CREATE FUNCTION raydar._metrics_value_sql(v text, ctype text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT format(CASE ctype
        WHEN 'str' THEN
          'CASE coalesce(jsonb_typeof(%1$s), ''null'') WHEN ''string'' THEN (%1$s #>> ''{}'') WHEN ''null'' THEN NULL ELSE raydar._metrics_reject(NULL::text) END'
        WHEN 'float' THEN
          'CASE coalesce(jsonb_typeof(%1$s), ''null'') WHEN ''number'' THEN (%1$s)::float8 WHEN ''null'' THEN NULL '
          'WHEN ''string'' THEN CASE WHEN (%1$s #>> ''{}'') IN (''NaN'', ''Infinity'', ''-Infinity'') THEN (%1$s #>> ''{}'')::float8 '
          'ELSE raydar._metrics_reject(NULL::float8) END ELSE raydar._metrics_reject(NULL::float8) END'
        WHEN 'int' THEN
          'CASE coalesce(jsonb_typeof(%1$s), ''null'') WHEN ''number'' THEN (%1$s #>> ''{}'')::int8 WHEN ''null'' THEN NULL ELSE raydar._metrics_reject(NULL::int8) END'
        WHEN 'bool' THEN
          'CASE coalesce(jsonb_typeof(%1$s), ''null'') WHEN ''boolean'' THEN (%1$s)::boolean WHEN ''null'' THEN NULL ELSE raydar._metrics_reject(NULL::boolean) END'
        WHEN 'json' THEN
          'CASE coalesce(jsonb_typeof(%1$s), ''null'') WHEN ''null'' THEN NULL ELSE %1$s END'
        WHEN 'datetime' THEN
          'CASE coalesce(jsonb_typeof(%1$s), ''null'') WHEN ''number'' THEN to_timestamp((%1$s)::float8) WHEN ''null'' THEN NULL '
          'WHEN ''string'' THEN CASE WHEN (%1$s #>> ''{}'') ~ ''^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)? ?([Zz]|[+-]\d{2}(:?\d{2})?)?$'' '
          'THEN (%1$s #>> ''{}'')::timestamptz ELSE raydar._metrics_reject(NULL::timestamptz) END '
          'ELSE raydar._metrics_reject(NULL::timestamptz) END'
        END, v)
$fn$;

-- _metrics_value_error(value, type): why a JSON value does not fit a
-- column's type (NULL when it fits). Used only after an update failed.
CREATE FUNCTION raydar._metrics_value_error(v jsonb, ctype text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    ok  text;
    sql text := format('SELECT (%s)::text', raydar._metrics_value_sql('$1', ctype));
BEGIN
    BEGIN
        EXECUTE sql INTO ok USING v;
        RETURN NULL;
    EXCEPTION WHEN OTHERS THEN
        RETURN format('expected %s%s, got %s %s', ctype,
            CASE ctype
                WHEN 'str' THEN ' (a JSON string)'
                WHEN 'float' THEN ' (a JSON number, or "NaN", "Infinity", "-Infinity")'
                WHEN 'int' THEN ' (a JSON integer within 64 bits)'
                WHEN 'bool' THEN ' (true or false)'
                WHEN 'datetime' THEN ' (epoch seconds, or an ISO 8601 string)'
                ELSE '' END,
            jsonb_typeof(v),
            CASE WHEN length(v::text) > 60 THEN left(v::text, 60) || '...' ELSE v::text END);
    END;
END
$fn$;

-- update(name, rows): insert a JSON array of row objects into a metrics
-- table, all or nothing. One INSERT ... SELECT over the array; only when it
-- fails is the input examined row by row to say which row and column is
-- wrong, so the happy path stays a single statement. A row whose time
-- falls where no partition exists makes the missing daily partitions (for
-- members of raydar_writer) and the INSERT is retried once.
-- SECURITY INVOKER: the caller needs INSERT on the table, as for INSERT.
CREATE FUNCTION raydar.update(name text, rows jsonb)
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
                PERFORM raydar._add_partitions(reg.schema_name, reg.table_name, days);
                CONTINUE;
            END IF;
        END IF;
        EXIT;
    END LOOP;

    -- The INSERT failed: find the first row and column to blame.
    FOR r IN SELECT e.value AS v, e.ord - 1 AS idx
               FROM jsonb_array_elements(data) WITH ORDINALITY AS e(value, ord) ORDER BY e.ord
    LOOP
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

-- drop_metrics_table(name [, if_exists]): drop the table, its partitions
-- and its registry row.
CREATE FUNCTION raydar.drop_metrics_table(name text, if_exists boolean DEFAULT false)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM raydar.partitioned_tables
                    WHERE schema_name = 'raydar_metrics' AND table_name = name AND kind = 'metrics') THEN
        IF if_exists THEN
            RAISE NOTICE 'metrics table % does not exist, skipping', coalesce(quote_literal(left(name, 80)), 'NULL');
            RETURN false;
        END IF;
        RAISE EXCEPTION 'metrics table % does not exist', coalesce(quote_literal(left(name, 80)), 'NULL')
            USING ERRCODE = 'undefined_table';
    END IF;
    EXECUTE format('DROP TABLE IF EXISTS raydar_metrics.%I', name);
    DELETE FROM raydar.partitioned_tables
     WHERE schema_name = 'raydar_metrics' AND table_name = name;
    RETURN true;
END
$fn$;

-- One row per metrics table.
CREATE VIEW raydar.metrics_tables AS
SELECT p.table_name::text AS name,
       format('%I.%I', p.schema_name, p.table_name) AS "table",
       (SELECT jsonb_agg(jsonb_build_object('name', s.c->>0, 'type', s.c->>1) ORDER BY s.o)
          FROM jsonb_array_elements(p.columns) WITH ORDINALITY AS s(c, o)) AS columns,
       p.time_column::text AS time_column,
       p.retention,
       p.premake,
       (SELECT count(*) FROM pg_catalog.pg_inherits i
         WHERE i.inhparent = to_regclass(format('%I.%I', p.schema_name, p.table_name))) AS partitions,
       p.created_at,
       p.created_by::text AS created_by
  FROM raydar.partitioned_tables p
 WHERE p.kind = 'metrics';
COMMENT ON VIEW raydar.metrics_tables IS 'raydar metrics tables, their columns, retention and partitions';
-- 50_maintenance.sql: retention and partition maintenance of every table in
-- raydar.partitioned_tables (metrics tables now, the collector's history
-- tables when they register). pg_partman's pattern: deterministic daily
-- partitions made ahead, expired ones dropped, each DDL under a short
-- lock_timeout so maintenance gives up and retries at the next run rather
-- than queueing behind a long reader and stalling writers.

-- _resolve_partitioned(table): the registry row a user's table name means:
-- a bare name is a metrics table, 'schema.table' any registered table.
CREATE FUNCTION raydar._resolve_partitioned(tbl text)
RETURNS raydar.partitioned_tables
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    parts text[];
    reg   raydar.partitioned_tables;
BEGIN
    BEGIN
        parts := parse_ident(tbl);
    EXCEPTION WHEN OTHERS THEN
        parts := NULL;
    END;
    IF cardinality(parts) = 1 THEN
        parts := ARRAY['raydar_metrics', parts[1]];
    END IF;
    IF cardinality(parts) = 2 THEN
        SELECT * INTO reg FROM raydar.partitioned_tables
         WHERE schema_name = parts[1] AND table_name = parts[2];
    END IF;
    IF reg.table_name IS NULL THEN
        RAISE EXCEPTION 'table % is not managed by raydar', coalesce(quote_literal(left(tbl, 120)), 'NULL')
            USING ERRCODE = 'undefined_table',
                  DETAIL = coalesce('Managed tables: ' || (SELECT string_agg(format('%I.%I', schema_name, table_name), ', '
                                                            ORDER BY schema_name, table_name)
                                                         FROM raydar.partitioned_tables) || '.', 'No table is managed by raydar.');
    END IF;
    RETURN reg;
END
$fn$;

-- set_retention(table, keep): keep rows for `keep` (NULL: forever). The
-- next raydar.run_maintenance() drops every partition whose rows are all
-- older than that.
CREATE FUNCTION raydar.set_retention(tbl text, keep interval)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    reg raydar.partitioned_tables := raydar._resolve_partitioned(tbl);
BEGIN
    IF keep IS NOT NULL AND keep <= interval '0' THEN
        RAISE EXCEPTION 'retention must be positive, not %', keep
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE raydar.partitioned_tables SET retention = keep
     WHERE schema_name = reg.schema_name AND table_name = reg.table_name;
END
$fn$;

-- register_partitioned_table(table, time_column [, premake] [, retention]):
-- put an existing table, range-partitioned by a timestamptz column, under
-- raydar's maintenance (the collector's history tables do this).
CREATE FUNCTION raydar.register_partitioned_table(
    tbl regclass, time_column name, premake integer DEFAULT 7, retention interval DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    nsp name;
    rel name;
BEGIN
    SELECT n.nspname, c.relname INTO nsp, rel
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = tbl AND c.relkind = 'p';
    IF NOT FOUND THEN
        RAISE EXCEPTION '% is not a partitioned table', tbl USING ERRCODE = 'wrong_object_type';
    END IF;
    IF pg_get_partkeydef(tbl) IS DISTINCT FROM format('RANGE (%I)', time_column)
       OR NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = tbl AND attname = time_column
                         AND atttypid = 'timestamptz'::regtype AND NOT attisdropped) THEN
        RAISE EXCEPTION '% is not range-partitioned by a timestamptz column %', tbl, quote_ident(time_column)
            USING ERRCODE = 'wrong_object_type';
    END IF;
    INSERT INTO raydar.partitioned_tables (schema_name, table_name, kind, time_column, premake, retention)
    VALUES (nsp, rel, 'history', time_column, premake, retention)
    ON CONFLICT (schema_name, table_name) DO UPDATE
       SET time_column = excluded.time_column, premake = excluded.premake, retention = excluded.retention;
END
$fn$;

-- run_maintenance([lock_timeout]): for every registered table, make the
-- partitions from today (UTC) to premake days ahead and drop those past
-- retention. One row per thing done or skipped. A DDL that cannot get its
-- lock within lock_timeout is skipped ('skipped', 'lock timeout') and done
-- by a later run; an advisory lock keeps two runs from racing.
CREATE FUNCTION raydar.run_maintenance(lock_timeout interval DEFAULT interval '2 s')
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
-- 60_access.sql: who may do what, without superuser (docs/security.md).
--
--   raydar_reader  read metrics tables (and history, when it exists)
--   raydar_writer  + create metrics tables, write to them        (member of raydar_reader)
--   raydar_admin   + create servers (FDW usage), drop metrics tables,
--                    set retention, run maintenance               (member of raydar_writer)
--
-- The roles are NOLOGIN groups, made here if missing (roles are cluster-
-- wide: a second database's CREATE EXTENSION reuses them, DROP EXTENSION
-- leaves them). Every SECURITY DEFINER function has a fixed search_path and
-- no EXECUTE for PUBLIC; the test access.sql checks both for every
-- function in schema raydar, so a new function cannot slip through.

DO $do$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'raydar_reader') THEN
        CREATE ROLE raydar_reader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'raydar_writer') THEN
        CREATE ROLE raydar_writer NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'raydar_admin') THEN
        CREATE ROLE raydar_admin NOLOGIN;
    END IF;
    IF NOT pg_catalog.pg_has_role('raydar_writer', 'raydar_reader', 'MEMBER') THEN
        GRANT raydar_reader TO raydar_writer;
    END IF;
    IF NOT pg_catalog.pg_has_role('raydar_admin', 'raydar_writer', 'MEMBER') THEN
        GRANT raydar_writer TO raydar_admin;
    END IF;
END
$do$;

-- Schemas: looking names up is harmless; the objects carry the privileges.
GRANT USAGE ON SCHEMA raydar TO PUBLIC;
GRANT USAGE ON SCHEMA raydar_metrics TO PUBLIC;

-- Catalog-like metadata (table and column names are in pg_class anyway).
GRANT SELECT ON raydar.partitioned_tables TO PUBLIC;
GRANT SELECT ON raydar.metrics_tables TO PUBLIC;

-- Servers: raydar_admin may create foreign servers of the raydar FDW.
GRANT USAGE ON FOREIGN DATA WRAPPER raydar TO raydar_admin;

-- Functions that run with the extension owner's rights.
REVOKE ALL ON FUNCTION raydar.create_metrics_table(text, json, text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION raydar._add_partitions(name, name, timestamptz[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION raydar.drop_metrics_table(text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION raydar.set_retention(text, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION raydar.run_maintenance(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION raydar.create_metrics_table(text, json, text, boolean) TO raydar_writer;
GRANT EXECUTE ON FUNCTION raydar._add_partitions(name, name, timestamptz[]) TO raydar_writer;
GRANT EXECUTE ON FUNCTION raydar.drop_metrics_table(text, boolean) TO raydar_admin;
GRANT EXECUTE ON FUNCTION raydar.set_retention(text, interval) TO raydar_admin;
GRANT EXECUTE ON FUNCTION raydar.run_maintenance(interval) TO raydar_admin;
-- Invoker's rights, but only the extension owner can write the registry.
REVOKE ALL ON FUNCTION raydar.register_partitioned_table(regclass, name, integer, interval) FROM PUBLIC;
-- 70_collector.sql: what the collector (a background worker, src/collector.c)
-- reads and writes: the servers it tracks, the task history it keeps after
-- Ray forgets, and its status. track/untrack are raydar_admin's.

CREATE TABLE raydar.tracked_servers (
    server_name name PRIMARY KEY,
    tracked_at  timestamptz NOT NULL DEFAULT now(),
    tracked_by  name NOT NULL DEFAULT session_user
);
COMMENT ON TABLE raydar.tracked_servers IS 'raydar servers whose finished tasks the collector keeps (raydar.track)';
SELECT pg_catalog.pg_extension_config_dump('raydar.tracked_servers', '');

-- Every task attempt that reached FINISHED or FAILED, once: the columns of
-- the tasks foreign table, plus the server it came from and when it came.
-- The primary key makes re-ingesting an attempt a no-op; it includes
-- end_time because a partitioned table's keys must hold its partition key.
CREATE TABLE raydar.task_history (
    task_id            text NOT NULL,
    attempt_number     integer NOT NULL,
    name               text,
    state              text NOT NULL,
    job_id             text,
    actor_id           text,
    type               text,
    func_or_class_name text,
    parent_task_id     text,
    node_id            text,
    worker_id          text,
    worker_pid         integer,
    error_type         text,
    error_message      text,
    language           text,
    required_resources jsonb,
    runtime_env_info   jsonb,
    placement_group_id text,
    events             jsonb,
    profiling_data     jsonb,
    creation_time      timestamptz,
    start_time         timestamptz,
    end_time           timestamptz NOT NULL,
    task_log_info      jsonb,
    actor_repr_name    text,
    call_site          text,
    label_selector     jsonb,
    is_debugger_paused boolean,
    cluster            text NOT NULL,
    ingested_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cluster, task_id, attempt_number, end_time)
) PARTITION BY RANGE (end_time);
COMMENT ON TABLE raydar.task_history IS 'finished and failed task attempts kept by the raydar collector';
SELECT raydar.register_partitioned_table('raydar.task_history', 'end_time');
SELECT raydar._add_partitions('raydar', 'task_history',
           ARRAY(SELECT generate_series(now() - interval '1 day', now() + interval '7 days', interval '1 day')));
CREATE INDEX ON raydar.task_history (cluster, job_id, end_time);

-- The attempts not yet FINISHED or FAILED, as of the last poll. The
-- collector rewrites a cluster's rows in the same transaction that moves
-- attempts into history, so an attempt is never in both.
CREATE TABLE raydar.task_live (LIKE raydar.task_history INCLUDING DEFAULTS);
ALTER TABLE raydar.task_live ALTER COLUMN end_time DROP NOT NULL,
    ADD PRIMARY KEY (cluster, task_id, attempt_number);
COMMENT ON TABLE raydar.task_live IS 'task attempts not yet finished or failed, as of the collector''s last poll';

-- History and live together, one row per attempt: what dashboards query.
CREATE VIEW raydar.tasks AS
    SELECT *, false AS live FROM raydar.task_history
    UNION ALL
    SELECT *, true AS live FROM raydar.task_live;
COMMENT ON VIEW raydar.tasks IS 'every task attempt the collector knows: finished ones from task_history, the rest from task_live';

-- One row per tracked server: what the collector last did.
CREATE TABLE raydar.collector_status (
    server               name PRIMARY KEY,
    last_poll_at         timestamptz,
    last_success_at      timestamptz,
    consecutive_failures integer NOT NULL DEFAULT 0,
    tasks_ingested       bigint NOT NULL DEFAULT 0,
    dropped_reported     bigint NOT NULL DEFAULT 0,
    vanished             bigint NOT NULL DEFAULT 0,
    lag                  interval,
    last_error           text
);
COMMENT ON TABLE raydar.collector_status IS
  'per tracked server: last poll, last success, failures in a row, attempts ingested, attempts Ray reported dropped, attempts that vanished unfinished, ingest lag, last error';
COMMENT ON COLUMN raydar.collector_status.dropped_reported IS
  'task attempts Ray itself dropped (num_status_task_events_dropped of the last reply): events raydar could never see';
COMMENT ON COLUMN raydar.collector_status.vanished IS
  'task attempts seen pending or running that left the GCS before finishing (evicted, or the cluster restarted): their outcome is lost';
COMMENT ON COLUMN raydar.collector_status.lag IS
  'for the last poll that ingested rows: time from the newest ingested attempt''s end to its ingestion';

-- The newest errors, bounded (the collector keeps the last 1000).
CREATE TABLE raydar.collector_errors (
    id      bigserial PRIMARY KEY,
    server  name NOT NULL,
    at      timestamptz NOT NULL DEFAULT now(),
    message text NOT NULL
);

-- _wake_collector(): the collector polls as soon as this transaction
-- commits (src/collector.c), so a new track() shows data at once.
CREATE FUNCTION raydar._wake_collector()
RETURNS void
AS 'MODULE_PATHNAME', 'raydar_wake_collector'
LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION raydar._wake_collector() FROM PUBLIC;

-- track(server): start keeping the finished tasks of a raydar server.
CREATE FUNCTION raydar.track(server text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_foreign_server s
                     JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw
                    WHERE s.srvname = server AND w.fdwname = 'raydar') THEN
        RAISE EXCEPTION 'there is no raydar server named %', quote_ident(server)
            USING ERRCODE = 'undefined_object',
                  HINT = 'Create it first: CREATE SERVER name FOREIGN DATA WRAPPER raydar OPTIONS (address ''host:6379'').';
    END IF;
    INSERT INTO raydar.tracked_servers (server_name) VALUES (server) ON CONFLICT DO NOTHING;
    INSERT INTO raydar.collector_status (server) VALUES (server) ON CONFLICT DO NOTHING;
    PERFORM raydar._wake_collector();
END
$fn$;

-- untrack(server): stop; the history already kept stays.
CREATE FUNCTION raydar.untrack(server text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    DELETE FROM raydar.tracked_servers WHERE server_name = server;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'server % is not tracked', quote_ident(server)
            USING ERRCODE = 'undefined_object';
    END IF;
    DELETE FROM raydar.collector_status s WHERE s.server = untrack.server;
    DELETE FROM raydar.task_live l WHERE l.cluster = untrack.server;
END
$fn$;

REVOKE ALL ON FUNCTION raydar.track(text), raydar.untrack(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION raydar.track(text), raydar.untrack(text) TO raydar_admin;
GRANT SELECT ON raydar.task_history, raydar.task_live, raydar.tasks, raydar.collector_status,
             raydar.collector_errors, raydar.tracked_servers TO raydar_reader;

-- The latest row the collector saw for each job, actor and node: the
-- columns of the foreign tables jobs, actors and nodes (cluster.md), plus
-- the server and when the row last changed. Unlike task attempts these
-- change (an actor dies, a job ends), so each poll upserts and rows that
-- did not change are left alone. The regression test fdw_options checks
-- these columns against IMPORT FOREIGN SCHEMA's.
CREATE TABLE raydar.job_history (
    job_id                                     text NOT NULL,
    is_dead                                    boolean,
    status                                     text,
    entrypoint                                 text,
    message                                    text,
    driver_exit_code                           integer,
    metadata                                   jsonb,
    driver_ip_address                          text,
    driver_pid                                 bigint,
    start_time                                 timestamptz,
    end_time                                   timestamptz,
    is_running_tasks                           boolean,
    cluster                                    text NOT NULL,
    updated_at                                 timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cluster, job_id)
);

CREATE TABLE raydar.actor_history (
    actor_id                                   text NOT NULL,
    class_name                                 text,
    name                                       text,
    state                                      text,
    job_id                                     text,
    node_id                                    text,
    worker_id                                  text,
    node_ip                                    text,
    pid                                        bigint,
    ray_namespace                              text,
    repr_name                                  text,
    is_detached                                boolean,
    num_restarts                               bigint,
    num_restarts_due_to_lineage_reconstruction bigint,
    max_restarts                               bigint,
    required_resources                         jsonb,
    placement_group_id                         text,
    start_time                                 timestamptz,
    end_time                                   timestamptz,
    death_cause_type                           text,
    death_cause_message                        text,
    call_site                                  text,
    label_selector                             jsonb,
    cluster                                    text NOT NULL,
    updated_at                                 timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cluster, actor_id)
);

CREATE TABLE raydar.node_history (
    node_id                                    text NOT NULL,
    node_ip                                    text,
    node_name                                  text,
    hostname                                   text,
    state                                      text,
    is_head_node                               boolean,
    resources_total                            jsonb,
    labels                                     jsonb,
    start_time                                 timestamptz,
    end_time                                   timestamptz,
    death_reason                               text,
    death_reason_message                       text,
    node_manager_port                          integer,
    object_manager_port                        integer,
    instance_id                                text,
    node_type_name                             text,
    instance_type_name                         text,
    cluster                                    text NOT NULL,
    updated_at                                 timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cluster, node_id)
);
GRANT SELECT ON raydar.job_history, raydar.actor_history, raydar.node_history TO raydar_reader;
-- 80_answers.sql: answers built on the collector's history (70_collector.sql):
-- job progress, `ray summary tasks`, user-defined task metadata, the task
-- graph (edges, Graphviz DOT, critical path) and timelines (Chrome trace
-- JSON, an SVG Gantt chart). docs/answers.md shows each with its output.
--
-- Everything reads raydar.tasks (history and live), so a job is answered
-- whole, whether Ray still holds it or not. All of it runs with the
-- caller's rights: readers need SELECT on the collector's tables, which
-- raydar_reader has. Every answer is ordered completely, so the same data
-- always gives the same bytes (tests compare them exactly).

-- User-defined metadata: drivers write a JSON object per task (the task id
-- as raydar.tasks shows it, lowercase hex), dashboards read it back as
-- raydar.tasks.user_defined_metadata. The checks turn a task id that could
-- never join (upper case, 0x prefix, a name) into an error at write time
-- rather than a silently empty column.
CREATE TABLE raydar.task_metadata (
    task_id    text PRIMARY KEY
               CONSTRAINT task_metadata_task_id_is_hex CHECK (task_id ~ '^([0-9a-f]{2})+$'),
    metadata   jsonb NOT NULL
               CONSTRAINT task_metadata_is_object CHECK (jsonb_typeof(metadata) = 'object'),
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE raydar.task_metadata IS
  'user-defined metadata per task (a JSON object), written by drivers, shown as raydar.tasks.user_defined_metadata';
SELECT pg_catalog.pg_extension_config_dump('raydar.task_metadata', '');

-- raydar.tasks again, with the metadata appended (CREATE OR REPLACE keeps
-- the columns of 70_collector.sql in their order, its comment and grants).
-- The join is a LEFT JOIN on task_metadata's primary key, so a query that
-- does not read user_defined_metadata has the join removed by the planner
-- and costs what it cost before.
CREATE OR REPLACE VIEW raydar.tasks AS
    SELECT t.*, m.metadata AS user_defined_metadata
      FROM (SELECT *, false AS live FROM raydar.task_history
            UNION ALL
            SELECT *, true AS live FROM raydar.task_live) t
      LEFT JOIN raydar.task_metadata m ON m.task_id = t.task_id;

-- _job_cluster(job_id, cluster): the cluster whose job is meant. Ray job
-- ids restart at 01000000 on every cluster, so a bare job id is only
-- enough while one cluster has it.
CREATE FUNCTION raydar._job_cluster(p_job text, p_cluster text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    found text[];
BEGIN
    IF p_job IS NULL THEN
        RAISE EXCEPTION 'job_id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_cluster IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM raydar.tasks t WHERE t.cluster = p_cluster AND t.job_id = p_job) THEN
            RAISE EXCEPTION 'cluster % has no tasks of job %', quote_literal(left(p_cluster, 80)), quote_literal(left(p_job, 80))
                USING ERRCODE = 'no_data_found';
        END IF;
        RETURN p_cluster;
    END IF;
    SELECT array_agg(DISTINCT t.cluster ORDER BY t.cluster) INTO found
      FROM raydar.tasks t WHERE t.job_id = p_job;
    IF found IS NULL THEN
        RAISE EXCEPTION 'no tasks of job % are known', quote_literal(left(p_job, 80))
            USING ERRCODE = 'no_data_found',
                  HINT = 'Job ids are hex as raydar.tasks shows them, e.g. ''01000000''; the collector must track the cluster (raydar.track).';
    END IF;
    IF cardinality(found) > 1 THEN
        RAISE EXCEPTION 'job % exists in more than one cluster: %', quote_literal(left(p_job, 80)), array_to_string(found, ', ')
            USING ERRCODE = 'ambiguous_parameter',
                  HINT = 'Name the cluster: cluster => ''' || found[1] || '''.';
    END IF;
    RETURN found[1];
END
$fn$;

-- _state_color(state): one colour per kind of state, shared by the DOT
-- graph and the SVG timeline (Tableau 10: green, red, blue, grey).
CREATE FUNCTION raydar._state_color(state text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT CASE WHEN state = 'FINISHED' THEN '#59a14f'
                WHEN state = 'FAILED' THEN '#e15759'
                WHEN state LIKE 'RUNNING%' THEN '#4e79a7'
                ELSE '#bab0ac' END
$fn$;

-- _palette(i): the i-th colour (0-based, cycling) of Tableau 10, without
-- the state colours' grey, for colouring by node or name.
CREATE FUNCTION raydar._palette(i bigint)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT (ARRAY['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f',
                  '#edc948', '#b07aa1', '#ff9da7', '#9c755f'])[(i % 9) + 1]
$fn$;

-- _dot_quote(text): a DOT double-quoted string. Backslash and quote are
-- escaped; a newline becomes DOT's centred line break \n; other control
-- characters (task names come from users) are dropped.
CREATE FUNCTION raydar._dot_quote(s text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT '"' || replace(replace(replace(regexp_replace(coalesce(s, ''), '[\x01-\x09\x0b-\x1f]', '', 'g'),
                                          '\', '\\'), '"', '\"'), E'\n', '\n') || '"'
$fn$;

-- _xml(text): text for an SVG element or attribute. Control characters
-- XML 1.0 cannot carry (task names and errors come from users) are dropped.
CREATE FUNCTION raydar._xml(s text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT replace(replace(replace(replace(
               regexp_replace(coalesce(s, ''), '[\x01-\x08\x0b\x0c\x0e-\x1f]', '', 'g'),
               '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;')
$fn$;

-- _seconds(interval): seconds with millisecond precision (Ray's times are
-- milliseconds), as numeric so that output is exact.
CREATE FUNCTION raydar._seconds(d interval)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT round(extract(epoch FROM d), 3)
$fn$;

-- job_progress_at(as_of): progress of every job, computed as if the time
-- were as_of (the view raydar.job_progress passes now(); tests pass a
-- fixed instant). Per job, counting tasks (a task's state is its latest
-- attempt's; the driver is not a task of its job):
--   total, finished, failed, running (RUNNING*), pending (everything else);
--   percent_done = (finished + failed) / total;
--   started_at = the first task's creation; last_end_time = the last end;
--   elapsed = started_at to as_of, or to last_end_time once nothing is left;
--   tasks_per_second_last_minute = tasks that ended after as_of - 1 min,
--     over that minute (or over elapsed, for a younger job);
--   tasks_per_second_overall = (finished + failed) / elapsed;
--   time_left = remaining tasks / the last minute's rate, or the overall
--     rate when nothing ended in the last minute; 0 when nothing is left,
--     null when nothing has ended yet.
-- No SET search_path, unlike the other functions here: a SQL function
-- with one is never inlined, and inlining is what lets a WHERE on the
-- view (cluster, job_id) reach the history index instead of aggregating
-- every job. It runs with the caller's rights and names its tables with
-- their schema, so there is nothing to gain from a fixed search_path.
CREATE FUNCTION raydar.job_progress_at(as_of timestamptz)
RETURNS TABLE (cluster text, job_id text, total bigint, finished bigint, failed bigint,
               running bigint, pending bigint, percent_done numeric,
               tasks_per_second_last_minute numeric, tasks_per_second_overall numeric,
               started_at timestamptz, last_end_time timestamptz, elapsed interval,
               time_left interval, as_of timestamptz)
LANGUAGE sql STABLE
AS $fn$
    WITH latest AS (
        -- job_id is in the DISTINCT ON and the window's partition (a task
        -- id determines its job) so that a filter on job_id is pushed down.
        SELECT DISTINCT ON (t.cluster, t.job_id, t.task_id)
               t.cluster, t.job_id, t.state, t.end_time,
               min(coalesce(t.creation_time, t.start_time))
                   OVER (PARTITION BY t.cluster, t.job_id, t.task_id) AS first_seen
          FROM raydar.tasks t
         WHERE t.type IS DISTINCT FROM 'DRIVER_TASK'
         ORDER BY t.cluster, t.job_id, t.task_id, t.attempt_number DESC
    ), counts AS (
        SELECT l.cluster, l.job_id,
               count(*) AS total,
               count(*) FILTER (WHERE l.state = 'FINISHED') AS finished,
               count(*) FILTER (WHERE l.state = 'FAILED') AS failed,
               count(*) FILTER (WHERE l.state LIKE 'RUNNING%') AS running,
               -- No upper bound: a Ray node whose clock runs ahead of the
               -- database's must not make its tasks vanish from the rate.
               count(*) FILTER (WHERE l.state IN ('FINISHED', 'FAILED')
                                  AND l.end_time > $1 - interval '1 minute') AS ended_last_minute,
               min(l.first_seen) AS started_at,
               max(l.end_time) AS last_end_time
          FROM latest l
         GROUP BY l.cluster, l.job_id
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
    SELECT r.cluster, r.job_id, r.total, r.finished, r.failed, r.running,
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
     ORDER BY r.cluster, r.job_id
$fn$;

CREATE VIEW raydar.job_progress AS
    SELECT * FROM raydar.job_progress_at(now());
COMMENT ON VIEW raydar.job_progress IS
  'per cluster and job: tasks total, finished, failed, running, pending, percent done, throughput, elapsed, time left';

-- What `ray summary tasks` shows (per function and type, attempts by
-- state), per cluster and job, plus durations of the attempts that ran
-- (start_time and end_time known, failed ones included), in seconds.
-- Counts are attempts, as Ray counts them; `tasks` counts distinct tasks.
CREATE VIEW raydar.task_summary AS
    SELECT t.cluster, t.job_id, t.func_or_class_name, t.type,
           count(DISTINCT t.task_id) AS tasks,
           count(*) AS attempts,
           count(*) FILTER (WHERE t.state = 'FINISHED') AS finished,
           count(*) FILTER (WHERE t.state = 'FAILED') AS failed,
           count(*) FILTER (WHERE t.state LIKE 'RUNNING%') AS running,
           count(*) FILTER (WHERE t.state NOT IN ('FINISHED', 'FAILED') AND t.state NOT LIKE 'RUNNING%') AS pending,
           (SELECT jsonb_object_agg(s.state, s.n)
              FROM (SELECT u.state, count(*) AS n FROM unnest(array_agg(t.state)) AS u(state) GROUP BY u.state) s)
               AS state_counts,
           round(avg(extract(epoch FROM t.end_time - t.start_time)), 3) AS mean_s,
           round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM t.end_time - t.start_time)))::numeric, 3) AS p50_s,
           round((percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM t.end_time - t.start_time)))::numeric, 3) AS p95_s,
           round(max(extract(epoch FROM t.end_time - t.start_time)), 3) AS max_s
      FROM raydar.tasks t
     WHERE t.type IS DISTINCT FROM 'DRIVER_TASK'
     GROUP BY t.cluster, t.job_id, t.func_or_class_name, t.type;
COMMENT ON VIEW raydar.task_summary IS
  'ray summary tasks over complete history: attempts by state per function and type, durations mean/p50/p95/max (s)';

-- Parent to child, one row per task (not per attempt). The driver's
-- parent is Ray's nil id (all zeros): not an edge.
CREATE VIEW raydar.task_edges AS
    SELECT DISTINCT t.cluster, t.job_id, t.parent_task_id, t.task_id, t.name
      FROM raydar.tasks t
     WHERE t.parent_task_id IS NOT NULL AND t.parent_task_id !~ '^0*$';
COMMENT ON VIEW raydar.task_edges IS 'task graph: which task submitted which (parent_task_id to task_id), per cluster and job';

-- _job_tasks(cluster, job): one row per task of a job (its latest
-- attempt), the driver included, with what the graph and the critical
-- path need: the node's IP from node_history, the attempts made, and the
-- order tasks appeared in.
CREATE FUNCTION raydar._job_tasks(p_cluster text, p_job text)
RETURNS TABLE (task_id text, parent_task_id text, name text, type text, state text,
               attempts integer, node_id text, node_ip text, start_time timestamptz,
               end_time timestamptz, first_seen timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT DISTINCT ON (t.task_id)
           t.task_id, t.parent_task_id, t.name, t.type, t.state,
           (count(*) OVER w)::integer, t.node_id, n.node_ip, t.start_time, t.end_time,
           min(coalesce(t.creation_time, t.start_time)) OVER w
      FROM raydar.tasks t
      LEFT JOIN raydar.node_history n ON n.cluster = t.cluster AND n.node_id = t.node_id
     WHERE t.cluster = $1 AND t.job_id = $2
    WINDOW w AS (PARTITION BY t.task_id)
     ORDER BY t.task_id, t.attempt_number DESC
$fn$;

-- task_graph_dot(job_id, color_by, label_by [, cluster]): the job's task
-- graph in Graphviz DOT, one box per task (its latest attempt), an arrow
-- from each task to the tasks it submitted. color_by and label_by are one
-- of 'state', 'duration', 'node', 'name'; the label is the task's name,
-- with the label_by value on a second line (none for 'name').
-- Render with: dot -Tsvg job.dot > job.svg
CREATE FUNCTION raydar.task_graph_dot(job_id text, color_by text DEFAULT 'state',
                                      label_by text DEFAULT 'name', cluster text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    p_job     text := task_graph_dot.job_id;
    p_color   text := task_graph_dot.color_by;
    p_label   text := task_graph_dot.label_by;
    p_cluster text;
    dot       text;
BEGIN
    IF p_color IS NULL OR p_color NOT IN ('state', 'duration', 'node', 'name') THEN
        RAISE EXCEPTION 'color_by must be state, duration, node or name, not %', coalesce(quote_literal(left(p_color, 80)), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_label IS NULL OR p_label NOT IN ('state', 'duration', 'node', 'name') THEN
        RAISE EXCEPTION 'label_by must be state, duration, node or name, not %', coalesce(quote_literal(left(p_label, 80)), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    p_cluster := raydar._job_cluster(p_job, task_graph_dot.cluster);

    WITH j AS MATERIALIZED (
        SELECT g.*, raydar._seconds(g.end_time - g.start_time) AS dur,
               dense_rank() OVER (ORDER BY g.node_ip NULLS LAST, g.node_id NULLS LAST) AS node_rank,
               dense_rank() OVER (ORDER BY g.name NULLS LAST) AS name_rank
          FROM raydar._job_tasks(p_cluster, p_job) g
    ), mx AS (
        SELECT max(j.dur) AS max_s FROM j
    ), styled AS (
        SELECT j.*,
               CASE p_color
                   WHEN 'state' THEN raydar._state_color(j.state)
                   WHEN 'duration' THEN CASE
                        WHEN j.dur IS NULL THEN '#eeeeee'
                        -- Five steps of ColorBrewer YlOrRd, by share of the longest task.
                        ELSE (ARRAY['#ffffb2', '#fecc5c', '#fd8d3c', '#f03b20', '#bd0026'])
                             [least(5, 1 + floor(5 * j.dur / nullif(mx.max_s, 0)))::integer] END
                   WHEN 'node' THEN CASE WHEN j.node_id IS NULL THEN '#eeeeee' ELSE raydar._palette(j.node_rank - 1) END
                   ELSE raydar._palette(j.name_rank - 1)
               END AS fill,
               CASE p_label
                   WHEN 'state' THEN j.state
                   WHEN 'duration' THEN CASE WHEN j.dur IS NOT NULL THEN j.dur || ' s'
                                             WHEN j.start_time IS NOT NULL THEN 'running'
                                             ELSE 'not started' END
                   WHEN 'node' THEN coalesce(j.node_ip, left(j.node_id, 8), 'no node')
               END AS line2
          FROM j, mx
    ), nodes AS (
        SELECT string_agg(format(E'  %s [label=%s, fillcolor="%s"%s, tooltip=%s];\n',
                                 raydar._dot_quote(s.task_id),
                                 raydar._dot_quote(coalesce(s.name, '?') || coalesce(E'\n' || s.line2, '')),
                                 s.fill,
                                 -- White text on the dark fills.
                                 CASE WHEN s.fill IN ('#f03b20', '#bd0026', '#4e79a7', '#e15759', '#b07aa1', '#9c755f')
                                      THEN ', fontcolor="white"' ELSE '' END,
                                 raydar._dot_quote(format('%s: %s, %s attempt%s', s.task_id, s.state, s.attempts,
                                                          CASE WHEN s.attempts > 1 THEN 's' ELSE '' END))),
                          '' ORDER BY s.first_seen NULLS FIRST, s.task_id) AS txt
          FROM styled s
    ), edges AS (
        -- Only parents in the job: the driver's nil parent is no box.
        SELECT string_agg(format(E'  %s -> %s;\n', raydar._dot_quote(c.parent_task_id), raydar._dot_quote(c.task_id)),
                          '' ORDER BY c.first_seen NULLS FIRST, c.task_id) AS txt
          FROM j c JOIN j p ON p.task_id = c.parent_task_id
    )
    SELECT format(E'digraph %s {\n'
                  '  graph [rankdir=LR, labelloc=t, fontname="Helvetica", label=%s];\n'
                  '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];\n'
                  '  edge [color="#888888"];\n'
                  '%s%s}\n',
                  raydar._dot_quote('job ' || p_job),
                  raydar._dot_quote(format('job %s on %s; colour: %s', p_job, p_cluster,
                      CASE p_color
                          WHEN 'state' THEN 'state (green finished, red failed, blue running, grey pending)'
                          WHEN 'duration' THEN format('duration (light short to dark long; longest %s)', coalesce(mx.max_s || ' s', 'none ended yet'))
                          ELSE p_color END)),
                  coalesce(nodes.txt, ''), coalesce(edges.txt, ''))
      INTO dot
      FROM nodes, edges, mx;
    RETURN dot;
END
$fn$;

-- critical_path(job_id [, cluster]): the chain of tasks the job waited
-- for, following the submission tree (Ray records which task submitted
-- which, not which results a task consumed). Step 1 is the top-level task
-- that ended last (one still unfinished counts as ending last: it is what
-- the job waits for); each next step is the child, among the tasks the
-- previous step submitted, that ended last. ended_before_parent says how
-- long before its parent a step ended: near zero means the parent really
-- waited for it.
CREATE FUNCTION raydar.critical_path(job_id text, cluster text DEFAULT NULL)
RETURNS TABLE (step integer, task_id text, name text, state text, attempts integer,
               node_id text, start_time timestamptz, end_time timestamptz,
               duration interval, ended_before_parent interval)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    WITH RECURSIVE j AS (
        SELECT g.* FROM raydar._job_tasks(raydar._job_cluster($1, $2), $1) g
         WHERE g.type IS DISTINCT FROM 'DRIVER_TASK'
    ), path AS (
        SELECT 1 AS step, top.*
          FROM (SELECT r.* FROM j r
                 WHERE NOT EXISTS (SELECT 1 FROM j p WHERE p.task_id = r.parent_task_id)
                 ORDER BY r.end_time DESC NULLS FIRST, r.start_time NULLS LAST, r.task_id
                 LIMIT 1) top
        UNION ALL
        SELECT p.step + 1, c.*
          FROM path p
         CROSS JOIN LATERAL (SELECT k.* FROM j k WHERE k.parent_task_id = p.task_id
                              ORDER BY k.end_time DESC NULLS FIRST, k.start_time NULLS LAST, k.task_id
                              LIMIT 1) c
         WHERE p.step < 10000   -- a parent cycle in bad data must not loop forever
    )
    SELECT p.step, p.task_id, p.name, p.state, p.attempts, p.node_id, p.start_time, p.end_time,
           p.end_time - p.start_time,
           lag(p.end_time) OVER (ORDER BY p.step) - p.end_time
      FROM path p
     ORDER BY p.step
$fn$;

-- chrome_trace(job_id [, cluster]): the job's profile events in the Chrome
-- trace event format, as `ray timeline` writes them (Ray's
-- chrome_tracing_dump), without its 10,000-task cap: a JSON array of
-- complete events {"cat", "name", "pid", "tid", "ts", "dur", "cname",
-- "args", "ph": "X"} (pid: a node, tid: a worker, times in microseconds),
-- then "process_name" and "thread_name" metadata events naming them.
-- Load it in https://ui.perfetto.dev or chrome://tracing.
CREATE FUNCTION raydar.chrome_trace(job_id text, cluster text DEFAULT NULL)
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

-- timeline_svg(job_id [, cluster]): an SVG Gantt chart of the job: one
-- lane per worker (grouped by node), one bar per attempt from its start to
-- its end, coloured by state (green finished, red failed, blue running);
-- a running attempt's bar reaches the latest time known for the job. Each
-- bar has a tooltip (<title>) and data-task / data-lane attributes.
-- Browsers show the file as is. One statement, no temporary table, so it
-- also runs on a read-only standby.
CREATE FUNCTION raydar.timeline_svg(job_id text, cluster text DEFAULT NULL)
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
               b.task_id, b.attempt_number, l.lane,
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

-- Readers read every answer; drivers (raydar_writer) write metadata;
-- deleting it is an admin's.
GRANT SELECT ON raydar.job_progress, raydar.task_summary, raydar.task_edges, raydar.task_metadata TO raydar_reader;
GRANT INSERT, UPDATE ON raydar.task_metadata TO raydar_writer;
GRANT DELETE ON raydar.task_metadata TO raydar_admin;
REVOKE ALL ON FUNCTION raydar.job_progress_at(timestamptz), raydar._job_cluster(text, text),
                       raydar._job_tasks(text, text), raydar.task_graph_dot(text, text, text, text),
                       raydar.critical_path(text, text), raydar.chrome_trace(text, text),
                       raydar.timeline_svg(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION raydar.job_progress_at(timestamptz), raydar._job_cluster(text, text),
                          raydar._job_tasks(text, text), raydar.task_graph_dot(text, text, text, text),
                          raydar.critical_path(text, text), raydar.chrome_trace(text, text),
                          raydar.timeline_svg(text, text) TO raydar_reader;
