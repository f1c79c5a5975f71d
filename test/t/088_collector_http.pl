# 088_collector_http.pl
#	The collector over the dashboard (a server with dashboard_url) keeps
#	the same history as over the GCS (address), column by column, for the
#	same simulated cluster, through the fault matrix 080/081 run over gRPC:
#	the dashboard down, slow, sending bad JSON, the worker restarted, the
#	GCS restarted (task events forgotten); the dashboard's 10,000-row cap
#	is counted in collector_status; a Ray 2.58 cluster whose task events
#	bypass the GCS is reported there over gRPC and collected over HTTP.
#	The simulator's clock is driven by hand (speed 0): which attempts
#	finish when is fixed, not left to timing.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RaySim;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('collector_http');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'raydar'
raydar.database = 'postgres'
raydar.poll_interval = '200ms'
timezone = 'UTC'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION raydar');
my $q = sub { $node->safe_psql('postgres', $_[0]) };

# A server of each transport on one simulator, both tracked; live.<tag>
# holds the FDW's view through the GCS.
sub pair
{
	my ($sim, $tag, $hopts) = @_;
	my ($addr, $url) = ($sim->address, $sim->dashboard_url);
	$hopts //= '';
	$q->(qq{
		CREATE SERVER g_$tag FOREIGN DATA WRAPPER raydar OPTIONS (address '$addr' $hopts);
		CREATE SERVER h_$tag FOREIGN DATA WRAPPER raydar OPTIONS (dashboard_url '$url' $hopts);
		CREATE USER MAPPING FOR CURRENT_USER SERVER g_$tag;
		CREATE USER MAPPING FOR CURRENT_USER SERVER h_$tag;
		CREATE SCHEMA live_$tag;
		IMPORT FOREIGN SCHEMA ray LIMIT TO (tasks) FROM SERVER g_$tag INTO live_$tag;
		SELECT raydar.track('g_$tag'); SELECT raydar.track('h_$tag');});
}

# Rows of a table of one cluster, every column but the stamps, as text.
my $stamps = q{ARRAY['cluster', 'incarnation', 'ingested_at']};
sub rows_of
{
	my ($table, $cluster) = @_;
	return $q->(qq{SELECT string_agg(j::text, E'\\n' ORDER BY j::text)
	                 FROM (SELECT to_jsonb(t) - $stamps AS j FROM raydar.$table t
	                        WHERE cluster = '$cluster') s});
}
sub status { $q->("SELECT $_[1] FROM raydar.collector_status WHERE server = '$_[0]'") }
my $dups = q{SELECT count(*) - count(DISTINCT (cluster, task_id, attempt_number)) FROM raydar.task_history};

# ---------------------------------------------------------------------------
# 1. The same cluster over both transports: the same rows.
# ---------------------------------------------------------------------------
my $sim = RaySim->new(scenario => 'mixed', dashboard => 1, speed => 0, name => 'coll-http');
pair($sim, 'm');
$sim->admin('POST', '/advance', { ms => 1500 });
my $terminal_q = q{SELECT count(*) FROM live_m.tasks WHERE state IN ('FINISHED', 'FAILED')};
my $live_q = q{SELECT count(*) FROM live_m.tasks WHERE state NOT IN ('FINISHED', 'FAILED')};
my ($t1, $l1) = ($q->($terminal_q), $q->($live_q));
cmp_ok($t1, '>', 0, "$t1 attempts finished");
cmp_ok($l1, '>', 0, "$l1 attempts pending or running");
my $caught_up = sub {
	my ($t, $l) = @_;
	return $node->poll_query_until('postgres', qq{
		SELECT bool_and(h = $t AND l = $l) FROM (
		  SELECT (SELECT count(*) FROM raydar.task_history WHERE cluster = s) h,
		         (SELECT count(*) FROM raydar.task_live WHERE cluster = s) l
		    FROM unnest(ARRAY['g_m', 'h_m']) s) x});
};
ok($caught_up->($t1, $l1), 'both servers hold every finished attempt in history, the rest in task_live');
is(rows_of('task_history', 'h_m'), rows_of('task_history', 'g_m'),
   'task_history over HTTP equals task_history over gRPC, every column');
is(rows_of('task_live', 'h_m'), rows_of('task_live', 'g_m'), 'task_live too');
like(status('h_m', 'incarnation'), qr/^session_/, "over HTTP the incarnation is the dashboard's session_name");
ok($node->poll_query_until('postgres', q{
	SELECT (SELECT count(*) FROM raydar.job_history WHERE cluster = 'h_m')
	     = (SELECT count(*) FROM raydar.job_history WHERE cluster = 'g_m')
	   AND (SELECT count(*) FROM raydar.node_history WHERE cluster = 'h_m')
	     = (SELECT count(*) FROM raydar.node_history WHERE cluster = 'g_m')
	   AND (SELECT count(*) FROM raydar.actor_history WHERE cluster = 'h_m')
	     = (SELECT count(*) FROM raydar.actor_history WHERE cluster = 'g_m')
	   AND (SELECT count(*) FROM raydar.actor_history WHERE cluster = 'h_m') > 0}),
   'jobs, nodes and actors over HTTP: as many as over gRPC');
is($q->(q{SELECT count(*) FROM (
	SELECT actor_id, state, class_name, job_id FROM raydar.actor_history WHERE cluster = 'h_m'
	EXCEPT SELECT actor_id, state, class_name, job_id FROM raydar.actor_history WHERE cluster = 'g_m') d}),
   '0', 'with the same values where the dashboard carries them');
is($q->(q{SELECT count(*) FROM raydar.actor_history WHERE cluster = 'h_m' AND worker_id IS NOT NULL}),
   '0', 'and NULL where it does not (actor worker_id)');

# ---------------------------------------------------------------------------
# 2. The dashboard down while the cluster runs: failures counted, then
# every attempt that finished meanwhile, once.
# ---------------------------------------------------------------------------
$sim->fault(mode => 'http_unavailable');
ok($node->poll_query_until('postgres',
	q{SELECT consecutive_failures >= 2 AND last_error LIKE '%dashboard%' FROM raydar.collector_status WHERE server = 'h_m'}),
   'the dashboard down: failures counted, the status says why');
my $err_rows = $q->(q{SELECT count(*) FROM raydar.collector_errors WHERE server = 'h_m'});
cmp_ok($err_rows, '<', status('h_m', 'consecutive_failures'), 'a repeated failure is written once');
$sim->admin('POST', '/advance', { ms => 600000 });
my ($t2, $l2) = ($q->($terminal_q), $q->($live_q));
cmp_ok($t2, '>', $t1, "meanwhile $t2 attempts finished in all");
is($q->(q{SELECT count(*) FROM raydar.task_history WHERE cluster = 'h_m'}), $t1, 'history unchanged while down');
$sim->fault(mode => 'none');
ok($caught_up->($t2, $l2), 'back up: every attempt that finished meanwhile reached history');
is(rows_of('task_history', 'h_m'), rows_of('task_history', 'g_m'), 'still equal to gRPC, every column');
is($q->($dups), '0', 'no duplicate');
is(status('h_m', q{consecutive_failures || ' ' || (last_error IS NULL) || ' ' || tasks_ingested || ' ' || vanished || ' ' || cap_hidden || ' ' || (last_warning IS NULL)}),
   "0 true $t2 0 0 true", 'status: recovered, each attempt counted once, nothing vanished or hidden');

# ---------------------------------------------------------------------------
# 3. Slow, then too slow; bad JSON: failures that say so, never a stuck
# or dead worker, nothing lost or doubled.
# ---------------------------------------------------------------------------
my $hpid = sub { $q->(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'raydar collector' AND application_name = 'raydar collector h_m'}) };
my $pid = $hpid->();
$sim->fault(mode => 'http_slow', delay_ms => 400);
my $t_slow = $q->('SELECT now()');
ok($node->poll_query_until('postgres', qq{SELECT last_success_at > '$t_slow' FROM raydar.collector_status WHERE server = 'h_m'}),
   'a slow dashboard is waited for');
$q->(q{ALTER SERVER h_m OPTIONS (ADD timeout_ms '150')});
ok($node->poll_query_until('postgres',
	q{SELECT consecutive_failures >= 1 AND last_error LIKE '%did not answer in time%' FROM raydar.collector_status WHERE server = 'h_m'}),
   'slower than timeout_ms: a failure that says so');
$q->(q{ALTER SERVER h_m OPTIONS (DROP timeout_ms)});
$sim->fault(mode => 'garbage_json', bytes => 300, seed => 7);
ok($node->poll_query_until('postgres',
	q{SELECT consecutive_failures >= 1 AND last_error LIKE '%cannot read%' FROM raydar.collector_status WHERE server = 'h_m'}),
   'bad JSON: a failure that says so');
my $before = status('h_m', 'consecutive_failures');
$sim->fault(mode => 'truncated_json');
ok($node->poll_query_until('postgres',
	qq{SELECT consecutive_failures >= $before + 2 AND last_error LIKE '%cannot read%' FROM raydar.collector_status WHERE server = 'h_m'}),
   'cut JSON: a failure that says so');
$sim->fault(mode => 'none');
ok($node->poll_query_until('postgres', q{SELECT consecutive_failures = 0 FROM raydar.collector_status WHERE server = 'h_m'}),
   'then it recovers');
is($hpid->(), $pid, 'the same worker: bad replies did not kill it');
is($q->(q{SELECT count(*) FROM raydar.task_history WHERE cluster = 'h_m'}), $t2, 'history unchanged');

# ---------------------------------------------------------------------------
# 4. The worker restarted, then the GCS restarted (it forgets every task
# event): nothing written twice, the live attempts counted as vanished.
# ---------------------------------------------------------------------------
$q->("SELECT pg_terminate_backend($pid)");
ok($node->poll_query_until('postgres', qq{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE application_name = 'raydar collector h_m' AND pid <> $pid}), 'the terminated worker restarts');
ok($node->poll_query_until('postgres', q{SELECT last_success_at > now() - interval '300 ms' FROM raydar.collector_status WHERE server = 'h_m'}),
   'and polls');
is($q->(q{SELECT count(*) FROM raydar.task_history WHERE cluster = 'h_m'}) . ' ' . $q->($dups) . ' ' . status('h_m', 'tasks_ingested'),
   "$t2 0 $t2", 'after the restart: same history, no duplicate, nothing counted twice');
my $was_live = $q->(q{SELECT count(*) FROM raydar.task_live WHERE cluster = 'h_m'});
is($was_live, $l2, "$was_live attempts live before the GCS restart");
$sim->restart;
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM raydar.task_live WHERE cluster = 'h_m'}),
   'Ray forgot its tasks, and task_live follows');
ok($node->poll_query_until('postgres', qq{SELECT vanished = $was_live FROM raydar.collector_status WHERE server = 'h_m'}),
   'the live attempts Ray forgot are counted as vanished, as over gRPC');
ok($node->poll_query_until('postgres', qq{SELECT vanished = $was_live FROM raydar.collector_status WHERE server = 'g_m'}),
   'gRPC counts the same number');
is($q->(q{SELECT count(*) FROM raydar.task_history WHERE cluster = 'h_m'}), $t2, 'history outlives the restart');
is(rows_of('task_history', 'h_m'), rows_of('task_history', 'g_m'), 'and still equals gRPC, every column');
$q->(q{SELECT raydar.untrack('g_m'), raydar.untrack('h_m')});	# free their workers
$sim->stop;

# ---------------------------------------------------------------------------
# 5. The dashboard's cap: 10,050 attempts of one job; a poll sees 10,000,
# and collector_status counts the rest, exactly, once told in collector_errors.
# ---------------------------------------------------------------------------
my $cap = RaySim->new(profile => '2.9', scenario => 'many', scenario_params => { count => 10050 },
					  dashboard => 1, name => 'coll-cap');
pair($cap, 'c', ", ray_version '2.9.3'");
my $all = $q->('SELECT count(*) FROM live_c.tasks');
cmp_ok($all, '>', 10000, "$all attempts in the GCS");
ok($node->poll_query_until('postgres', q{SELECT last_success_at IS NOT NULL FROM raydar.collector_status WHERE server = 'h_c'}),
   'the capped server is polled');
# Ray's dashboard (up to 2.40) counts its total as stored + dropped, and the
# GCS counts the attempts its own limit cut as dropped: the number hidden is
# Ray's count, the one the FDW reports in last_scan(), at least the truth.
$q->(q{CREATE SCHEMA fdw_c; IMPORT FOREIGN SCHEMA ray LIMIT TO (tasks) FROM SERVER h_c INTO fdw_c});
my $fdw_cut = (split /\n/, $q->(q{SET client_min_messages = error; SELECT count(*) FROM fdw_c.tasks;
	SELECT num_truncated FROM raydar.last_scan()}))[1];
cmp_ok($fdw_cut, '>=', $all - 10000, "the FDW over the dashboard counts $fdw_cut attempts cut");
is(status('h_c', 'cap_hidden'), $fdw_cut, 'cap_hidden: the attempts the cap hid, as the FDW counts them');
like(status('h_c', 'last_warning'), qr/^the Ray dashboard's cap of 10000 rows per request hid $fdw_cut task attempts from this poll/,
	 'last_warning says so');
is($q->(q{SELECT (SELECT count(*) FROM raydar.task_history WHERE cluster = 'h_c')
              + (SELECT count(*) FROM raydar.task_live WHERE cluster = 'h_c')}), '10000',
   'history and task_live hold the 10,000 rows the dashboard returned');
is($q->(q{SELECT count(*) FROM (SELECT task_id, attempt_number, end_time FROM raydar.task_history WHERE cluster = 'h_c'
	EXCEPT SELECT task_id, attempt_number, end_time FROM live_c.tasks) d}), '0', 'each of them one the GCS holds');
sleep 1;
is($q->(q{SELECT count(*) FROM raydar.collector_errors WHERE server = 'h_c' AND message LIKE '%cap%'}), '1',
   'the warning is written to collector_errors once, not at every poll');
is(status('h_c', 'consecutive_failures || \' \' || vanished'), '0 0', 'the cap is not a failure, nor a loss of live attempts');
is(status('g_c', 'cap_hidden || \' \' || (last_warning IS NULL)'), '0 true', 'over gRPC no cap');
$q->(q{SELECT raydar.untrack('g_c'), raydar.untrack('h_c')});
$cap->stop;

# ---------------------------------------------------------------------------
# 6. Ray 2.58 with task events sent to the event aggregator, not the GCS:
# the gRPC server reports it in collector_status, the dashboard collects.
# ---------------------------------------------------------------------------
my $ev = RaySim->new(profile => '2.58', scenario => 'classic', dashboard => 1, speed => 0, name => 'coll-ev');
$ev->admin('POST', '/ray_event', { enabled => 1 });
$ev->admin('POST', '/advance', { ms => 600000 });
pair($ev, 'e');
ok($node->poll_query_until('postgres', q{SELECT last_warning LIKE '%but its GCS holds no task events%' FROM raydar.collector_status WHERE server = 'g_e'}),
   'gRPC: collector_status says the task events bypass the GCS');
is(status('g_e', 'consecutive_failures || \' \' || tasks_ingested'), '0 0', 'a poll that works, with nothing to collect');
is($q->(q{SELECT count(*) FROM raydar.collector_errors WHERE server = 'g_e' AND message LIKE '%RAY_enable_ray_event%'}), '1',
   'and collector_errors keeps it once');
ok($node->poll_query_until('postgres', q{SELECT tasks_ingested >= 100 AND last_warning IS NULL FROM raydar.collector_status WHERE server = 'h_e'}),
   'HTTP: the dashboard still lists the tasks, and the collector keeps them');
$ev->stop;

unlike(slurp_file($node->logfile), qr/terminated by signal (?!9)|TRAP:|PANIC/, 'no crash');
$node->stop;
done_testing();
