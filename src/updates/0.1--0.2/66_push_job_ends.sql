-- 66_push_job_ends.sql: 0.1 -> 0.2 upgrade: raydar.event_job_ends, the
-- pushed jobs whose unfinished attempts the merger marks FAILED as Ray's
-- GCS does when a job ends. The same table as src/sql/77_push_entities.sql.

-- Jobs whose FINISHED transition was pushed: raydar.event_job_end_wait
-- after it was merged (received_at), once no body of the cluster that
-- arrived before then is still spooled, the merger marks the job's
-- attempts that are neither FINISHED nor FAILED as FAILED (WORKER_DIED,
-- "Job finishes (<job>) as driver exits. ..." at the job's end time), as
-- Ray's GCS does 15 s after a job ends (GcsTaskManager::OnJobFinished, MarkTasksFailedOnJobEnds). No
-- worker reports those attempts any more, and Ray does not export what its
-- GCS writes, so without this they would stay live for good. marked_at:
-- when that was done (once per job, as Ray does; a resent FINISHED does
-- not do it again). Kept 30 days.
CREATE TABLE raydar.event_job_ends (
    cluster     text NOT NULL,
    incarnation text NOT NULL,
    job_id      bytea NOT NULL,
    end_ns      bigint NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    marked_at   timestamptz,
    marked      bigint,
    PRIMARY KEY (cluster, incarnation, job_id)
);
COMMENT ON TABLE raydar.event_job_ends IS
  'pushed jobs that ended: raydar.event_job_end_wait after their FINISHED arrived, their attempts not FINISHED or FAILED are marked FAILED as Ray''s GCS does (marked_at, marked: when and how many); kept 30 days';
CREATE INDEX event_job_ends_due ON raydar.event_job_ends (received_at) WHERE marked_at IS NULL;

SELECT pg_catalog.pg_extension_config_dump('raydar.event_job_ends', '');
