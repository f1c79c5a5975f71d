-- 01_backup.sql: pg_dump carries every row of user data (issue 15).
-- Fresh installs get the same from src/sql/40_metrics.sql (the trigger)
-- and src/sql/70_collector.sql (no partitions at install, config dumps).

-- Registering an already registered table replaces its row (a restore's
-- COPY after CREATE EXTENSION); see 40_metrics.sql.
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

-- 0.1 made task_history's partitions for the install day and a week around
-- it inside CREATE EXTENSION, so they are members of the extension and
-- pg_dump dumps neither them nor their rows. Release them: from now on
-- they are ordinary tables like every partition made later, and a dump
-- carries their rows. Only the membership changes; no row moves.
DO $do$
DECLARE
    part regclass;
BEGIN
    FOR part IN
        SELECT c.oid::regclass
          FROM pg_catalog.pg_inherits i
          JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
          JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_class'::regclass
                                     AND d.objid = c.oid AND d.deptype = 'e'
                                     AND d.refclassid = 'pg_catalog.pg_extension'::regclass
         WHERE i.inhparent = 'raydar.task_history'::regclass
         ORDER BY c.relname
    LOOP
        EXECUTE format('ALTER EXTENSION raydar DROP TABLE %s', part);
    END LOOP;
END
$do$;

SELECT pg_catalog.pg_extension_config_dump('raydar.task_live', '');
SELECT pg_catalog.pg_extension_config_dump('raydar.collector_status', '');
SELECT pg_catalog.pg_extension_config_dump('raydar.collector_errors', '');
SELECT pg_catalog.pg_extension_config_dump('raydar.collector_errors_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('raydar.job_history', '');
SELECT pg_catalog.pg_extension_config_dump('raydar.actor_history', '');
SELECT pg_catalog.pg_extension_config_dump('raydar.node_history', '');
