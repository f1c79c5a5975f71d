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

-- _partitioned_tables_upsert(): an INSERT of a row whose table is already
-- registered replaces that row instead of failing. pg_dump dumps every row
-- (settings such as the history tables' retention are the user's), and a
-- restore runs CREATE EXTENSION, which registers the history tables,
-- before it COPYs the dumped rows: without this their keys would collide
-- and the restore would keep the defaults rather than the user's settings.
CREATE FUNCTION raydar._partitioned_tables_upsert()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    UPDATE raydar.partitioned_tables t
       SET kind = NEW.kind, time_column = NEW.time_column,
           partition_interval = NEW.partition_interval, premake = NEW.premake,
           retention = NEW.retention, columns = NEW.columns,
           created_at = NEW.created_at, created_by = NEW.created_by
     WHERE t.schema_name = NEW.schema_name AND t.table_name = NEW.table_name;
    RETURN CASE WHEN FOUND THEN NULL ELSE NEW END;
END
$fn$;
CREATE TRIGGER partitioned_tables_upsert BEFORE INSERT ON raydar.partitioned_tables
    FOR EACH ROW EXECUTE FUNCTION raydar._partitioned_tables_upsert();

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

-- _partition_name(table, day): the name of a table's daily partition for
-- the UTC day that starts at `day` (a timestamp at UTC): <table>_pYYYYMMDD.
-- Every statement that makes or looks for a daily partition asks here.
CREATE FUNCTION raydar._partition_name(p_table text, p_day timestamp)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT p_table || '_p' || to_char(p_day, 'YYYYMMDD')
$fn$;

-- _partitions_lock(schema, table): the advisory lock key of a table's
-- partitions: writers share it, run_maintenance takes it alone to make and
-- drop them; (key, 1) is taken by writers making one (_add_partitions).
CREATE FUNCTION raydar._partitions_lock(p_schema text, p_table text)
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT hashtext('raydar.partitions:' || p_schema || '.' || p_table)
$fn$;

-- _add_partitions(schema, table, days): make the daily partitions holding
-- the given instants, skipping those that exist; returns the names made.
-- CREATE TABLE ... LIKE + ATTACH rather than CREATE TABLE ... PARTITION OF:
-- ATTACH takes SHARE UPDATE EXCLUSIVE on the parent, which does not
-- conflict with writers' ROW EXCLUSIVE, so making a partition never stalls
-- inserts. Only raydar-registered tables. Any span of days is accepted
-- (the collector passes one instant per UTC day it saw, however far apart);
-- what is bounded is the work of one call: at most 10,000 partitions that
-- do not exist yet. No day before year 1 (names have no era) and no name
-- past 63 bytes (a year past 9999 has more digits).
-- Owner only (the collector runs as the bootstrap superuser); writers make
-- metrics partitions through _add_metrics_partitions.
CREATE FUNCTION raydar._add_partitions(p_schema name, p_table name, p_days timestamptz[])
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
    making boolean := false;
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
    -- Two advisory locks. Writers share the first, and hold it until
    -- they commit (the collector's workers of different clusters and the
    -- push merger must not queue behind each other's transactions);
    -- run_maintenance takes it alone to make and drop partitions, so a
    -- partition a writer found stays until its rows are in. A writer
    -- making a partition (CREATE and ATTACH, which do not stall inserts)
    -- also takes the second, (key, 1), makers one at a time, and looks
    -- at the days again under it. It never asks for the first alone: a
    -- writer holding it shared from an earlier call in its transaction
    -- would wait for the others to let it go, and two such writers for
    -- each other (a deadlock).
    PERFORM pg_advisory_xact_lock_shared(raydar._partitions_lock(p_schema, p_table));
    LOOP
        SELECT array_agg(s.d ORDER BY s.d) INTO todo
          FROM (SELECT DISTINCT date_trunc('day', x AT TIME ZONE 'UTC') AS d
                  FROM unnest(p_days) x WHERE x IS NOT NULL) s
         WHERE NOT EXISTS (
                SELECT 1 FROM pg_inherits i
                  JOIN pg_class c ON c.oid = i.inhrelid
                  JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = p_schema AND c.relname = raydar._partition_name(p_table, s.d));
        EXIT WHEN todo IS NULL OR making;
        PERFORM pg_advisory_xact_lock(raydar._partitions_lock(p_schema, p_table), 1);
        making := true;
    END LOOP;
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

-- _add_metrics_partitions(table, days): _add_partitions for a metrics table
-- only: the door through which raydar.update() (running with the caller's
-- rights) makes a missing day for members of raydar_writer. It gives a
-- writer nothing it lacks (create_metrics_table makes partitions too) and
-- nothing on the collector's history tables.
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
                       raydar._partition_name(tbl, lo AT TIME ZONE 'UTC'), tbl, lo, lo + interval '1 day');
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

-- _metrics_rows_ok(probe, batches, cols, below): whether the probe
-- statement (update's conversions of every value, evaluated without
-- inserting) succeeds on the rows of these JSON arrays that come before
-- position `below` in theirs. One statement in one subtransaction, however
-- many rows: update searches a failed batch with it.
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

-- update(name, rows): insert a JSON array of row objects into a metrics
-- table, all or nothing. One INSERT ... SELECT over the array; only when it
-- fails is the input examined to say which row and column is wrong, so the
-- happy path stays a single statement. The search for the first bad row
-- takes two statements when a value has the wrong JSON kind, else about
-- 2 log2(n) (see below); only that row is then examined value by value.
-- A row whose time
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
