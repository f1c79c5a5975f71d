-- 77_push_entities.sql: jobs, actors and nodes from pushed events
-- (src/event_entities.c, docs/push.md "Jobs, actors and nodes"). Each
-- definition event and each state transition of a lifecycle event is kept
-- as the fragment of the GCS row it stands for (packed JobTableData,
-- ActorTableData or GcsNodeInfo); the row is the fragments merged in time
-- order, rebuilt whenever one of its events arrives, and written to
-- job_history / actor_history / node_history by the poller's upsert.
-- Keyed on the event id and the transition's place in it, so a resent
-- event adds nothing, and sorted at merge time, so arrival order does not
-- matter (lifecycle before definition, transitions out of order).

CREATE TABLE raydar.event_entities (
    cluster        text NOT NULL,
    incarnation    text NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('job', 'actor', 'node')),
    entity_id      bytea NOT NULL,
    event_id       bytea NOT NULL,
    part           integer NOT NULL,
    ts_ns          bigint NOT NULL,
    state          integer NOT NULL,
    restart_reason integer,
    fragment       bytea NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cluster, incarnation, kind, entity_id, event_id, part)
);
COMMENT ON TABLE raydar.event_entities IS
  'pushed job, actor and node events, one row per definition (part -1) or state transition: the fragment of the GCS row it gives (packed protobuf), merged in (ts_ns, state) order into job_history, actor_history and node_history';

-- The entities with a final transition (a job's FINISHED, an actor's or a
-- node's DEAD: the numbers event_entities.c's FINAL_TRANSITION names): the
-- candidates the merger's pruning reads, not the whole table.
CREATE INDEX event_entities_final ON raydar.event_entities (cluster, incarnation, kind, entity_id)
    WHERE part >= 0 AND ((kind = 'job' AND state = 2) OR (kind = 'actor' AND state = 4) OR (kind = 'node' AND state = 1));

SELECT pg_catalog.pg_extension_config_dump('raydar.event_entities', '');

-- An entity whose history row is final (job dead, actor or node DEAD) or
-- deleted, and that had no event for raydar.event_receiver_retention,
-- keeps only its key here: its fragments are deleted (the merger's
-- maintenance, every minute),
-- and a later event for it is skipped and counted as a duplicate rather
-- than rebuilding its row from that event alone. Kept 30 days.
CREATE TABLE raydar.event_entity_tombstones (
    cluster     text NOT NULL,
    incarnation text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('job', 'actor', 'node')),
    entity_id   bytea NOT NULL,
    expired_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cluster, incarnation, kind, entity_id)
);
COMMENT ON TABLE raydar.event_entity_tombstones IS
  'pushed jobs, actors and nodes final and quiet for raydar.event_receiver_retention: their event_entities rows deleted, later events for them skipped (counted as duplicates); kept 30 days';

SELECT pg_catalog.pg_extension_config_dump('raydar.event_entity_tombstones', '');

-- expire_pushed_entities(older_than): tombstone now the final pushed
-- entities with no event for older_than (the merger does it every minute
-- with raydar.event_receiver_retention); the number tombstoned. For
-- superusers only (tests, or to prune at once after lowering the setting).
CREATE FUNCTION raydar.expire_pushed_entities(older_than interval)
RETURNS bigint
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'raydar_expire_pushed_entities';
REVOKE ALL ON FUNCTION raydar.expire_pushed_entities(interval) FROM PUBLIC;

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
