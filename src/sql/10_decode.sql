-- 10_decode.sql: the decoding core as SQL functions.

-- The Ray wire layer this build speaks, for bug reports and support.
CREATE FUNCTION raydar.build_info(
    OUT extension_version text,
    OUT protobuf_c_version text,
    OUT oldest_ray_version text,
    OUT newest_ray_layout text)
RETURNS record
AS 'MODULE_PATHNAME', 'raydar_build_info'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

-- Decode an encoded GetTaskEventsReply as a server of ray_version would
-- have meant it: the PostgreSQL face of the decoding core, for tests and
-- for debugging captured replies. One row per task attempt.
CREATE FUNCTION raydar.decode_task_events(
    reply bytea,
    ray_version text,
    OUT task_id text,
    OUT attempt_number integer,
    OUT name text,
    OUT state text,
    OUT job_id text,
    OUT type text,
    OUT error_type text,
    OUT error_message text,
    OUT creation_time timestamptz,
    OUT start_time timestamptz,
    OUT end_time timestamptz,
    OUT events jsonb)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'raydar_decode_task_events'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

