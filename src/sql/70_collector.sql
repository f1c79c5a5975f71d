-- 70_collector.sql: what the collector (a background worker, src/collector_*.c)
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
-- the tasks foreign table, plus the server it came from, when it came, and
-- the incarnation of the cluster it ran in (each start of a Ray cluster:
-- the GCS's cluster id in hex, or the dashboard's session_name; '' for rows
-- collected before raydar 0.2 recorded it). Ray reuses task ids when a
-- cluster is started anew, so the incarnation is part of the key. The
-- primary key makes re-ingesting an attempt a no-op; it includes end_time
-- because a partitioned table's keys must hold its partition key, so the
-- collector itself keeps one row per attempt when its end moves.
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
    incarnation        text NOT NULL DEFAULT '',
    PRIMARY KEY (cluster, incarnation, task_id, attempt_number, end_time)
) PARTITION BY RANGE (end_time);
COMMENT ON TABLE raydar.task_history IS 'finished and failed task attempts kept by the raydar collector';
SELECT raydar.register_partitioned_table('raydar.task_history', 'end_time');
-- No partition is made here: a table made by this script would be a member
-- of the extension, and pg_dump skips members' rows. The collector makes
-- the partitions of the days it writes (raydar._add_partitions) and
-- raydar.run_maintenance() those ahead; both are ordinary tables that
-- pg_dump dumps with their rows and attaches to this one on restore.
CREATE INDEX ON raydar.task_history (cluster, job_id, end_time);

-- The attempts not yet FINISHED or FAILED, as of the last poll. The
-- collector rewrites a cluster's rows in the same transaction that moves
-- attempts into history, so an attempt is never in both.
CREATE TABLE raydar.task_live (LIKE raydar.task_history INCLUDING DEFAULTS);
ALTER TABLE raydar.task_live ALTER COLUMN end_time DROP NOT NULL,
    ADD PRIMARY KEY (cluster, task_id, attempt_number);
COMMENT ON TABLE raydar.task_live IS 'task attempts not yet finished or failed, as of the collector''s last poll';

-- raydar.tasks, history and live together, is defined in 80_answers.sql
-- with the user-defined metadata it shows.

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
    last_error           text,
    incarnation          text,
    incarnation_since    timestamptz,
    backoff              interval,
    next_poll_at         timestamptz,
    cap_hidden           bigint NOT NULL DEFAULT 0,
    last_warning         text
);
COMMENT ON TABLE raydar.collector_status IS
  'per tracked server: last poll, last success, failures in a row, attempts ingested, attempts Ray reported dropped, attempts that vanished unfinished, ingest lag, last error';
COMMENT ON COLUMN raydar.collector_status.dropped_reported IS
  'task attempts Ray itself dropped (num_status_task_events_dropped of the last reply): events raydar could never see';
COMMENT ON COLUMN raydar.collector_status.vanished IS
  'task attempts seen pending or running that left the GCS before finishing (evicted, or the cluster restarted): their outcome is lost';
COMMENT ON COLUMN raydar.collector_status.incarnation IS
  'the start of the cluster the last successful poll saw: the GCS''s cluster id (hex) or the dashboard''s session_name';
COMMENT ON COLUMN raydar.collector_status.incarnation_since IS
  'when the collector first saw that incarnation';
COMMENT ON COLUMN raydar.collector_status.backoff IS
  'after failed polls, the wait before the next one (the interval doubled per failure, at most a minute); NULL when healthy';
COMMENT ON COLUMN raydar.collector_status.next_poll_at IS
  'when this server''s worker polls next';
COMMENT ON COLUMN raydar.collector_status.cap_hidden IS
  'for a server with dashboard_url: task attempts the dashboard''s cap of 10,000 rows per request hid from the last successful poll (0 over gRPC)';
COMMENT ON COLUMN raydar.collector_status.last_warning IS
  'what the last successful poll found amiss though it worked: rows hidden by the dashboard''s cap, or a cluster whose task events do not reach the GCS (Ray 2.58+); NULL when none';
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
-- commits (src/collector_launcher.c), so a new track() shows data at once.
CREATE FUNCTION raydar._wake_collector()
RETURNS void
AS 'MODULE_PATHNAME', 'raydar_wake_collector'
LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION raydar._wake_collector() FROM PUBLIC;

-- track(server): start keeping the finished tasks of a raydar server.
-- Collect only what the caller may read: the session user (the role that
-- logged in; this function runs as its owner) needs USAGE on the server and
-- a user mapping for it (its own or PUBLIC's), and the collector reads the
-- cluster with that mapping (tracked_by; src/collector_poll.c checks it again at
-- every poll). The collector serves one database (raydar.database): a
-- track() anywhere else would silently do nothing, so it is an error.
CREATE FUNCTION raydar.track(server text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    served text := current_setting('raydar.database', true);
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_foreign_server s
                     JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw
                    WHERE s.srvname = server AND w.fdwname = 'raydar') THEN
        RAISE EXCEPTION 'there is no raydar server named %', quote_ident(server)
            USING ERRCODE = 'undefined_object',
                  HINT = 'Create it first: CREATE SERVER name FOREIGN DATA WRAPPER raydar OPTIONS (address ''host:6379'').';
    END IF;
    IF served IS DISTINCT FROM current_database() THEN
        RAISE EXCEPTION 'the raydar collector does not work in database %', quote_ident(current_database())
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = CASE WHEN served IS NULL
                                THEN 'raydar is not in shared_preload_libraries, so no collector runs.'
                                ELSE 'It works in database ' || quote_ident(served) || ' (the setting raydar.database).' END,
                  HINT = 'Track servers in the database raydar.database names, or set raydar.database = '''
                         || current_database() || ''' in postgresql.conf (with shared_preload_libraries = ''raydar'') and restart.';
    END IF;
    IF NOT has_server_privilege(session_user, server, 'USAGE') THEN
        RAISE EXCEPTION 'permission denied for foreign server %', quote_ident(server)
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'raydar.track() collects what role ' || quote_ident(session_user) || ' may read.',
                  HINT = 'GRANT USAGE ON FOREIGN SERVER ' || quote_ident(server) || ' TO ' || quote_ident(session_user) || ';';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_user_mappings m
                    WHERE m.srvname = server
                      AND (m.umuser = 0 OR m.umuser = (SELECT r.oid FROM pg_roles r WHERE r.rolname = session_user))) THEN
        RAISE EXCEPTION 'role % has no user mapping for server %', quote_ident(session_user), quote_ident(server)
            USING ERRCODE = 'undefined_object',
                  DETAIL = 'The collector reads the cluster with the user mapping of the role that tracks it.',
                  HINT = 'CREATE USER MAPPING FOR ' || quote_ident(session_user) || ' SERVER ' || quote_ident(server)
                         || ' (with OPTIONS (token ''...'') for a cluster that needs one).';
    END IF;
    INSERT INTO raydar.tracked_servers (server_name) VALUES (server)
        ON CONFLICT (server_name) DO UPDATE SET tracked_by = excluded.tracked_by;
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
GRANT SELECT ON raydar.task_history, raydar.task_live, raydar.collector_status,
             raydar.collector_errors, raydar.tracked_servers TO raydar_reader;

-- The latest row the collector saw for each job, actor and node of each
-- incarnation of a cluster: the columns of the foreign tables jobs, actors
-- and nodes (cluster.md), plus the server, when the row last changed and
-- the incarnation (as in task_history: job ids restart on a new cluster). Unlike task attempts these
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
    incarnation                                text NOT NULL DEFAULT '',
    PRIMARY KEY (cluster, incarnation, job_id)
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
    incarnation                                text NOT NULL DEFAULT '',
    PRIMARY KEY (cluster, incarnation, actor_id)
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
    incarnation                                text NOT NULL DEFAULT '',
    PRIMARY KEY (cluster, incarnation, node_id)
);
GRANT SELECT ON raydar.job_history, raydar.actor_history, raydar.node_history TO raydar_reader;

-- Backups: pg_dump skips the rows of an extension's tables unless they are
-- marked here (docs/operations.md, "Backup and restore"). Every table the
-- collector writes holds the user's data; task_history's rows live in its
-- partitions, which are ordinary tables (see above) and dumped as such.
-- The sequence too, so that restored error ids are not handed out again.
SELECT pg_catalog.pg_extension_config_dump('raydar.task_live', '');
SELECT pg_catalog.pg_extension_config_dump('raydar.collector_status', '');
SELECT pg_catalog.pg_extension_config_dump('raydar.collector_errors', '');
SELECT pg_catalog.pg_extension_config_dump('raydar.collector_errors_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('raydar.job_history', '');
SELECT pg_catalog.pg_extension_config_dump('raydar.actor_history', '');
SELECT pg_catalog.pg_extension_config_dump('raydar.node_history', '');
