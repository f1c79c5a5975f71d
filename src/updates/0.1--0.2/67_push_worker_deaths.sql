-- 67_push_worker_deaths.sql: 0.1 -> 0.2 upgrade: raydar.event_worker_deaths,
-- the pushed worker deaths whose unfinished attempts the merger marks
-- FAILED as Ray's GCS does. The same table as src/sql/77_push_entities.sql.

-- Workers whose death was pushed (WORKER_LIFECYCLE_EVENT, DEAD; Ray 2026,
-- sent by the GCS when the aggregator exposes that type):
-- raydar.event_worker_death_wait after it was merged (received_at), once no
-- body of the cluster that arrived before then is still spooled, the
-- merger marks the attempts the worker ran that are neither FINISHED nor
-- FAILED as FAILED (WORKER_DIED, "Worker running the task (<worker>) died
-- with exit_type: <n> with error_message: <detail>" at the worker's end
-- time), as Ray's GCS does 1 s after it learns of the death
-- (GcsTaskManager::OnWorkerDead, MarkTasksFailedOnWorkerDead) and exports
-- none of. end_ms, exit_type and exit_detail are the event's. marked_at:
-- when that was done (once per worker: a resent event does not do it
-- again). Kept 30 days.
CREATE TABLE raydar.event_worker_deaths (
    cluster     text NOT NULL,
    incarnation text NOT NULL,
    worker_id   bytea NOT NULL,
    end_ms      bigint NOT NULL CHECK (end_ms BETWEEN 0 AND 9223372036854),  -- in ns it fits int64
    exit_type   integer NOT NULL,
    exit_detail text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    marked_at   timestamptz,
    marked      bigint,
    PRIMARY KEY (cluster, incarnation, worker_id)
);
COMMENT ON TABLE raydar.event_worker_deaths IS
  'pushed worker deaths: raydar.event_worker_death_wait after the DEAD event arrived, the attempts the worker ran that are not FINISHED or FAILED are marked FAILED as Ray''s GCS does (marked_at, marked: when and how many); kept 30 days';
CREATE INDEX event_worker_deaths_due ON raydar.event_worker_deaths (received_at) WHERE marked_at IS NULL;

SELECT pg_catalog.pg_extension_config_dump('raydar.event_worker_deaths', '');
