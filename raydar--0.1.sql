/* raydar--0.1.sql: objects of raydar 0.1. */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION raydar" to load this file. \quit

COMMENT ON SCHEMA raydar IS 'raydar: Ray cluster observability in SQL';

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

-- The foreign data wrapper: live Ray state over the GCS's gRPC protocol.
CREATE FUNCTION raydar.fdw_handler()
RETURNS fdw_handler
AS 'MODULE_PATHNAME', 'raydar_fdw_handler'
LANGUAGE C STRICT;

CREATE FUNCTION raydar.fdw_validator(text[], oid)
RETURNS void
AS 'MODULE_PATHNAME', 'raydar_fdw_validator'
LANGUAGE C STRICT;

CREATE FOREIGN DATA WRAPPER raydar
  HANDLER raydar.fdw_handler
  VALIDATOR raydar.fdw_validator;

COMMENT ON FOREIGN DATA WRAPPER raydar IS 'Ray cluster state (tasks) over the GCS gRPC protocol';

-- What Ray reported about this session's last foreign scan: rows returned,
-- the GCS's counters (truncated and dropped task events mean incomplete
-- data), reply size, whether the TTL cache answered, and call time.
CREATE FUNCTION raydar.last_scan(
    OUT server text,
    OUT rows bigint,
    OUT num_total_stored bigint,
    OUT num_filtered_on_gcs bigint,
    OUT num_truncated bigint,
    OUT num_status_task_events_dropped bigint,
    OUT num_profile_task_events_dropped bigint,
    OUT reply_bytes bigint,
    OUT from_cache boolean,
    OUT call_ms double precision)
RETURNS record
AS 'MODULE_PATHNAME', 'raydar_last_scan'
LANGUAGE C STRICT VOLATILE;
