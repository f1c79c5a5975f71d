# 080_collector.pl
#	The collector keeps every finished task attempt exactly once, through
#	worker restarts, a crash, a simulator restart that loses all task
#	events, an outage and malformed replies; its status tells the truth.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RaySim;
use Test::More;

my $sim = RaySim->new(scenario => 'classic', speed => 10, name => 'collector');
my $node = PostgreSQL::Test::Cluster->new('collector');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'raydar'
raydar.database = 'postgres'
raydar.poll_interval = '200ms'
restart_after_crash = on
timezone = 'UTC'
});
$node->start;
my $port = $sim->grpc_port;
# A dashboard listening for progress before anything is tracked.
my $listener = $node->background_psql('postgres');
$listener->query_safe('LISTEN raydar_progress');
$node->safe_psql('postgres', qq{
	CREATE EXTENSION raydar;
	CREATE SERVER ray FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:$port');
	CREATE USER MAPPING FOR CURRENT_USER SERVER ray;
	CREATE SCHEMA live;
	IMPORT FOREIGN SCHEMA ray LIMIT TO (tasks, nodes, jobs, actors) FROM SERVER ray INTO live;
	SELECT raydar.track('ray');});

ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'raydar collector'}),
   'the collector runs, visible in pg_stat_activity');

# Wait for Ray's classic example (100 tasks) to finish, then for history.
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 0 FROM live.tasks WHERE type <> 'DRIVER_TASK' AND state NOT IN ('FINISHED', 'FAILED')}),
   'the example finished in the simulator');
my $terminal = $node->safe_psql('postgres',
	q{SELECT count(*) FROM live.tasks WHERE state IN ('FINISHED', 'FAILED')});
cmp_ok($terminal, '>=', 100, "$terminal terminal attempts in Ray");
ok($node->poll_query_until('postgres', "SELECT count(*) = $terminal FROM raydar.task_history"),
   'every terminal attempt reached task_history');

# NOTIFY raydar_progress after each batch, naming the jobs that moved
# (psql shows notifications that arrived while idle after its next query).
{
	my ($out) = RaySim::session_query($listener, 'SELECT 1');
	my @payloads = $out =~ /Asynchronous notification "raydar_progress" with payload "(.*?)" received/g;
	my $jobs = $node->safe_psql('postgres', q{SELECT string_agg(DISTINCT job_id, '", "') FROM raydar.tasks});
	cmp_ok(scalar(@payloads), '>=', 1, 'NOTIFY raydar_progress reached a listener: ' . scalar(@payloads) . ' notifications');
	is_deeply([ sort { $a cmp $b } keys %{ { map { $_ => 1 } @payloads } } ],
			  [qq({"cluster": "ray", "jobs": ["$jobs"], "all": false})],
			  'each payload names the cluster and the job that progressed');
	$listener->quit;
}

my $cols = 'task_id, attempt_number, name, state, job_id, type, error_type, error_message, node_id, '
  . 'worker_id, worker_pid, required_resources, events, profiling_data, creation_time, start_time, end_time';
is($node->safe_psql('postgres', qq{
	SELECT count(*) FROM (
	  (SELECT $cols FROM raydar.task_history EXCEPT
	   SELECT $cols FROM live.tasks WHERE state IN ('FINISHED', 'FAILED'))
	  UNION ALL
	  (SELECT $cols FROM live.tasks WHERE state IN ('FINISHED', 'FAILED') EXCEPT
	   SELECT $cols FROM raydar.task_history)) d}), '0',
   'history holds exactly what Ray shows for those attempts, every column');
is($node->safe_psql('postgres', q{SELECT count(DISTINCT cluster) || ' ' || min(cluster) FROM raydar.task_history}),
   '1 ray', 'stamped with the cluster');
is($node->safe_psql('postgres', q{
	SELECT tasks_ingested || ' ' || consecutive_failures || ' ' || (last_success_at IS NOT NULL)
	  FROM raydar.collector_status WHERE server = 'ray'}), "$terminal 0 true",
   'status: every attempt counted once, no failure');

my $dups = q{SELECT count(*) - count(DISTINCT (cluster, task_id, attempt_number)) FROM raydar.task_history};

# task_live: the attempts Ray has not finished (here the driver), and the
# raydar.tasks view over both, one row per attempt.
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = (SELECT count(*) FROM live.tasks WHERE state NOT IN ('FINISHED', 'FAILED'))
	  FROM raydar.task_live}),
   'task_live holds the attempts not yet finished');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT task_id, attempt_number, state FROM raydar.task_live
	                      EXCEPT SELECT task_id, attempt_number, state FROM live.tasks
	                       WHERE state NOT IN ('FINISHED', 'FAILED')) d}), '0',
   'with the states Ray shows');
is($node->safe_psql('postgres', q{
	SELECT count(*) || ' ' || count(DISTINCT (task_id, attempt_number)) || ' ' || count(*) FILTER (WHERE live)
	  FROM raydar.tasks}),
   ($terminal + 1) . ' ' . ($terminal + 1) . ' 1',
   'raydar.tasks: history and live, one row per attempt');

# Jobs, actors and nodes: the latest row per id, the same as Ray shows.
ok($node->poll_query_until('postgres', q{
	SELECT (SELECT count(*) FROM raydar.node_history) = (SELECT count(*) FROM live.nodes)
	   AND (SELECT count(*) FROM raydar.job_history) = (SELECT count(*) FROM live.jobs)
	   AND (SELECT count(*) FROM raydar.actor_history) = (SELECT count(*) FROM live.actors)
	   AND (SELECT count(*) FROM live.nodes) > 0}),
   'node, job and actor history hold what Ray shows');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT node_id, state, node_ip FROM raydar.node_history
	                      EXCEPT SELECT node_id, state, node_ip FROM live.nodes) d}), '0',
   'node history rows equal the live ones');

# 1. The worker is stopped and comes back: nothing is written twice.
my $pid = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'raydar collector'});
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'raydar collector' AND pid <> $pid"),
   'terminated worker restarts');
sleep 1;
is($node->safe_psql('postgres', 'SELECT count(*) FROM raydar.task_history'), $terminal, 'after restart: same count');
is($node->safe_psql('postgres', $dups), '0', 'after restart: no duplicate');
is($node->safe_psql('postgres', q{SELECT tasks_ingested FROM raydar.collector_status}), $terminal,
   'after restart: the status does not count re-seen attempts');

# 2. kill -9 of the worker: PostgreSQL recovers, history is intact.
$pid = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'raydar collector'});
kill 'KILL', $pid;
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'raydar collector' AND pid <> $pid"),
   'after kill -9 and crash recovery the worker is back');
sleep 1;
is($node->safe_psql('postgres', 'SELECT count(*) FROM raydar.task_history'), $terminal, 'after kill -9: same count');
is($node->safe_psql('postgres', $dups), '0', 'after kill -9: no duplicate');

# 3. An immediate PostgreSQL restart.
$node->restart(mode => 'immediate');
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'raydar collector'}),
   'after an immediate restart the worker is back');
sleep 1;
is($node->safe_psql('postgres', 'SELECT count(*) FROM raydar.task_history'), $terminal,
   'after an immediate restart: same count');

# 4. The GCS restarts and forgets every task event: history outlives it.
# The attempts that were still running are lost, and the status says so
# (counted by a worker that started after they were seen live).
my $was_live = $node->safe_psql('postgres', 'SELECT count(*) FROM raydar.task_live');
cmp_ok($was_live, '>', 0, 'some attempts were live before the GCS restart');
is($node->safe_psql('postgres', 'SELECT vanished FROM raydar.collector_status'), '0',
   'nothing vanished through worker and PostgreSQL restarts');
$sim->restart;
is($node->safe_psql('postgres', 'SELECT count(*) FROM live.tasks'), '0', 'Ray forgot its tasks');
ok($node->poll_query_until('postgres', 'SELECT count(*) = 0 FROM raydar.task_live'),
   'and task_live follows');
is($node->safe_psql('postgres', 'SELECT vanished FROM raydar.collector_status'), $was_live,
   'the live attempts Ray forgot are counted as vanished');
is($node->safe_psql('postgres',
	qq{SELECT count(*) FROM raydar.collector_errors WHERE message LIKE '$was_live task attempts seen pending or running vanished from the GCS before finishing%'}),
   '1', 'and collector_errors says why');
sleep 1;
is($node->safe_psql('postgres', 'SELECT count(*) FROM raydar.task_history'), $terminal,
   'history still has every attempt');
is($node->safe_psql('postgres', q{SELECT consecutive_failures FROM raydar.collector_status}), '0',
   'and polling an empty GCS is not a failure');

# 5. An outage: failures are counted and explained, then it recovers.
$sim->fault(mode => 'unavailable');
ok($node->poll_query_until('postgres',
	q{SELECT consecutive_failures >= 2 AND last_error LIKE '%could not connect to Ray GCS%' FROM raydar.collector_status}),
   'while Ray is down the status counts failures and says why');
ok($node->poll_query_until('postgres', q{SELECT consecutive_failures >= 3 FROM raydar.collector_status}),
   'more failures');
is($node->safe_psql('postgres', q{
	SELECT count(*) BETWEEN 1 AND min(s.consecutive_failures) - 1
	  FROM raydar.collector_errors e, raydar.collector_status s
	 WHERE e.server = 'ray' AND e.message LIKE '%could not connect to Ray GCS%'}),
   't', 'the error is kept, but a repeated one is counted, not written again');
$sim->fault(mode => 'none');
ok($node->poll_query_until('postgres', q{SELECT consecutive_failures = 0 AND last_error IS NULL FROM raydar.collector_status}),
   'after the outage it recovers');

# 5b. Slow replies: a slow GCS is waited for within timeout_ms, a slower
# one is a recorded failure, never a stuck worker; nothing is lost.
$sim->fault(mode => 'slow', delay_ms => 700);
my $t_slow = $node->safe_psql('postgres', 'SELECT now()');
# The first success after the fault may be a poll begun before it; the
# next one was slow from its start, so it comes at least 700 ms later.
ok($node->poll_query_until('postgres',
	qq{SELECT last_success_at > '$t_slow' FROM raydar.collector_status}),
   'a poll completes after the GCS turned slow');
my $t_first = $node->safe_psql('postgres', 'SELECT last_success_at FROM raydar.collector_status');
ok($node->poll_query_until('postgres',
	qq{SELECT last_success_at > '$t_first' AND consecutive_failures = 0 FROM raydar.collector_status}),
   'replies slower than the poll interval still succeed');
cmp_ok($node->safe_psql('postgres',
	qq{SELECT extract(epoch FROM last_success_at - '$t_first') * 1000 FROM raydar.collector_status}),
	'>=', 700, 'and that poll waited for the slow replies');
$node->safe_psql('postgres', q{ALTER SERVER ray OPTIONS (ADD timeout_ms '200')});
ok($node->poll_query_until('postgres',
	q{SELECT consecutive_failures >= 1 AND last_error LIKE '%did not answer in time%' FROM raydar.collector_status}),
   'a reply slower than timeout_ms is a failure that says so');
$node->safe_psql('postgres', q{ALTER SERVER ray OPTIONS (DROP timeout_ms)});
$sim->fault(mode => 'none');
ok($node->poll_query_until('postgres', q{SELECT consecutive_failures = 0 FROM raydar.collector_status}),
   'then it recovers');
is($node->safe_psql('postgres', 'SELECT count(*) FROM raydar.task_history'), $terminal,
   'slow replies: history unchanged');

# 6. Malformed replies: a failure, not a crash.
$pid = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'raydar collector'});
$sim->fault(mode => 'malformed', kind => 'garbage');
ok($node->poll_query_until('postgres',
	q{SELECT consecutive_failures >= 1 AND last_error LIKE '%cannot read%' FROM raydar.collector_status}),
   'a malformed reply is recorded');
$sim->fault(mode => 'none');
ok($node->poll_query_until('postgres', q{SELECT consecutive_failures = 0 FROM raydar.collector_status}),
   'then it recovers');
is($node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'raydar collector'}),
   $pid, 'the same worker: bad replies did not kill it');
is($node->safe_psql('postgres', 'SELECT count(*) FROM raydar.task_history'), $terminal, 'history unchanged');

# 7. raydar.collector = off stops polling; untrack forgets the server.
my $gte = sub { scalar grep { $_->{method} =~ /GetTaskEvents/ } @{ $sim->requests } };
$node->safe_psql('postgres', q{ALTER SYSTEM SET raydar.collector = off; SELECT pg_reload_conf()});
sleep 1;
$sim->clear_requests;
sleep 1;
is($gte->(), 0, 'with raydar.collector = off nothing is polled');
$node->safe_psql('postgres', q{ALTER SYSTEM RESET raydar.collector; SELECT pg_reload_conf()});
ok($node->poll_query_until('postgres', q{SELECT last_poll_at > now() - interval '1 second' FROM raydar.collector_status}),
   'on again, it polls');
$node->safe_psql('postgres', q{SELECT raydar.untrack('ray')});
is($node->safe_psql('postgres', 'SELECT count(*) FROM raydar.collector_status'), '0', 'untracked: no status row');
sleep 1;
$sim->clear_requests;
sleep 1;
is($gte->(), 0, 'untracked: no more polls');
is($node->safe_psql('postgres', 'SELECT count(*) FROM raydar.task_history'), $terminal, 'untracked: history stays');

# Tracked again (even between two polls), a server starts afresh: history
# emptied behind the worker's back is filled again from what Ray holds.
$sim->restart;
$sim->admin('POST', '/scenario', { name => 'vectors' });
my $vec = $node->safe_psql('postgres',
	q{SELECT count(*) FROM live.tasks WHERE state IN ('FINISHED', 'FAILED')});
cmp_ok($vec, '>', 0, "the simulator now holds $vec terminal attempts");
$node->safe_psql('postgres', q{SELECT raydar.track('ray')});
ok($node->poll_query_until('postgres', "SELECT count(*) = $terminal + $vec FROM raydar.task_history"),
   'tracked again: the new attempts are collected');
# From here polls are an hour apart: what follows a track() is the poll
# that track() itself asks for when it commits.
$node->safe_psql('postgres', q{ALTER SYSTEM SET raydar.poll_interval = '1h'; SELECT pg_reload_conf()});
sleep 1;
my $t_track = time;
$node->safe_psql('postgres', q{
	SELECT raydar.untrack('ray'); DELETE FROM raydar.task_history; SELECT raydar.track('ray');});
ok($node->poll_query_until('postgres', "SELECT count(*) = $vec FROM raydar.task_history"),
   'untracked, emptied and tracked again at once: everything Ray holds is written again');
cmp_ok(time - $t_track, '<', 60, 'track() woke the collector: no wait for the hour-long interval');
is($node->safe_psql('postgres', $dups), '0', 'still no duplicate');

# A reply that names every attempt twice (well formed): written once,
# through the bulk path of a first track and into task_live alike.
$sim->fault(mode => 'malformed', kind => 'repeat_entries');
$node->safe_psql('postgres', q{
	SELECT raydar.untrack('ray'); DELETE FROM raydar.task_history; SELECT raydar.track('ray');});
ok($node->poll_query_until('postgres', qq{
	SELECT count(*) = $vec FROM raydar.task_history}),
   'repeated entries: every attempt written');
ok($node->poll_query_until('postgres', q{
	SELECT consecutive_failures = 0 AND last_success_at IS NOT NULL AND last_error IS NULL
	  FROM raydar.collector_status}),
   'repeated entries: polls succeed');
is($node->safe_psql('postgres', $dups), '0', 'repeated entries: no duplicate');
my $live_now = $node->safe_psql('postgres',
	q{SELECT count(*) FROM (SELECT DISTINCT task_id, attempt_number FROM live.tasks
	                        WHERE state NOT IN ('FINISHED', 'FAILED')) l});
cmp_ok($live_now, '>', 0, "$live_now attempts are live");
ok($node->poll_query_until('postgres', "SELECT count(*) = $live_now FROM raydar.task_live"),
   'repeated entries: each live attempt once in task_live');
is($node->safe_psql('postgres', q{SELECT tasks_ingested FROM raydar.collector_status}), $vec,
   'repeated entries: each attempt counted once');
$sim->fault(mode => 'none');

my ($rc, $out, $err) = $node->psql('postgres', q{SELECT raydar.track('nope')});
like($err, qr/there is no raydar server named nope/, 'tracking an unknown server is refused');
unlike(slurp_file($node->logfile), qr/raydar collector.*terminated by signal (?!9)/,
	   'the worker never crashed on its own');

$node->stop;
done_testing();
