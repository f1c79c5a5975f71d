-- 64_partitions_shared_lock.sql: 0.1 -> 0.2 upgrade: _add_partitions
-- shares its advisory lock, so that concurrent writers (the collector's
-- workers of different clusters, the push merger) no longer queue behind
-- each other's transactions, and makes a partition under a second lock
-- (key, 1), never by taking the first alone (two writers would deadlock);
-- run_maintenance waits for it (up to its lock_timeout) instead of trying
-- once. The same functions as src/sql/40_metrics.sql and
-- src/sql/50_maintenance.sql.

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
