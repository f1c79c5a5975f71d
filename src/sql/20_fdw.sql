-- 20_fdw.sql: the foreign data wrapper and its scan counters.

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
