-- 30_history.sql: raydar 0.1 -> 0.2, history you can trust (issue 14).
-- Cluster incarnations: task_history, task_live and the job, actor and node
-- histories gain an incarnation column that is part of their keys; rows
-- collected by 0.1 get '' (raydar could not tell incarnations apart), the
-- collector stamps new rows with what the cluster reports. collector_status
-- shows the current incarnation. task_metadata is keyed by cluster,
-- incarnation and task id: an existing row is attached to the one cluster
-- and incarnation whose tasks have its id, or to none (cluster and
-- incarnation '') when no single one has; UPDATE such rows to attach them.
-- track() checks the caller's USAGE and user mapping and the database.
-- collector_status shows each server's backoff and next poll.
-- The answers group by incarnation and take it where a job id is
-- ambiguous, so raydar.tasks (one more column), its dependent views and the
-- answer functions whose signature changed are made again.

ALTER TABLE raydar.task_history ADD COLUMN incarnation text NOT NULL DEFAULT '';
ALTER TABLE raydar.task_history DROP CONSTRAINT task_history_pkey,
    ADD PRIMARY KEY (cluster, incarnation, task_id, attempt_number, end_time);
ALTER TABLE raydar.task_live ADD COLUMN incarnation text NOT NULL DEFAULT '';
ALTER TABLE raydar.job_history ADD COLUMN incarnation text NOT NULL DEFAULT '';
ALTER TABLE raydar.job_history DROP CONSTRAINT job_history_pkey,
    ADD PRIMARY KEY (cluster, incarnation, job_id);
ALTER TABLE raydar.actor_history ADD COLUMN incarnation text NOT NULL DEFAULT '';
ALTER TABLE raydar.actor_history DROP CONSTRAINT actor_history_pkey,
    ADD PRIMARY KEY (cluster, incarnation, actor_id);
ALTER TABLE raydar.node_history ADD COLUMN incarnation text NOT NULL DEFAULT '';
ALTER TABLE raydar.node_history DROP CONSTRAINT node_history_pkey,
    ADD PRIMARY KEY (cluster, incarnation, node_id);
ALTER TABLE raydar.collector_status ADD COLUMN incarnation text, ADD COLUMN incarnation_since timestamptz,
    ADD COLUMN backoff interval, ADD COLUMN next_poll_at timestamptz;
COMMENT ON COLUMN raydar.collector_status.incarnation IS
  'the start of the cluster the last successful poll saw: the GCS''s cluster id (hex) or the dashboard''s session_name';
COMMENT ON COLUMN raydar.collector_status.incarnation_since IS
  'when the collector first saw that incarnation';
COMMENT ON COLUMN raydar.collector_status.backoff IS
  'after failed polls, the wait before the next one (the interval doubled per failure, at most a minute); NULL when healthy';
COMMENT ON COLUMN raydar.collector_status.next_poll_at IS
  'when this server''s worker polls next';

-- track(): collect only what the caller may read, in the collector's database.
CREATE OR REPLACE FUNCTION raydar.track(server text)
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

-- task_metadata: (cluster, incarnation, task_id).
ALTER TABLE raydar.task_metadata ADD COLUMN cluster text, ADD COLUMN incarnation text;
UPDATE raydar.task_metadata m
   SET cluster = coalesce(r.cluster, ''), incarnation = coalesce(r.incarnation, '')
  FROM (SELECT m2.task_id,
               CASE WHEN count(DISTINCT (t.cluster, t.incarnation)) = 1 THEN min(t.cluster) END AS cluster,
               CASE WHEN count(DISTINCT (t.cluster, t.incarnation)) = 1 THEN min(t.incarnation) END AS incarnation
          FROM raydar.task_metadata m2
          LEFT JOIN (SELECT h.task_id, h.cluster, h.incarnation FROM raydar.task_history h
                     UNION SELECT l.task_id, l.cluster, l.incarnation FROM raydar.task_live l) t
                 ON t.task_id = m2.task_id
         GROUP BY m2.task_id) r
 WHERE r.task_id = m.task_id;
ALTER TABLE raydar.task_metadata ALTER COLUMN cluster SET NOT NULL, ALTER COLUMN incarnation SET NOT NULL,
    DROP CONSTRAINT task_metadata_pkey,
    ADD CONSTRAINT task_metadata_pkey PRIMARY KEY (cluster, incarnation, task_id);
CREATE FUNCTION raydar._task_metadata_incarnation()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    c    text[];
    i    text[];
    ncur bigint;
BEGIN
    IF NEW.cluster IS NOT NULL AND NEW.incarnation IS NOT NULL THEN
        RETURN NEW;
    END IF;
    IF NEW.task_id !~ '^([0-9a-f]{2})+$' OR jsonb_typeof(NEW.metadata) IS DISTINCT FROM 'object' THEN
        -- Let the table's checks say what is wrong with the row.
        NEW.cluster := coalesce(NEW.cluster, '');
        NEW.incarnation := coalesce(NEW.incarnation, '');
        RETURN NEW;
    END IF;
    -- The runs of the cluster that have the task; one in a current
    -- incarnation of its cluster wins over older ones.
    SELECT array_agg(r.cluster ORDER BY r.cur DESC, r.cluster, r.incarnation),
           array_agg(r.incarnation ORDER BY r.cur DESC, r.cluster, r.incarnation),
           count(*) FILTER (WHERE r.cur)
      INTO c, i, ncur
      FROM (SELECT DISTINCT t.cluster, t.incarnation,
                   EXISTS (SELECT 1 FROM raydar.collector_status s
                            WHERE s.server = t.cluster AND s.incarnation = t.incarnation) AS cur
              FROM raydar.tasks t
             WHERE t.task_id = NEW.task_id
               AND (NEW.cluster IS NULL OR t.cluster = NEW.cluster)
               AND (NEW.incarnation IS NULL OR t.incarnation = NEW.incarnation)) r;
    IF c IS NULL THEN
        -- Not collected yet (a driver writes while its task runs): the
        -- current incarnation of the named, or of the only tracked, cluster.
        SELECT array_agg(s.server::text), array_agg(s.incarnation) INTO c, i
          FROM raydar.collector_status s
         WHERE (NEW.cluster IS NULL OR s.server = NEW.cluster) AND s.incarnation IS NOT NULL;
    ELSIF ncur = 1 THEN
        c := c[1:1];
        i := i[1:1];
    END IF;
    IF cardinality(c) IS DISTINCT FROM 1 THEN
        RAISE EXCEPTION 'cannot tell which cluster and incarnation task % belongs to', quote_literal(NEW.task_id)
            USING ERRCODE = 'not_null_violation',
                  DETAIL = CASE WHEN c IS NULL THEN 'No tracked cluster has it.'
                                ELSE 'It ran in ' || cardinality(c) || ' of them.' END,
                  HINT = 'Name them in the cluster and incarnation columns, as raydar.tasks shows them.';
    END IF;
    NEW.cluster := c[1];
    NEW.incarnation := coalesce(NEW.incarnation, i[1]);
    RETURN NEW;
END
$fn$;
CREATE TRIGGER task_metadata_incarnation BEFORE INSERT OR UPDATE ON raydar.task_metadata
    FOR EACH ROW EXECUTE FUNCTION raydar._task_metadata_incarnation();

-- The views over raydar.tasks, and the answers whose signature changed.
-- No CASCADE: anything else built on raydar.tasks makes this fail loudly
-- rather than vanish.
DROP VIEW raydar.task_summary, raydar.task_edges, raydar.job_progress;
DROP VIEW raydar.tasks;
DROP FUNCTION raydar.job_progress_at(timestamptz), raydar._job_cluster(text, text),
              raydar._job_tasks(text, text), raydar.task_graph_dot(text, text, text, text),
              raydar.critical_path(text, text), raydar.chrome_trace(text, text),
              raydar.timeline_svg(text, text);

CREATE VIEW raydar.tasks AS
    SELECT t.*, m.metadata AS user_defined_metadata
      FROM (SELECT *, false AS live FROM raydar.task_history
            UNION ALL
            SELECT *, true AS live FROM raydar.task_live) t
      LEFT JOIN raydar.task_metadata m
             ON m.cluster = t.cluster AND m.incarnation = t.incarnation AND m.task_id = t.task_id;
COMMENT ON VIEW raydar.tasks IS 'every task attempt the collector knows: finished ones from task_history, the rest from task_live';
GRANT SELECT ON raydar.tasks TO raydar_reader;

CREATE FUNCTION raydar._job_run(p_job text, p_cluster text, p_incarnation text)
RETURNS text[]
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    clusters text[];
    incs     text[];
    inc_note text := CASE WHEN p_incarnation IS NULL THEN ''
                          ELSE ' in incarnation ' || quote_literal(left(p_incarnation, 80)) END;
BEGIN
    IF p_job IS NULL THEN
        RAISE EXCEPTION 'job_id must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT array_agg(r.cluster ORDER BY r.cluster, r.incarnation),
           array_agg(r.incarnation ORDER BY r.cluster, r.incarnation)
      INTO clusters, incs
      FROM (SELECT DISTINCT t.cluster, t.incarnation FROM raydar.tasks t
             WHERE t.job_id = p_job
               AND (p_cluster IS NULL OR t.cluster = p_cluster)
               AND (p_incarnation IS NULL OR t.incarnation = p_incarnation)) r;
    IF clusters IS NULL AND p_cluster IS NOT NULL THEN
        RAISE EXCEPTION '%', format('cluster %s has no tasks of job %s%s', quote_literal(left(p_cluster, 80)),
                                    quote_literal(left(p_job, 80)), inc_note)
            USING ERRCODE = 'no_data_found';
    END IF;
    IF clusters IS NULL THEN
        RAISE EXCEPTION 'no tasks of job % are known%', quote_literal(left(p_job, 80)), inc_note
            USING ERRCODE = 'no_data_found',
                  HINT = 'Job ids are hex as raydar.tasks shows them, e.g. ''01000000''; the collector must track the cluster (raydar.track).';
    END IF;
    IF clusters[1] <> clusters[cardinality(clusters)] THEN
        RAISE EXCEPTION 'job % exists in more than one cluster: %', quote_literal(left(p_job, 80)),
                        (SELECT string_agg(DISTINCT c, ', ' ORDER BY c) FROM unnest(clusters) c)
            USING ERRCODE = 'ambiguous_parameter',
                  HINT = 'Name the cluster: cluster => ''' || clusters[1] || '''.';
    END IF;
    IF cardinality(incs) > 1 THEN
        RAISE EXCEPTION 'job % ran in more than one incarnation of cluster %: %', quote_literal(left(p_job, 80)),
                        quote_literal(clusters[1]), array_to_string(incs, ', ')
            USING ERRCODE = 'ambiguous_parameter',
                  HINT = 'Ray reuses job ids when a cluster is started anew. Name the incarnation: incarnation => '''
                         || coalesce((SELECT s.incarnation FROM raydar.collector_status s
                                       WHERE s.server = clusters[1] AND s.incarnation = ANY (incs)),
                                     incs[cardinality(incs)])
                         || ''' (raydar.collector_status.incarnation is the current one).';
    END IF;
    RETURN ARRAY[clusters[1], incs[1]];
END
$fn$;

CREATE FUNCTION raydar.job_progress_at(as_of timestamptz)
RETURNS TABLE (cluster text, incarnation text, job_id text, total bigint, finished bigint, failed bigint,
               running bigint, pending bigint, percent_done numeric,
               tasks_per_second_last_minute numeric, tasks_per_second_overall numeric,
               started_at timestamptz, last_end_time timestamptz, elapsed interval,
               time_left interval, as_of timestamptz)
LANGUAGE sql STABLE
AS $fn$
    WITH latest AS (
        -- job_id is in the DISTINCT ON and the window's partition (a task
        -- id determines its job) so that a filter on job_id is pushed down.
        SELECT DISTINCT ON (t.cluster, t.incarnation, t.job_id, t.task_id)
               t.cluster, t.incarnation, t.job_id, t.state, t.end_time,
               min(coalesce(t.creation_time, t.start_time))
                   OVER (PARTITION BY t.cluster, t.incarnation, t.job_id, t.task_id) AS first_seen
          FROM raydar.tasks t
         WHERE t.type IS DISTINCT FROM 'DRIVER_TASK'
         ORDER BY t.cluster, t.incarnation, t.job_id, t.task_id, t.attempt_number DESC
    ), counts AS (
        SELECT l.cluster, l.incarnation, l.job_id,
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
         GROUP BY l.cluster, l.incarnation, l.job_id
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
    SELECT r.cluster, r.incarnation, r.job_id, r.total, r.finished, r.failed, r.running,
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
     ORDER BY r.cluster, r.incarnation, r.job_id
$fn$;

CREATE VIEW raydar.job_progress AS
    SELECT * FROM raydar.job_progress_at(now());
COMMENT ON VIEW raydar.job_progress IS
  'per cluster, incarnation and job: tasks total, finished, failed, running, pending, percent done, throughput, elapsed, time left';

CREATE VIEW raydar.task_summary AS
    SELECT t.cluster, t.incarnation, t.job_id, t.func_or_class_name, t.type,
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
     GROUP BY t.cluster, t.incarnation, t.job_id, t.func_or_class_name, t.type;
COMMENT ON VIEW raydar.task_summary IS
  'ray summary tasks over complete history: attempts by state per function and type, durations mean/p50/p95/max (s)';

CREATE VIEW raydar.task_edges AS
    SELECT DISTINCT t.cluster, t.incarnation, t.job_id, t.parent_task_id, t.task_id, t.name
      FROM raydar.tasks t
     WHERE t.parent_task_id IS NOT NULL AND t.parent_task_id !~ '^0*$';
COMMENT ON VIEW raydar.task_edges IS 'task graph: which task submitted which (parent_task_id to task_id), per cluster, incarnation and job';

CREATE FUNCTION raydar._job_tasks(p_cluster text, p_incarnation text, p_job text)
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
      LEFT JOIN raydar.node_history n
             ON n.cluster = t.cluster AND n.incarnation = t.incarnation AND n.node_id = t.node_id
     WHERE t.cluster = $1 AND t.incarnation = $2 AND t.job_id = $3
    WINDOW w AS (PARTITION BY t.task_id)
     ORDER BY t.task_id, t.attempt_number DESC
$fn$;

CREATE FUNCTION raydar.task_graph_dot(job_id text, color_by text DEFAULT 'state',
                                      label_by text DEFAULT 'name', cluster text DEFAULT NULL,
                                      incarnation text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    p_job     text := task_graph_dot.job_id;
    p_color   text := task_graph_dot.color_by;
    p_label   text := task_graph_dot.label_by;
    run       text[];
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
    run := raydar._job_run(p_job, task_graph_dot.cluster, task_graph_dot.incarnation);
    p_cluster := run[1];

    WITH j AS MATERIALIZED (
        SELECT g.*, raydar._seconds(g.end_time - g.start_time) AS dur,
               dense_rank() OVER (ORDER BY g.node_ip NULLS LAST, g.node_id NULLS LAST) AS node_rank,
               dense_rank() OVER (ORDER BY g.name NULLS LAST) AS name_rank
          FROM raydar._job_tasks(run[1], run[2], p_job) g
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

CREATE FUNCTION raydar.critical_path(job_id text, cluster text DEFAULT NULL, incarnation text DEFAULT NULL)
RETURNS TABLE (step integer, task_id text, name text, state text, attempts integer,
               node_id text, start_time timestamptz, end_time timestamptz,
               duration interval, ended_before_parent interval)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    WITH RECURSIVE j AS (
        SELECT g.* FROM (SELECT raydar._job_run($1, $2, $3) AS r) x, raydar._job_tasks(x.r[1], x.r[2], $1) g
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

CREATE FUNCTION raydar.chrome_trace(job_id text, cluster text DEFAULT NULL, incarnation text DEFAULT NULL)
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
         WHERE ARRAY[t.cluster, t.incarnation] = (SELECT raydar._job_run($1, $2, $3)) AND t.job_id = $1
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

CREATE FUNCTION raydar.timeline_svg(job_id text, cluster text DEFAULT NULL, incarnation text DEFAULT NULL)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    WITH c AS MATERIALIZED (
        SELECT r[1] AS cluster, r[2] AS incarnation FROM (SELECT raydar._job_run($1, $2, $3) AS r) x
    ), bars AS MATERIALIZED (
        SELECT t.task_id, t.attempt_number, t.name, t.state, t.node_id, t.worker_id, t.worker_pid,
               t.start_time, t.end_time, t.cluster, n.node_ip
          FROM raydar.tasks t
          LEFT JOIN raydar.node_history n
                 ON n.cluster = t.cluster AND n.incarnation = t.incarnation AND n.node_id = t.node_id
         WHERE t.cluster = (SELECT c.cluster FROM c) AND t.incarnation = (SELECT c.incarnation FROM c)
           AND t.job_id = $1
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

GRANT SELECT ON raydar.job_progress, raydar.task_summary, raydar.task_edges TO raydar_reader;
REVOKE ALL ON FUNCTION raydar.job_progress_at(timestamptz), raydar._job_run(text, text, text),
                       raydar._job_tasks(text, text, text), raydar.task_graph_dot(text, text, text, text, text),
                       raydar.critical_path(text, text, text), raydar.chrome_trace(text, text, text),
                       raydar.timeline_svg(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION raydar.job_progress_at(timestamptz), raydar._job_run(text, text, text),
                          raydar._job_tasks(text, text, text), raydar.task_graph_dot(text, text, text, text, text),
                          raydar.critical_path(text, text, text), raydar.chrome_trace(text, text, text),
                          raydar.timeline_svg(text, text, text) TO raydar_reader;
