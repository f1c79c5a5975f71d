-- Options: the validator refuses what raydar cannot use, with the list of
-- valid options; tokens live in user mappings.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS raydar;
RESET client_min_messages;
SELECT fdwname, fdwhandler::regproc, fdwvalidator::regproc
  FROM pg_foreign_data_wrapper WHERE fdwname = 'raydar';

CREATE SERVER ray_ok FOREIGN DATA WRAPPER raydar
  OPTIONS (address '127.0.0.1:6379', ray_version '2.40.0', timeout_ms '2000',
           connect_timeout_ms '500', cache_ttl_ms '0');
-- unknown option: the hint lists the valid ones
CREATE SERVER bad1 FOREIGN DATA WRAPPER raydar OPTIONS (adress '127.0.0.1:6379');
-- bad values
CREATE SERVER bad2 FOREIGN DATA WRAPPER raydar OPTIONS (address 'localhost');
CREATE SERVER bad3 FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:99999');
CREATE SERVER bad4 FOREIGN DATA WRAPPER raydar OPTIONS (address 'http://h:8265');
CREATE SERVER bad5 FOREIGN DATA WRAPPER raydar OPTIONS (address 'h:6379', ray_version 'two');
CREATE SERVER bad6 FOREIGN DATA WRAPPER raydar OPTIONS (address 'h:6379', ray_version '2.8.0');
CREATE SERVER bad7 FOREIGN DATA WRAPPER raydar OPTIONS (address 'h:6379', timeout_ms '0');
CREATE SERVER bad8 FOREIGN DATA WRAPPER raydar OPTIONS (address 'h:6379', cache_ttl_ms '-1');
CREATE SERVER bad9 FOREIGN DATA WRAPPER raydar OPTIONS (address 'h:6379', connect_timeout_ms 'soon');
CREATE SERVER bad10 FOREIGN DATA WRAPPER raydar
  OPTIONS (address 'h:6379', dashboard_url 'http://h:8265');
-- dashboard_url: http(s)://host:port only; ca_file is superuser-only and absolute
CREATE SERVER bad11 FOREIGN DATA WRAPPER raydar OPTIONS (dashboard_url 'h:8265');
CREATE SERVER bad13 FOREIGN DATA WRAPPER raydar OPTIONS (dashboard_url 'http://h:8265/proxy/');
CREATE SERVER bad14 FOREIGN DATA WRAPPER raydar OPTIONS (dashboard_url 'ftp://h:8265');
CREATE SERVER bad15 FOREIGN DATA WRAPPER raydar OPTIONS (dashboard_url 'https://h');
CREATE SERVER bad16 FOREIGN DATA WRAPPER raydar OPTIONS (dashboard_url 'https://h:8265', tls_verify 'maybe');
CREATE SERVER bad17 FOREIGN DATA WRAPPER raydar OPTIONS (dashboard_url 'https://h:8265', ca_file 'ca.pem');
CREATE SERVER ray_http FOREIGN DATA WRAPPER raydar
  OPTIONS (dashboard_url 'https://h:8265/', ca_file '/etc/ssl/certs/ca-certificates.crt',
           tls_verify 'true', timeout_ms '2000');
-- token belongs in a user mapping, not on the server
CREATE SERVER bad12 FOREIGN DATA WRAPPER raydar OPTIONS (address 'h:6379', token 't');
CREATE ROLE raydar_mapped;
CREATE USER MAPPING FOR raydar_mapped SERVER ray_ok OPTIONS (token 'sekrit');
CREATE USER MAPPING FOR PUBLIC SERVER ray_ok OPTIONS (address 'h:1');
ALTER SERVER ray_ok OPTIONS (SET timeout_ms 'x');
-- A server without an address is accepted but cannot be scanned.
CREATE SERVER noaddr FOREIGN DATA WRAPPER raydar;
CREATE FOREIGN TABLE noaddr_tasks (task_id text) SERVER noaddr OPTIONS (resource 'tasks');
SELECT * FROM noaddr_tasks;

-- Tables: resource names the Ray resource; columns must be tasks columns.
CREATE FOREIGN TABLE bad_resource (task_id text) SERVER ray_ok OPTIONS (resource 'objects');
CREATE FOREIGN TABLE t_unknown_col (task_id text, color text) SERVER ray_ok OPTIONS (resource 'tasks');
SELECT * FROM t_unknown_col;
CREATE FOREIGN TABLE t_bad_type (task_id text, attempt_number text) SERVER ray_ok OPTIONS (resource 'tasks');
SELECT * FROM t_bad_type;
CREATE FOREIGN TABLE t_no_resource (task_id text) SERVER ray_ok;
SELECT * FROM t_no_resource;
-- A hand-written subset with the right names and types is fine (no rows: nothing matches).
CREATE FOREIGN TABLE my_tasks (task_id text, state text, end_time timestamptz)
  SERVER ray_ok OPTIONS (resource 'tasks');
SELECT * FROM my_tasks WHERE task_id = 'nope';

-- IMPORT FOREIGN SCHEMA ray creates tasks with every contract column.
CREATE SCHEMA live;
IMPORT FOREIGN SCHEMA ray FROM SERVER ray_ok INTO live;
SELECT attname, format_type(atttypid, atttypmod)
  FROM pg_attribute WHERE attrelid = 'live.tasks'::regclass AND attnum > 0 ORDER BY attnum;
SELECT ftoptions FROM pg_foreign_table WHERE ftrelid = 'live.tasks'::regclass;
-- The collector's history tables carry exactly these foreign tables' columns
-- (plus cluster and their own timestamps): one catalog for both.
SELECT f.table_name, count(*) AS differences
  FROM (VALUES ('tasks', 'task_history'), ('jobs', 'job_history'),
               ('actors', 'actor_history'), ('nodes', 'node_history')) AS f(table_name, history)
  CROSS JOIN LATERAL (
    (SELECT attname, atttypid FROM pg_attribute
      WHERE attrelid = ('live.' || f.table_name)::regclass AND attnum > 0
     EXCEPT
     SELECT attname, atttypid FROM pg_attribute
      WHERE attrelid = ('raydar.' || f.history)::regclass AND attnum > 0)
    UNION ALL
    (SELECT attname, atttypid FROM pg_attribute
      WHERE attrelid = ('raydar.' || f.history)::regclass AND attnum > 0
        AND attname NOT IN ('cluster', 'ingested_at', 'updated_at', 'incarnation')
     EXCEPT
     SELECT attname, atttypid FROM pg_attribute
      WHERE attrelid = ('live.' || f.table_name)::regclass AND attnum > 0)) d
 GROUP BY 1 ORDER BY 1;
SELECT count(*) AS history_tables_checked FROM pg_class
 WHERE relnamespace = 'raydar'::regnamespace AND relname IN ('task_history', 'job_history', 'actor_history', 'node_history');
CREATE SCHEMA live2;
IMPORT FOREIGN SCHEMA ray EXCEPT (tasks) FROM SERVER ray_ok INTO live2;
SELECT count(*) FROM pg_class WHERE relnamespace = 'live2'::regnamespace;
IMPORT FOREIGN SCHEMA ray LIMIT TO (tasks) FROM SERVER ray_ok INTO live2;
SELECT count(*) FROM pg_class WHERE relnamespace = 'live2'::regnamespace;
IMPORT FOREIGN SCHEMA public FROM SERVER ray_ok INTO live2;

-- Tokens are visible only to those allowed to see the mapping.
CREATE ROLE fdw_test_reader;
GRANT USAGE ON SCHEMA live TO fdw_test_reader;
SET ROLE fdw_test_reader;
SELECT srvname, umoptions FROM pg_user_mappings WHERE srvname = 'ray_ok';
RESET ROLE;
SELECT srvname, umoptions FROM pg_user_mappings WHERE srvname = 'ray_ok';
SET client_min_messages = warning;
DROP SCHEMA live, live2 CASCADE;
DROP SERVER ray_ok, ray_http, noaddr CASCADE;
DROP ROLE fdw_test_reader, raydar_mapped;
-- address, dashboard_url and proxy name hosts: gRPC target URIs are refused
CREATE SERVER bad_uri1 FOREIGN DATA WRAPPER raydar OPTIONS (address 'unix-abstract:raydar:1');
CREATE SERVER bad_uri2 FOREIGN DATA WRAPPER raydar OPTIONS (address 'unix:/tmp/gcs.sock:1');
CREATE SERVER bad_uri3 FOREIGN DATA WRAPPER raydar OPTIONS (address 'dns:///head:6379');
CREATE SERVER ok_v6 FOREIGN DATA WRAPPER raydar OPTIONS (address '[::1]:6379');
CREATE SERVER ok_name FOREIGN DATA WRAPPER raydar OPTIONS (address 'ray-head_0.internal:6379');
DROP SERVER ok_v6, ok_name;
-- max_reply_mb: 1 to 512 (Ray's own limit)
CREATE SERVER bad_mb1 FOREIGN DATA WRAPPER raydar OPTIONS (address 'h:1', max_reply_mb '0');
CREATE SERVER bad_mb2 FOREIGN DATA WRAPPER raydar OPTIONS (address 'h:1', max_reply_mb '513');
CREATE SERVER ok_mb FOREIGN DATA WRAPPER raydar OPTIONS (address 'h:1', max_reply_mb '64');
DROP SERVER ok_mb;
-- proxy: scheme://host:port, http(s) or socks5(h)
CREATE SERVER bad_px1 FOREIGN DATA WRAPPER raydar OPTIONS (dashboard_url 'http://h:8265', proxy 'ftp://p:21');
CREATE SERVER bad_px2 FOREIGN DATA WRAPPER raydar OPTIONS (dashboard_url 'http://h:8265', proxy 'http://p');
CREATE SERVER ok_px FOREIGN DATA WRAPPER raydar OPTIONS (dashboard_url 'http://h:8265', proxy 'socks5h://proxy.internal:1080');
DROP SERVER ok_px;
