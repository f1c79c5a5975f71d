-- Access control: raydar_reader / raydar_writer / raydar_admin, no
-- superuser needed; SECURITY DEFINER functions are locked down; an
-- unprivileged role can neither read tokens, write where it was not
-- granted, nor escalate through a raydar function.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS raydar;
RESET client_min_messages;
\set SHOW_CONTEXT never
-- pg_regress sets PGTZ, PGDATESTYLE and PGINTERVALSTYLE; this test is about UTC days.
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET intervalstyle = 'postgres';

-- The group roles exist, cannot log in, and nest admin > writer > reader.
SELECT rolname, rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls
  FROM pg_roles WHERE rolname IN ('raydar_reader', 'raydar_writer', 'raydar_admin') ORDER BY 1;
SELECT r.rolname AS role, m.rolname AS member_of
  FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.member JOIN pg_roles m ON m.oid = a.roleid
 WHERE r.rolname IN ('raydar_reader', 'raydar_writer', 'raydar_admin') ORDER BY 1;

-- Every SECURITY DEFINER function in schema raydar has a fixed search_path
-- starting with pg_catalog and is not executable by PUBLIC; this query
-- covers functions added later too. Listed with who may execute them.
SELECT p.oid::regprocedure AS function,
       array_to_string(p.proconfig, ' ') AS config,
       (SELECT string_agg(CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END, ', '
                          ORDER BY 1)
          FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
         WHERE a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner) AS execute
  FROM pg_proc p
 WHERE p.pronamespace = 'raydar'::regnamespace AND p.prosecdef
 ORDER BY p.oid::regprocedure::text;
SELECT count(*) AS definer_functions_open_to_public_or_without_search_path
  FROM pg_proc p
 WHERE p.pronamespace = 'raydar'::regnamespace AND p.prosecdef
   AND (NOT coalesce(p.proconfig, '{}') @> ARRAY['search_path=pg_catalog, pg_temp']
        OR EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                    WHERE a.grantee = 0));

CREATE ROLE regress_nobody;
CREATE ROLE regress_reader IN ROLE raydar_reader;
CREATE ROLE regress_writer IN ROLE raydar_writer;
CREATE ROLE regress_admin IN ROLE raydar_admin;

-- A server and a token in a user mapping, made by the superuser.
CREATE SERVER acl_ray FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:1', ray_version '2.40.0');
CREATE USER MAPPING FOR regress_writer SERVER acl_ray OPTIONS (token 'sekrit-token');
SELECT raydar.create_metrics_table('shared', '{"node": "str", "loss": "float", "ts": "datetime"}');
SELECT raydar.create_metrics_table('private', '{"node": "str", "loss": "float", "ts": "datetime"}');
-- Writers write everywhere unless a table is taken away from them.
REVOKE INSERT ON raydar_metrics.private FROM raydar_writer;

-- An unprivileged role: no token, no metrics, no raydar function that
-- needs privileges, no servers.
SET ROLE regress_nobody;
SELECT srvname, usename, umoptions FROM pg_user_mappings WHERE srvname = 'acl_ray';
SELECT umoptions FROM pg_user_mapping;
SELECT * FROM raydar_metrics.shared;
INSERT INTO raydar_metrics.shared (node) VALUES ('x');
SELECT raydar.update('shared', '[{"node": "x"}]');
SELECT raydar.create_metrics_table('mine', '{"ts": "datetime"}');
SELECT raydar.drop_metrics_table('shared');
SELECT raydar.set_retention('shared', interval '1 day');
SELECT raydar.run_maintenance();
SELECT raydar._add_partitions('raydar_metrics', 'shared', ARRAY[now()]);
CREATE SERVER nobody_ray FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:1');
INSERT INTO raydar.partitioned_tables (schema_name, table_name, kind, time_column) VALUES ('pg_catalog', 'pg_authid', 'history', 'x');
-- Metadata is public, as pg_class is.
SELECT name FROM raydar.metrics_tables ORDER BY 1;
RESET ROLE;

-- A reader reads, and writes nothing.
SET ROLE regress_reader;
SELECT count(*) FROM raydar_metrics.shared;
INSERT INTO raydar_metrics.shared (node) VALUES ('x');
SELECT raydar.update('shared', '[{"node": "x"}]');
SELECT raydar.create_metrics_table('mine', '{"ts": "datetime"}');
RESET ROLE;

-- A writer creates and writes metrics tables, and nothing more.
SET ROLE regress_writer;
SELECT srvname, usename, umoptions FROM pg_user_mappings WHERE srvname = 'acl_ray';
SELECT raydar.create_metrics_table('mine', '{"node": "str", "ts": "datetime"}');
SELECT raydar.update('mine', '[{"node": "a"}, {"node": "b"}]');
SELECT raydar.update('shared', '[{"node": "a", "loss": 0.5}]');
INSERT INTO raydar_metrics.shared (node, loss) VALUES ('b', 0.25);
SELECT node, loss FROM raydar_metrics.shared ORDER BY 1;
-- ... update makes a missing partition for a writer, on a raydar table only.
SELECT raydar.update('shared', '[{"node": "old", "ts": "2021-03-04T05:06:07Z"}]');
SELECT raydar._add_partitions('pg_catalog', 'pg_authid', ARRAY[now()]);
SELECT raydar._add_partitions('raydar_metrics', 'shared', ARRAY['infinity'::timestamptz]);
-- ... but not where INSERT was taken away, and never as owner.
SELECT raydar.update('private', '[{"node": "x"}]');
INSERT INTO raydar_metrics.private (node) VALUES ('x');
ALTER TABLE raydar_metrics.shared ADD COLUMN evil text;
CREATE FUNCTION pg_temp.trg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER evil BEFORE INSERT ON raydar_metrics.shared FOR EACH ROW EXECUTE FUNCTION pg_temp.trg();
DROP TABLE raydar_metrics.shared;
DO $$
BEGIN
    EXECUTE format('INSERT INTO raydar_metrics.%I (node) VALUES (''x'')',
                   'shared_p' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD'));
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'insert into today''s partition: %', regexp_replace(SQLERRM, '\d{8}', 'YYYYMMDD');
END $$;
SELECT raydar.drop_metrics_table('shared');
SELECT raydar.set_retention('shared', interval '1 day');
SELECT raydar.run_maintenance();
CREATE SERVER writer_ray FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:1');
UPDATE raydar.partitioned_tables SET retention = '1 second';
DELETE FROM raydar.partitioned_tables;
-- ... and shadowing raydar's tables in pg_temp changes nothing: every
-- SECURITY DEFINER function runs with search_path = pg_catalog, pg_temp
-- and qualifies its tables.
CREATE TEMP TABLE partitioned_tables (LIKE raydar.partitioned_tables);
CREATE TEMP TABLE pg_inherits (inhrelid oid, inhparent oid);
SET search_path = pg_temp, public;
SELECT raydar.create_metrics_table('mine2', '{"ts": "datetime"}');
SELECT count(*) AS in_temp_registry FROM pg_temp.partitioned_tables;
RESET search_path;
DROP FUNCTION pg_temp.trg();
DROP TABLE pg_temp.partitioned_tables, pg_temp.pg_inherits;
RESET ROLE;
SELECT table_name, created_by = session_user AS created_by_session_user FROM raydar.partitioned_tables ORDER BY 1;
SELECT (SELECT count(*) FROM raydar_metrics.private) AS private_rows,
       (SELECT count(*) FROM raydar_metrics.shared) AS shared_rows;

-- A role outside the groups can be granted one table.
GRANT INSERT ON raydar_metrics.private TO regress_nobody;
SET ROLE regress_nobody;
SELECT raydar.update('private', '[{"node": "granted"}]');
SELECT raydar.update('shared', '[{"node": "not granted"}]');
RESET ROLE;

-- An admin creates servers, drops tables, sets retention, runs maintenance;
-- a server it does not own keeps other users' tokens hidden from it.
SET ROLE regress_admin;
CREATE SERVER admin_ray FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:1');
SELECT srvname, usename, umoptions FROM pg_user_mappings WHERE srvname = 'acl_ray';
SELECT raydar.set_retention('mine', interval '7 days');
SELECT count(*) >= 0 AS ran FROM raydar.run_maintenance();
SELECT raydar.drop_metrics_table('mine'), raydar.drop_metrics_table('mine2');
DROP SERVER admin_ray;
RESET ROLE;

SELECT raydar.drop_metrics_table('shared'), raydar.drop_metrics_table('private');
DROP SERVER acl_ray CASCADE;
DROP ROLE regress_nobody, regress_reader, regress_writer, regress_admin;
