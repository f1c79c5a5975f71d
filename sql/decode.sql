-- The decoding core through SQL, over Ray's own wire vectors.
-- RAYDAR_VECTORS is the absolute path of test/fixtures/ray-wire.
\getenv vectors RAYDAR_VECTORS
SET timezone = 'UTC';

SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS raydar;
RESET client_min_messages;

CREATE TEMP TABLE replies AS
SELECT v AS profile, ver,
       pg_read_binary_file(:'vectors' || '/ray-' || v || '/get_task_events_reply.bin') AS reply
  FROM (VALUES ('2.9', '2.9.3'), ('2.35', '2.35.0'), ('2.40', '2.40.0'),
               ('2.49', '2.49.2'), ('master', '3.0.0.dev0')) AS p(v, ver);

-- Every attempt of the master vector, as SQL shows it.
SELECT left(task_id, 8) AS task, attempt_number AS att, name, state, type,
       error_type, left(error_message, 40) AS error, creation_time, end_time
  FROM replies, raydar.decode_task_events(reply, ver)
 WHERE profile = 'master'
 ORDER BY task_id, attempt_number;

-- The events column keeps every state Ray reported, in enum order.
SELECT jsonb_pretty(events) FROM replies, raydar.decode_task_events(reply, ver)
 WHERE profile = 'master' AND task_id LIKE '6cdae01a%' AND attempt_number = 1;

-- Five wire encodings (legacy fields, old and new TaskStatus numbers),
-- one cluster: every profile decodes to the same rows.
SELECT a.profile, count(*) AS rows,
       count(*) FILTER (WHERE d.state = 'FAILED') AS failed,
       count(*) FILTER (WHERE d.state = 'RUNNING') AS running
  FROM replies a, raydar.decode_task_events(a.reply, a.ver) d
 GROUP BY a.profile ORDER BY a.profile;
SELECT count(*) AS rows_differing_from_master
  FROM (SELECT d.* FROM replies a, raydar.decode_task_events(a.reply, a.ver) d
         WHERE a.profile <> 'master'
        EXCEPT
        SELECT d.* FROM replies a, raydar.decode_task_events(a.reply, a.ver) d
         WHERE a.profile = 'master') x;

-- Decoding with the wrong TaskStatus table gives other states: the
-- version matters (2.40 bytes read as 2.35: 11 is not FINISHED there).
SELECT state, count(*) FROM replies, raydar.decode_task_events(reply, '2.35.0')
 WHERE profile = '2.40' GROUP BY state ORDER BY state;

-- Bad input is an error that says what is wrong, never a crash.
SELECT * FROM raydar.decode_task_events('\x1264'::bytea, '2.40.0');
SELECT * FROM raydar.decode_task_events('\x10'::bytea, '2.40.0');
SELECT * FROM raydar.decode_task_events(''::bytea, 'not-a-version');
SELECT count(*) FROM raydar.decode_task_events(''::bytea, '2.40.0');
-- A task name that is not valid UTF-8 is shown with U+FFFD, not refused.
SELECT name, octet_length(name) FROM raydar.decode_task_events(
  '\x122b0a180000000000000000000000000000000000000000000000001a0f120d62616420fffe206e616d650078'::bytea,
  '2.49.2');
-- A GcsStatus error reply (code 34, "bad predicate") is reported as Ray's message.
SELECT * FROM raydar.decode_task_events('\x0a110822120d62616420707265646963617465'::bytea, '2.49.2');
