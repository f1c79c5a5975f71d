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
-- rather than a silently empty column. A task is a task of one cluster and
-- one incarnation of it (Ray reuses task ids when a cluster is started
-- anew), so both are part of the key. Left out (NULL), they are filled in
-- by _task_metadata_incarnation: the one cluster and incarnation whose
-- tasks have the id (one that is its cluster's current incarnation wins
-- over older ones), or, for a task not collected yet, the current
-- incarnation of the only tracked cluster.
CREATE TABLE raydar.task_metadata (
    task_id     text NOT NULL
                CONSTRAINT task_metadata_task_id_is_hex CHECK (task_id ~ '^([0-9a-f]{2})+$'),
    metadata    jsonb NOT NULL
                CONSTRAINT task_metadata_is_object CHECK (jsonb_typeof(metadata) = 'object'),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    cluster     text NOT NULL,
    incarnation text NOT NULL,
    CONSTRAINT task_metadata_pkey PRIMARY KEY (cluster, incarnation, task_id)
);
COMMENT ON TABLE raydar.task_metadata IS
  'user-defined metadata per task (a JSON object), written by drivers, shown as raydar.tasks.user_defined_metadata';
SELECT pg_catalog.pg_extension_config_dump('raydar.task_metadata', '');

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

-- raydar.tasks: history and live together, one row per attempt, with the
-- user-defined metadata: what dashboards and every answer below query.
-- The join is a LEFT JOIN on task_metadata's primary key, so a query that
-- does not read user_defined_metadata has the join removed by the planner.
CREATE VIEW raydar.tasks AS
    SELECT t.*, m.metadata AS user_defined_metadata
      FROM (SELECT *, false AS live FROM raydar.task_history
            UNION ALL
            SELECT *, true AS live FROM raydar.task_live) t
      LEFT JOIN raydar.task_metadata m
             ON m.cluster = t.cluster AND m.incarnation = t.incarnation AND m.task_id = t.task_id;
COMMENT ON VIEW raydar.tasks IS 'every task attempt the collector knows: finished ones from task_history, the rest from task_live';
GRANT SELECT ON raydar.tasks TO raydar_reader;

-- _job_run(job_id, cluster, incarnation): the run of the job that is
-- meant, as ARRAY[cluster, incarnation]. Ray job ids restart at 01000000
-- on every cluster and every start of one, so a bare job id is only enough
-- while one incarnation of one cluster has it.
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

-- _is_terminal(state): the attempt has ended, FINISHED or FAILED (the two
-- states after which Ray reports nothing more for an attempt; the
-- collector moves such attempts into raydar.task_history). No SET
-- search_path, so that callers such as job_progress_at stay inlinable.
CREATE FUNCTION raydar._is_terminal(state text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
    SELECT state IN ('FINISHED', 'FAILED')
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

-- _xml_chars(text): the text with every character XML 1.0 cannot carry
-- replaced by U+FFFD: C0 controls other than tab, newline and carriage
-- return, and the non-characters U+FFFE and U+FFFF (XML's Char production;
-- NUL and surrogates cannot occur in PostgreSQL text). Task names, ids and
-- errors come from users: every writer of XML, SVG or DOT (whose SVG output
-- carries the text on) goes through this one function. Replaced, not
-- dropped, so that the picture shows that something was there.
CREATE FUNCTION raydar._xml_chars(s text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT translate(s,
        E'\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\uFFFE\uFFFF',
        repeat(E'\uFFFD', 30))
$fn$;

-- _dot_quote(text): a DOT double-quoted string. Backslash and quote are
-- escaped; a newline becomes DOT's centred line break \n, tab and carriage
-- return a space. Graphviz decodes HTML entities in labels (&#1; would
-- reach its SVG as a control character), so & is written &amp;: a name
-- is shown as written. Characters XML cannot carry become U+FFFD, so that
-- `dot -Tsvg` makes well-formed SVG. Graphviz refuses a quoted string over
-- 16384 bytes: past 1000 characters (at most 5 bytes each once escaped)
-- the text is cut and its md5 appended, so that long ids stay distinct.
CREATE FUNCTION raydar._dot_quote(s text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT '"' || replace(replace(replace(replace(
                   translate(raydar._xml_chars(CASE WHEN length(s) > 1000
                                                    THEN left(s, 1000) || '… (md5 ' || md5(s) || ')'
                                                    ELSE coalesce(s, '') END), E'\t\r', '  '),
                   '\', '\\'), '"', '\"'), '&', '&amp;'), E'\n', '\n') || '"'
$fn$;

-- _xml(text): text for an SVG element or a quoted attribute: markup
-- characters as entities, characters XML cannot carry as U+FFFD. Tab,
-- newline and carriage return as character references too: a parser
-- turns a literal CR into LF, and literal whitespace in an attribute into
-- spaces; so the text read back is the text written.
CREATE FUNCTION raydar._xml(s text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT replace(replace(replace(replace(replace(replace(replace(replace(
               raydar._xml_chars(coalesce(s, '')),
               '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'), '''', '&#39;'),
               E'\t', '&#9;'), E'\n', '&#10;'), E'\r', '&#13;')
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
               count(*) FILTER (WHERE raydar._is_terminal(l.state)
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

-- What `ray summary tasks` shows (per function and type, attempts by
-- state), per cluster and job, plus durations of the attempts that ran
-- (start_time and end_time known, failed ones included), in seconds.
-- Counts are attempts, as Ray counts them; `tasks` counts distinct tasks.
CREATE VIEW raydar.task_summary AS
    SELECT t.cluster, t.incarnation, t.job_id, t.func_or_class_name, t.type,
           count(DISTINCT t.task_id) AS tasks,
           count(*) AS attempts,
           count(*) FILTER (WHERE t.state = 'FINISHED') AS finished,
           count(*) FILTER (WHERE t.state = 'FAILED') AS failed,
           count(*) FILTER (WHERE t.state LIKE 'RUNNING%') AS running,
           count(*) FILTER (WHERE NOT raydar._is_terminal(t.state) AND t.state NOT LIKE 'RUNNING%') AS pending,
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

-- Parent to child, one row per task (not per attempt). The driver's
-- parent is Ray's nil id (all zeros): not an edge.
CREATE VIEW raydar.task_edges AS
    SELECT DISTINCT t.cluster, t.incarnation, t.job_id, t.parent_task_id, t.task_id, t.name
      FROM raydar.tasks t
     WHERE t.parent_task_id IS NOT NULL AND t.parent_task_id !~ '^0*$';
COMMENT ON VIEW raydar.task_edges IS 'task graph: which task submitted which (parent_task_id to task_id), per cluster, incarnation and job';

-- _job_tasks(cluster, incarnation, job): one row per task of a job (its latest
-- attempt), the driver included, with what the graph and the critical
-- path need: the node's IP from node_history, the attempts made, and the
-- order tasks appeared in.
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

-- task_graph_dot(job_id, color_by, label_by [, cluster [, incarnation]]): the job's task
-- graph in Graphviz DOT, one box per task (its latest attempt), an arrow
-- from each task to the tasks it submitted. color_by and label_by are one
-- of 'state', 'duration', 'node', 'name'; the label is the task's name,
-- with the label_by value on a second line (none for 'name').
-- Render with: dot -Tsvg job.dot > job.svg
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

-- critical_path(job_id [, cluster [, incarnation]]): the chain of tasks the job waited
-- for, following the submission tree (Ray records which task submitted
-- which, not which results a task consumed). Step 1 is the top-level task
-- that ended last (one still unfinished counts as ending last: it is what
-- the job waits for); each next step is the child, among the tasks the
-- previous step submitted, that ended last. ended_before_parent says how
-- long before its parent a step ended: near zero means the parent really
-- waited for it.
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

-- chrome_trace(job_id [, cluster [, incarnation]]): the job's profile events in the Chrome
-- trace event format, as `ray timeline` writes them (Ray's
-- chrome_tracing_dump), without its 10,000-task cap: a JSON array of
-- complete events {"cat", "name", "pid", "tid", "ts", "dur", "cname",
-- "args", "ph": "X"} (pid: a node, tid: a worker, times in microseconds),
-- then "process_name" and "thread_name" metadata events naming them.
-- Load it in https://ui.perfetto.dev or chrome://tracing.
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

-- timeline_svg(job_id [, cluster [, incarnation]]): an SVG Gantt chart of the job: one
-- lane per worker (grouped by node), one bar per attempt from its start to
-- its end, coloured by state (green finished, red failed, blue running);
-- a running attempt's bar reaches the latest time known for the job. Each
-- bar has a tooltip (<title>) and data-task / data-lane attributes.
-- Browsers show the file as is. One statement, no temporary table, so it
-- also runs on a read-only standby.
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

-- Readers read every answer; drivers (raydar_writer) write metadata;
-- deleting it is an admin's.
GRANT SELECT ON raydar.job_progress, raydar.task_summary, raydar.task_edges, raydar.task_metadata TO raydar_reader;
GRANT INSERT, UPDATE ON raydar.task_metadata TO raydar_writer;
GRANT DELETE ON raydar.task_metadata TO raydar_admin;
REVOKE ALL ON FUNCTION raydar.job_progress_at(timestamptz), raydar._job_run(text, text, text),
                       raydar._job_tasks(text, text, text), raydar.task_graph_dot(text, text, text, text, text),
                       raydar.critical_path(text, text, text), raydar.chrome_trace(text, text, text),
                       raydar.timeline_svg(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION raydar.job_progress_at(timestamptz), raydar._job_run(text, text, text),
                          raydar._job_tasks(text, text, text), raydar.task_graph_dot(text, text, text, text, text),
                          raydar.critical_path(text, text, text), raydar.chrome_trace(text, text, text),
                          raydar.timeline_svg(text, text, text) TO raydar_reader;
