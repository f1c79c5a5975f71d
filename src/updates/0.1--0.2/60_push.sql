-- 60_push.sql: 0.1 -> 0.2 upgrade: the push receiver (issue 17).
-- The same objects as src/sql/76_push.sql, which is all new in 0.2.
-- 76_push.sql: the push receiver (src/event_receiver.c, src/event_merge.c,
-- docs/push.md): Ray's Event Export POSTed to raydar.event_receiver_listen
-- at /events/<cluster>/<token>, spooled before the 200, then merged per
-- (cluster, incarnation, task_id, attempt) into task_history / task_live as
-- Ray's own converter merges them. Registered clusters, the spool, what is
-- needed to merge later events, the event ids already stored, rejected
-- events and per-node counters.

CREATE TABLE raydar.event_clusters (
    cluster       text PRIMARY KEY CHECK (cluster ~ '^[A-Za-z0-9_.-]{1,63}$'),
    token_sha256  bytea,
    ray_version   text NOT NULL DEFAULT '2.58',
    registered_at timestamptz NOT NULL DEFAULT now(),
    registered_by name NOT NULL DEFAULT session_user
);
COMMENT ON TABLE raydar.event_clusters IS
  'clusters whose Event Export the receiver accepts at /events/<cluster>/<token> (raydar.receive_events); the token is kept as its SHA-256 only';

-- A session of a pushed cluster (RayEvent.sessionName) and the incarnation
-- its rows are stored under: the poller's (the GCS's cluster id) when the
-- cluster was also tracked when the session was first seen, else the
-- session name itself.
CREATE TABLE raydar.event_sessions (
    cluster      text NOT NULL,
    session_name text NOT NULL,
    incarnation  text NOT NULL,
    first_seen   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cluster, session_name)
);

-- Bodies acknowledged (200) and not yet merged: the receiver appends each
-- body before answering, the merger consumes them in id order and deletes
-- each row in the transaction that stores its events. body NULL: larger
-- than the receiver reads (kept as a reject). The receiver's threads
-- compress each body with lz4 before it reaches the worker (pack_body in
-- event_receiver.c), so PostgreSQL stores it as it comes (EXTERNAL: no
-- second try at compressing) and decompresses it for the merger; a body
-- that does not shrink, or a server without lz4, is stored raw.
CREATE TABLE raydar.event_spool (
    id          bigserial PRIMARY KEY,
    cluster     text NOT NULL,
    node        text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    body        bytea
);
ALTER TABLE raydar.event_spool ALTER COLUMN body SET STORAGE EXTERNAL;

-- Per attempt, the TaskEvents merged so far (packed protobuf; a later
-- event is appended, which is protobuf's MergeFrom), kept until
-- raydar.event_receiver_retention after the attempt reached history; then
-- only its key (expired: later events for it are not merged), for 30 days.
-- event_ids: a 64-bit hash of each event id merged into it (Ray delivers
-- at least once: task events are deduplicated per attempt, the others in
-- event_ids). waiting_definition: FINISHED or FAILED without its definition yet;
-- stored as it is after raydar.event_definition_wait.
-- fillfactor 70 and no index on a column a merge changes (the partial
-- index's key and predicate change only when an attempt starts or stops
-- waiting): a merge's update is then HOT, with no index insert.
CREATE TABLE raydar.event_attempts (
    cluster            text NOT NULL,
    incarnation        text NOT NULL,
    task_id            bytea NOT NULL,
    attempt_number     integer NOT NULL,
    events             bytea NOT NULL,
    event_ids          bytea NOT NULL DEFAULT '\x',
    in_history         boolean NOT NULL DEFAULT false,
    expired            boolean NOT NULL DEFAULT false,
    waiting_definition boolean NOT NULL DEFAULT false,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cluster, incarnation, task_id, attempt_number)
) WITH (fillfactor = 70);
-- events is compressed with lz4 where the server has it (cheaper than
-- pglz), else pglz.
DO $lz4$
BEGIN
    ALTER TABLE raydar.event_attempts ALTER COLUMN events SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    NULL;  -- a server built without lz4: pglz, the default
END
$lz4$;
CREATE INDEX event_attempts_waiting ON raydar.event_attempts (cluster, incarnation) WHERE waiting_definition;

-- Ids of the job, actor and node events already merged (Ray delivers at
-- least once), for the retention; task events are deduplicated per attempt
-- (event_attempts.event_ids).
CREATE TABLE raydar.event_ids (
    cluster     text NOT NULL,
    event_id    bytea NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cluster, event_id)
);

-- Bad bodies and events, bounded (raydar.event_rejects_max newest rows):
-- Ray resends a batch answered 4xx forever, so they are kept here and
-- answered 200.
CREATE TABLE raydar.event_rejects (
    id          bigserial PRIMARY KEY,
    cluster     text NOT NULL,
    node        text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    reason      text NOT NULL,
    event       text
);
COMMENT ON TABLE raydar.event_rejects IS
  'events (or whole bodies) the push receiver could not read, with the reason: the newest raydar.event_rejects_max';

CREATE TABLE raydar.event_receiver_nodes (
    cluster         text NOT NULL,
    node            text NOT NULL,
    batches         bigint NOT NULL DEFAULT 0,
    events          bigint NOT NULL DEFAULT 0,
    task_events     bigint NOT NULL DEFAULT 0,
    other_events    bigint NOT NULL DEFAULT 0,
    rejected        bigint NOT NULL DEFAULT 0,
    duplicates      bigint NOT NULL DEFAULT 0,
    last_batch_at   timestamptz,
    newest_event_at timestamptz,
    lag             interval,
    merge_lag       interval,
    PRIMARY KEY (cluster, node)
);

CREATE VIEW raydar.event_receiver_status AS
    SELECT coalesce(n.cluster, s.cluster) AS cluster, n.node, n.batches, n.events, n.task_events,
           n.other_events, n.rejected, n.duplicates, n.last_batch_at, n.newest_event_at, n.lag,
           n.merge_lag, coalesce(s.bodies, 0) AS spooled_bodies, coalesce(s.bytes, 0) AS spooled_bytes,
           s.oldest AS spooled_since
    FROM raydar.event_receiver_nodes n
    FULL JOIN (SELECT sp.cluster, count(*) AS bodies, sum(coalesce(octet_length(sp.body), 0))::bigint AS bytes,
                      min(sp.received_at) AS oldest
               FROM raydar.event_spool sp GROUP BY sp.cluster) s ON s.cluster = n.cluster;
COMMENT ON VIEW raydar.event_receiver_status IS
  'per pushed cluster and node (the reporting node id, else the sender''s address): batches and events received, task events merged, other events (jobs, actors and nodes, merged into job_history, actor_history and node_history; worker deaths, kept to mark the attempts the worker left; placement groups, worker definitions and submission jobs, counted only), rejected, duplicates, last batch time, lag (from the newest event''s timestamp to its merging), merge_lag (from the last body''s acknowledgement to its merging); and per cluster the bodies acknowledged but not yet merged (spooled_bodies, spooled_bytes, spooled_since: the oldest one''s acknowledgement)';

-- receive_events(cluster, token): accept cluster's Event Export at
-- /events/<cluster>/<token> (no token: /events/<cluster>). Returns the path.
-- SECURITY DEFINER: raydar_admin's, without privileges on event_clusters.
CREATE FUNCTION raydar.receive_events(cluster text, token text DEFAULT NULL,
                                      ray_version text DEFAULT '2.58')
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF cluster IS NULL OR cluster !~ '^[A-Za-z0-9_.-]{1,63}$' THEN
        RAISE EXCEPTION 'invalid cluster name for the push receiver: %', quote_nullable(cluster)
              USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'Use 1 to 63 letters, digits, "_", "." or "-": the name is a URL path segment.';
    END IF;
    IF token IS NOT NULL AND (length(token) < 16 OR token !~ '^[A-Za-z0-9_.~-]+$') THEN
        RAISE EXCEPTION 'the push token must be at least 16 URL-safe characters'
              USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'For example: SELECT encode(gen_random_bytes(24), ''hex''), or any 16+ letters and digits.';
    END IF;
    INSERT INTO raydar.event_clusters AS c (cluster, token_sha256, ray_version)
    VALUES (receive_events.cluster, sha256(convert_to(token, 'UTF8')), receive_events.ray_version)
    ON CONFLICT ON CONSTRAINT event_clusters_pkey DO UPDATE
        SET token_sha256 = EXCLUDED.token_sha256, ray_version = EXCLUDED.ray_version,
            registered_at = now(), registered_by = session_user;
    RETURN '/events/' || cluster || CASE WHEN token IS NULL THEN '' ELSE '/' || token END;
END;
$$;

-- stop_receiving(cluster): refuse its events from now on. Its history
-- stays; its live attempts leave task_live (no event will end them), as
-- untrack() does for a polled server, unless the poller keeps them.
-- SECURITY DEFINER, as track() and untrack(): raydar_admin runs it without
-- privileges on the tables.
CREATE FUNCTION raydar.stop_receiving(cluster text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM raydar.event_clusters c WHERE c.cluster = stop_receiving.cluster;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM raydar.tracked_servers s WHERE s.server_name::text = stop_receiving.cluster) THEN
        DELETE FROM raydar.task_live l WHERE l.cluster = stop_receiving.cluster;
    END IF;
    RETURN true;
END
$$;

REVOKE ALL ON FUNCTION raydar.receive_events(text, text, text), raydar.stop_receiving(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION raydar.receive_events(text, text, text), raydar.stop_receiving(text) TO raydar_admin;
GRANT SELECT ON raydar.event_receiver_status, raydar.event_rejects TO raydar_reader;

SELECT pg_catalog.pg_extension_config_dump('raydar.event_clusters', '');
SELECT pg_catalog.pg_extension_config_dump('raydar.event_sessions', '');
SELECT pg_catalog.pg_extension_config_dump('raydar.event_spool', '');
SELECT pg_catalog.pg_extension_config_dump('raydar.event_spool_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('raydar.event_attempts', '');
SELECT pg_catalog.pg_extension_config_dump('raydar.event_ids', '');
SELECT pg_catalog.pg_extension_config_dump('raydar.event_rejects', '');
SELECT pg_catalog.pg_extension_config_dump('raydar.event_rejects_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('raydar.event_receiver_nodes', '');
