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
REVOKE ALL ON FUNCTION raydar._add_metrics_partitions(name, timestamptz[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION raydar.drop_metrics_table(text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION raydar.set_retention(text, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION raydar.run_maintenance(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION raydar.create_metrics_table(text, json, text, boolean) TO raydar_writer;
-- Not _add_partitions itself: it reaches the collector's history tables,
-- which only the owner (the collector) extends.
GRANT EXECUTE ON FUNCTION raydar._add_metrics_partitions(name, timestamptz[]) TO raydar_writer;
GRANT EXECUTE ON FUNCTION raydar.drop_metrics_table(text, boolean) TO raydar_admin;
GRANT EXECUTE ON FUNCTION raydar.set_retention(text, interval) TO raydar_admin;
GRANT EXECUTE ON FUNCTION raydar.run_maintenance(interval) TO raydar_admin;
-- Invoker's rights, but only the extension owner can write the registry.
REVOKE ALL ON FUNCTION raydar.register_partitioned_table(regclass, name, integer, interval) FROM PUBLIC;
