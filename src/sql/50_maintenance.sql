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
-- partitions from today (UTC) to premake days ahead, drop empty ones
-- beyond that horizon and those past retention. One row per thing done or skipped. A DDL that cannot get its
-- lock within lock_timeout is skipped ('skipped', 'lock timeout') and done
-- by a later run; an advisory lock (taken alone, waited for up to
-- lock_timeout) keeps two runs and writers making partitions from racing.
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
        -- Alone: writers using the partitions share the lock, and a writer
        -- asking after this waits behind it, so a busy table is not
        -- skipped forever; waited for up to lock_timeout.
        BEGIN
            PERFORM pg_advisory_xact_lock(raydar._partitions_lock(reg.schema_name, reg.table_name));
        EXCEPTION WHEN lock_not_available OR deadlock_detected THEN
            action := 'skipped'; partition_name := NULL; detail := 'another session is changing its partitions';
            RETURN NEXT;
            CONTINUE;
        END;

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
