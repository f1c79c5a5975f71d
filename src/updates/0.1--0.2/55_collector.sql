-- 55_collector.sql: the collector polls either transport (issue 13) and
-- says what a successful poll found amiss (issue 16): rows the dashboard's
-- cap hid, task events that do not reach the GCS.
ALTER TABLE raydar.collector_status
    ADD COLUMN cap_hidden bigint NOT NULL DEFAULT 0,
    ADD COLUMN last_warning text;
COMMENT ON COLUMN raydar.collector_status.cap_hidden IS
  'for a server with dashboard_url: task attempts the dashboard''s cap of 10,000 rows per request hid from the last successful poll (0 over gRPC)';
COMMENT ON COLUMN raydar.collector_status.last_warning IS
  'what the last successful poll found amiss though it worked: rows hidden by the dashboard''s cap, or a cluster whose task events do not reach the GCS (Ray 2.58+); NULL when none';
