-- Pushdown, by Ray version. With ray_version set, planning needs no call to
-- Ray, so EXPLAIN (VERBOSE) shows exactly what would be sent.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS raydar;
RESET client_min_messages;
CREATE SERVER r29 FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:1', ray_version '2.9.3');
CREATE SERVER r240 FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:1', ray_version '2.40.0');
CREATE SERVER r249 FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:1', ray_version '2.49.2');
CREATE SCHEMA v29; CREATE SCHEMA v240; CREATE SCHEMA v249;
IMPORT FOREIGN SCHEMA ray FROM SERVER r29 INTO v29;
IMPORT FOREIGN SCHEMA ray FROM SERVER r240 INTO v240;
IMPORT FOREIGN SCHEMA ray FROM SERVER r249 INTO v249;

-- Show only the Ray lines of a plan.
CREATE FUNCTION ray_plan(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE l text;
BEGIN
  FOR l IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || q LOOP
    IF l ~ '(Ray |Filter:|Limit|Sort|Aggregate|Join|Foreign Scan)' AND l !~ 'Output:' THEN
      RETURN NEXT l;
    END IF;
  END LOOP;
END $$;

-- ids: lowercase hex of the right length is pushed, in every layout
SELECT ray_plan('SELECT * FROM v29.tasks WHERE job_id = ''01000000''');
SELECT ray_plan('SELECT * FROM v249.tasks WHERE job_id = ''01000000''');
SELECT ray_plan('SELECT * FROM v240.tasks WHERE task_id = ''05765e4c94bd52b4e587b43c4f02e1a190643f67bd588afd''
                   AND actor_id = ''9eb6d69e5ee35f626fee95a9e3756e43''');
-- ids that no row can have are never sent (the real GCS aborts on them)
SELECT ray_plan('SELECT * FROM v249.tasks WHERE job_id = ''010000''');
SELECT ray_plan('SELECT * FROM v249.tasks WHERE task_id = ''not hex''');
SELECT ray_plan('SELECT * FROM v249.tasks WHERE job_id = ''0A000000''');
SELECT count(*) FROM v249.tasks WHERE task_id = 'abc';
-- ... but <> on such a literal stays local
SELECT ray_plan('SELECT * FROM v249.tasks WHERE job_id <> ''0100''');
-- <> needs Ray 2.41+
SELECT ray_plan('SELECT * FROM v240.tasks WHERE job_id <> ''01000000''');
SELECT ray_plan('SELECT * FROM v249.tasks WHERE job_id <> ''01000000''');
-- state: exact state names only; 2.9 has no state filter
SELECT ray_plan('SELECT * FROM v29.tasks WHERE state = ''FINISHED''');
SELECT ray_plan('SELECT * FROM v240.tasks WHERE state = ''FINISHED''');
SELECT ray_plan('SELECT * FROM v240.tasks WHERE state = ''finished''');
SELECT ray_plan('SELECT * FROM v249.tasks WHERE state <> ''RUNNING''');
-- name: Ray ignores case from 2.32 on, so the match is rechecked locally;
-- names with '.' may be renamed actor tasks and stay local; <> stays local
SELECT ray_plan('SELECT * FROM v29.tasks WHERE name = ''train_shard''');
SELECT ray_plan('SELECT * FROM v249.tasks WHERE name = ''train_shard''');
SELECT ray_plan('SELECT * FROM v249.tasks WHERE name = ''Counter(3).increment''');
SELECT ray_plan('SELECT * FROM v249.tasks WHERE name <> ''train_shard''');
-- the scalar layout holds one job id: a second, different one matches nothing
SELECT ray_plan('SELECT * FROM v240.tasks WHERE job_id = ''01000000'' AND job_id = ''02000000''');
SELECT ray_plan('SELECT * FROM v240.tasks WHERE job_id = ''01000000'' AND job_id = ''01000000''');
SELECT ray_plan('SELECT * FROM v249.tasks WHERE job_id = ''01000000'' AND job_id = ''02000000''');
-- other operators and columns stay local
SELECT ray_plan('SELECT * FROM v249.tasks WHERE job_id LIKE ''01%'' AND worker_pid > 10');
SELECT ray_plan('SELECT * FROM v249.tasks WHERE job_id = ''01000000'' COLLATE "C"');

-- LIMIT: pushed only when every condition is Ray's and nothing stands
-- between the scan and the limit
SELECT ray_plan('SELECT * FROM v249.tasks LIMIT 10');
SELECT ray_plan('SELECT * FROM v249.tasks WHERE state = ''FAILED'' LIMIT 10 OFFSET 5');
SELECT ray_plan('SELECT * FROM v249.tasks WHERE worker_pid > 0 LIMIT 10');
SELECT ray_plan('SELECT * FROM v249.tasks WHERE name = ''f'' LIMIT 10');
SELECT ray_plan('SELECT * FROM v249.tasks ORDER BY end_time LIMIT 10');
SELECT ray_plan('SELECT state, count(*) FROM v249.tasks GROUP BY state LIMIT 10');
SELECT ray_plan('SELECT DISTINCT state FROM v249.tasks LIMIT 10');
SELECT ray_plan('SELECT * FROM v249.tasks a JOIN v249.tasks b USING (task_id) LIMIT 10');
SELECT ray_plan('SELECT * FROM v249.tasks LIMIT 10 OFFSET 0');
-- a query that needs only ids, states and times skips unpacking whole messages
SELECT ray_plan('SELECT state, count(*) FROM v249.tasks GROUP BY state');
SELECT ray_plan('SELECT task_id, end_time - start_time FROM v249.tasks WHERE job_id = ''01000000''');
SELECT ray_plan('SELECT name FROM v249.tasks WHERE state = ''FAILED''');
-- actors: job_id, actor_id and state = on every version
SELECT ray_plan('SELECT * FROM v29.actors WHERE job_id = ''01000000'' AND state = ''ALIVE''');
SELECT ray_plan('SELECT * FROM v249.actors WHERE state <> ''DEAD'' AND actor_id = ''9eb6d69e5ee35f626fee95a9e3756e43''');
-- nodes: no filter before 2.36; node_id and state after, in each layout
SELECT ray_plan('SELECT * FROM v29.nodes WHERE state = ''ALIVE''');
SELECT ray_plan('SELECT * FROM v240.nodes WHERE state = ''ALIVE'' AND node_id = ''f0862c4759ca9b15561201f52e295c592b2a985d6459589ae61d3e68''');
SELECT ray_plan('SELECT * FROM v249.nodes WHERE node_id = ''f0862c47''');
-- jobs: job_id = from 2.37 (PostgreSQL rechecks: the GCS also matches
-- submission ids); workers: is_alive from 2.36; placement groups: nothing
SELECT ray_plan('SELECT * FROM v29.jobs WHERE job_id = ''01000000''');
SELECT ray_plan('SELECT * FROM v249.jobs WHERE job_id = ''01000000''');
SELECT ray_plan('SELECT * FROM v29.workers WHERE is_alive');
SELECT ray_plan('SELECT * FROM v240.workers WHERE NOT is_alive');
SELECT ray_plan('SELECT * FROM v249.placement_groups WHERE state = ''CREATED''');
-- EXPLAIN without VERBOSE stays short
EXPLAIN (COSTS OFF) SELECT * FROM v249.tasks WHERE job_id = '01000000';

SET client_min_messages = warning;
DROP SCHEMA v29, v240, v249 CASCADE;
DROP SERVER r29, r240, r249;
DROP FUNCTION ray_plan(text);
