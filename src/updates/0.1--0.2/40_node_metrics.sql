-- 40_node_metrics.sql: 0.1 -> 0.2 upgrade: node metrics (issue 18).
-- The same objects as src/sql/75_node_metrics.sql, which is all new in 0.2.
-- 75_node_metrics.sql: node and application metrics scraped from the
-- Prometheus endpoint of every alive node of a tracked cluster (the metrics
-- scraper worker, src/metrics_scraper.c), and the answers that join them
-- with task history. docs/metrics.md, "Node metrics", says what is kept.
--
-- Series and samples are apart, as in a time-series database: a series
-- (cluster, node, metric, labels) is written once, a sample is 3 fixed-
-- width columns. Samples are range-partitioned by day under the same
-- maintenance and retention as every raydar table (run_maintenance,
-- set_retention('raydar.metric_samples', ...)).

CREATE TABLE raydar.metric_series (
    series_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cluster     text NOT NULL,
    node_id     text NOT NULL,
    metric      text NOT NULL,
    labels      jsonb NOT NULL,
    metric_type text NOT NULL CHECK (metric_type IN ('counter', 'gauge', 'summary', 'untyped',
                                                     'histogram', 'gaugehistogram')),
    first_seen  timestamptz NOT NULL DEFAULT now()
);
-- md5 of the labels' text (jsonb's text form is canonical): a btree entry
-- must stay under a third of a page, and labels need not.
CREATE UNIQUE INDEX metric_series_key ON raydar.metric_series (cluster, node_id, metric, md5(labels::text));
COMMENT ON TABLE raydar.metric_series IS
  'one row per Prometheus series a node served: cluster (the raydar server), node, metric name as written (x_bucket, x_sum...), labels';

CREATE TABLE raydar.metric_samples (
    time      timestamptz NOT NULL,
    series_id bigint NOT NULL,
    value     double precision NOT NULL,
    PRIMARY KEY (series_id, time)
) PARTITION BY RANGE (time);
COMMENT ON TABLE raydar.metric_samples IS
  'samples of raydar.metric_series: the time of the scrape (or the sample''s own timestamp), the value as served (NaN and infinities included)';
SELECT raydar.register_partitioned_table('raydar.metric_samples', 'time', 7, interval '14 days');
-- No partitions at install time: the scraper makes the day it writes
-- (_write_node_scrape) and run_maintenance the days ahead, so they are
-- ordinary tables that pg_dump dumps with their rows (docs/operations.md).
SELECT pg_catalog.pg_extension_config_dump('raydar.metric_series', '');
SELECT pg_catalog.pg_extension_config_dump('raydar.metric_series_series_id_seq', '');

-- Per node: what the scraper last did, and its counters.
CREATE TABLE raydar.scrape_status (
    cluster              text NOT NULL,
    node_id              text NOT NULL,
    url                  text,
    last_scrape_at       timestamptz,
    last_success_at      timestamptz,
    consecutive_failures integer NOT NULL DEFAULT 0,
    scrapes              bigint NOT NULL DEFAULT 0,
    errors               bigint NOT NULL DEFAULT 0,
    samples_written      bigint NOT NULL DEFAULT 0,
    samples_filtered     bigint NOT NULL DEFAULT 0,
    last_duration        interval,
    last_error           text,
    PRIMARY KEY (cluster, node_id)
);
COMMENT ON TABLE raydar.scrape_status IS
  'per node of a tracked cluster: the metrics scraper''s last scrape and success, failures in a row, scrapes, errors, samples written and filtered out, last error';
SELECT pg_catalog.pg_extension_config_dump('raydar.scrape_status', '');

-- The readable form: one row per sample.
CREATE VIEW raydar.node_metrics AS
    SELECT s.time, r.cluster, r.node_id, r.metric, r.labels, s.value
      FROM raydar.metric_samples s
      JOIN raydar.metric_series r USING (series_id);
COMMENT ON VIEW raydar.node_metrics IS 'every scraped sample: time, cluster, node, metric, labels, value';

-- _node_series(cluster, node, metrics, labels, types): the series_id of
-- each (metric, labels) pair, in argument order, made if new. The scraper
-- keeps the ids it learnt, so a known series costs no lookup at all.
CREATE FUNCTION raydar._node_series(p_cluster text, p_node text, p_metrics text[],
                                    p_labels jsonb[], p_types text[])
RETURNS TABLE (ord bigint, series_id bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    INSERT INTO raydar.metric_series AS r (cluster, node_id, metric, labels, metric_type)
    SELECT DISTINCT ON (u.m, md5(u.l::text)) p_cluster, p_node, u.m, u.l, u.t
      FROM unnest(p_metrics, p_labels, p_types) AS u(m, l, t)
    ON CONFLICT (cluster, node_id, metric, md5(labels::text)) DO NOTHING;
    RETURN QUERY
    SELECT u.i, r.series_id
      FROM unnest(p_metrics, p_labels) WITH ORDINALITY AS u(m, l, i)
      JOIN raydar.metric_series r
        ON r.cluster = p_cluster AND r.node_id = p_node AND r.metric = u.m
       AND md5(r.labels::text) = md5(u.l::text) AND r.labels = u.l
     ORDER BY u.i;
END
$fn$;
REVOKE ALL ON FUNCTION raydar._node_series(text, text, text[], jsonb[], text[]) FROM PUBLIC;

-- _write_node_scrape(cluster, node, metrics, labels, types, values, times):
-- one whole scrape of one node by name, in the caller's transaction: the
-- series, then every sample; a sample already stored (same series and
-- time) is left as it is. Returns the samples written. (The scraper does
-- the same with the series ids it keeps; tests and imports use this.)
CREATE FUNCTION raydar._write_node_scrape(p_cluster text, p_node text, p_metrics text[],
                                          p_labels jsonb[], p_types text[], p_values float8[],
                                          p_times timestamptz[])
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    n bigint;
BEGIN
    PERFORM raydar._add_partitions('raydar', 'metric_samples', ARRAY(
        SELECT DISTINCT date_trunc('day', t AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM unnest(p_times) t));
    INSERT INTO raydar.metric_samples (time, series_id, value)
    SELECT u.ts, s.series_id, u.v
      FROM unnest(p_values, p_times) WITH ORDINALITY AS u(v, ts, i)
      JOIN raydar._node_series(p_cluster, p_node, p_metrics, p_labels, p_types) s ON s.ord = u.i
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$fn$;
REVOKE ALL ON FUNCTION raydar._write_node_scrape(text, text, text[], jsonb[], text[], float8[], timestamptz[]) FROM PUBLIC;

-- task_node_usage: per task attempt kept in history, its node's CPU (%),
-- memory used (bytes) and GPU utilisation (%, mean over the node's GPUs)
-- while it ran: the mean of the samples from the last one at or before
-- the attempt's start to its end, so an attempt shorter than the scrape
-- interval still reads the value its node had.
CREATE VIEW raydar.task_node_usage AS
    SELECT t.cluster, t.job_id, t.task_id, t.attempt_number, t.name, t.node_id,
           t.start_time, t.end_time, u.cpu_percent, u.mem_used_bytes, u.gpu_percent
      FROM raydar.task_history t
      CROSS JOIN LATERAL (
          SELECT avg(s.value) FILTER (WHERE r.metric = 'ray_node_cpu_utilization') AS cpu_percent,
                 avg(s.value) FILTER (WHERE r.metric = 'ray_node_mem_used') AS mem_used_bytes,
                 avg(s.value) FILTER (WHERE r.metric = 'ray_node_gpus_utilization') AS gpu_percent
            FROM raydar.metric_series r
            JOIN raydar.metric_samples s ON s.series_id = r.series_id
           WHERE r.cluster = t.cluster AND r.node_id = t.node_id
             AND r.metric IN ('ray_node_cpu_utilization', 'ray_node_mem_used', 'ray_node_gpus_utilization')
             AND s.time <= t.end_time
             AND s.time >= coalesce((SELECT max(p.time) FROM raydar.metric_samples p
                                      WHERE p.series_id = r.series_id AND p.time <= t.start_time),
                                    t.start_time)
      ) u
     WHERE t.start_time IS NOT NULL AND t.node_id IS NOT NULL;
COMMENT ON VIEW raydar.task_node_usage IS
  'per task attempt: mean CPU %, memory used and GPU % of its node from the last sample before its start to its end';

-- job_object_store_peak: per job, the highest object-store use of any one
-- node (the sum of ray_object_store_memory over its locations and states
-- at one scrape) between the job's first task start and last task end.
CREATE VIEW raydar.job_object_store_peak AS
    WITH jobs AS (
        SELECT cluster, job_id, min(start_time) AS first_start, max(end_time) AS last_end
          FROM raydar.task_history
         WHERE job_id IS NOT NULL AND start_time IS NOT NULL
         GROUP BY cluster, job_id
    ), per_scrape AS (
        SELECT r.cluster, r.node_id, s.time, sum(s.value) AS bytes
          FROM raydar.metric_series r
          JOIN raydar.metric_samples s ON s.series_id = r.series_id
         WHERE r.metric = 'ray_object_store_memory'
         GROUP BY r.cluster, r.node_id, s.time
    )
    SELECT DISTINCT ON (j.cluster, j.job_id)
           j.cluster, j.job_id, p.bytes AS peak_bytes, p.node_id AS peak_node_id, p.time AS peak_time
      FROM jobs j
      JOIN per_scrape p ON p.cluster = j.cluster AND p.time BETWEEN j.first_start AND j.last_end
     ORDER BY j.cluster, j.job_id, p.bytes DESC, p.time;
COMMENT ON VIEW raydar.job_object_store_peak IS
  'per job: the peak object-store bytes of one node while the job''s tasks ran, that node and when';

GRANT SELECT ON raydar.metric_series, raydar.metric_samples, raydar.scrape_status,
             raydar.node_metrics, raydar.task_node_usage, raydar.job_object_store_peak TO raydar_reader;
