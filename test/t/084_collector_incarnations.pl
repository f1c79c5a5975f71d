# 084_collector_incarnations.pl
#	A cluster started anew reuses task and job ids (Ray derives them from
#	the job id, which restarts at 01000000). The collector tells the runs
#	apart by the GCS's cluster id (GetClusterId): both runs are kept whole,
#	never merged; job_progress has a row per incarnation; metadata attaches
#	to one run; answers ask which run is meant; a GCS restart (same cluster
#	id) is not a new incarnation.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RaySim;
use Test::More;

my %params = (count => 30, fail_rate => 0.2);
my $sim = RaySim->new(scenario => 'classic', scenario_params => \%params, speed => 0,
	name => 'incarnations');
my $node = PostgreSQL::Test::Cluster->new('incarnations');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'raydar'
raydar.database = 'postgres'
raydar.poll_interval = '200ms'
timezone = 'UTC'
});
$node->start;
my $addr = $sim->address;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION raydar;
	CREATE SERVER ray FOREIGN DATA WRAPPER raydar OPTIONS (address '$addr');
	CREATE USER MAPPING FOR CURRENT_USER SERVER ray;
	CREATE SCHEMA live;
	IMPORT FOREIGN SCHEMA ray LIMIT TO (tasks, jobs) FROM SERVER ray INTO live;
	SELECT raydar.track('ray');});
my $q = sub { $node->safe_psql('postgres', $_[0]) };
my $terminal_q = q{SELECT count(*) FROM live.tasks WHERE state IN ('FINISHED', 'FAILED')};

# First run: the whole example.
$sim->admin('POST', '/advance', { ms => 60000 });
my $n = $q->($terminal_q);
cmp_ok($n, '>=', 30, "first run: $n terminal attempts");
ok($node->poll_query_until('postgres', "SELECT count(*) = $n FROM raydar.task_history"),
   'first run collected');
my $inc1 = $q->(q{SELECT incarnation FROM raydar.collector_status});
like($inc1, qr/^[0-9a-f]{56}$/, 'the incarnation is the GCS cluster id: 28 bytes, hex');
is($q->(q{SELECT count(*) FROM raydar.task_history WHERE incarnation <> '} . $inc1 . q{'}), '0',
   'every row is stamped with it');
ok($node->poll_query_until('postgres', qq{SELECT count(*) > 0 FROM raydar.job_history WHERE incarnation = '$inc1'}),
   'job history too');
my @ids1 = split /\n/, $q->(q{SELECT task_id || ':' || attempt_number FROM raydar.task_history ORDER BY 1});
my $task = (split /:/, $ids1[0])[0];
$q->(qq{INSERT INTO raydar.task_metadata (task_id, metadata) VALUES ('$task', '{"run": 1}')});
is($q->(q{SELECT cluster || ' ' || incarnation FROM raydar.task_metadata}), "ray $inc1",
   'metadata attaches to the run that has the task');

# The cluster is made again: same driver, same seed, so the same ids.
my $t_recreate = $q->('SELECT now()');
$sim->admin('POST', '/scenario', { name => 'classic', params => \%params });
$sim->admin('POST', '/advance', { ms => 60000 });
is($q->($terminal_q), $n, 'second run: as many terminal attempts');
is(join("\n", split /\n/, $q->(q{SELECT task_id || ':' || attempt_number FROM live.tasks
                                  WHERE state IN ('FINISHED', 'FAILED') ORDER BY 1})),
   join("\n", @ids1), 'with the very same task ids and attempts');
ok($node->poll_query_until('postgres', "SELECT count(*) = 2 * $n FROM raydar.task_history"),
   'both runs are kept: nothing skipped as already seen');
my $inc2 = $q->(q{SELECT incarnation FROM raydar.collector_status});
like($inc2, qr/^[0-9a-f]{56}$/, 'a new incarnation');
isnt($inc2, $inc1, 'another than the first');
is($q->(q{SELECT string_agg(c::text, ',' ORDER BY c) FROM (SELECT count(*) AS c FROM raydar.task_history GROUP BY incarnation) x}),
   "$n,$n", "$n rows in each incarnation");
is($q->(q{SELECT count(DISTINCT (task_id, attempt_number)) FROM raydar.task_history}), $n,
   'the same keys in both');
is($q->(qq{SELECT count(*) FROM raydar.collector_errors
            WHERE message = 'the cluster started anew: incarnation $inc2 follows $inc1; history keeps both apart'}),
   '1', 'collector_errors says the cluster started anew');
is($q->(qq{SELECT incarnation_since > '$t_recreate' FROM raydar.collector_status}), 't',
   'collector_status: since when');

# Answers: one job per incarnation, never merged.
my $tasks1 = $q->(qq{SELECT count(DISTINCT task_id) FROM raydar.task_history
                      WHERE incarnation = '$inc1' AND type <> 'DRIVER_TASK'});
is($q->(q{SELECT count(*) || ' ' || count(DISTINCT incarnation) || ' ' || sum(total) || ' ' || min(total)
            FROM raydar.job_progress WHERE job_id = '01000000'}),
   '2 2 ' . (2 * $tasks1) . " $tasks1", 'job_progress: a row per incarnation of the job, each with its own tasks');
is($q->(q{SELECT count(*) FROM raydar.task_summary WHERE job_id = '01000000' AND type = 'NORMAL_TASK'}), '2',
   'task_summary: a row per incarnation');
my ($rc, $out, $err) = $node->psql('postgres', q{SELECT raydar.task_graph_dot('01000000')});
like($err, qr/job '01000000' ran in more than one incarnation of cluster 'ray': /, 'an ambiguous job id is an error');
like($err, qr/HINT:  Ray reuses job ids when a cluster is started anew\. Name the incarnation: incarnation => '$inc2'/,
	 'whose hint names the current incarnation');
like($q->(qq{SELECT raydar.task_graph_dot('01000000', incarnation => '$inc2')}), qr/^digraph /,
	 'named, the incarnation answers');
is($q->(qq{SELECT count(*) FROM raydar.critical_path('01000000', 'ray', '$inc1')}) > 0 ? 1 : 0, 1,
   'critical_path of the first run');
like($q->(qq{SELECT raydar.timeline_svg('01000000', incarnation => '$inc1')}), qr/^<svg /,
	 'timeline_svg of the first run');

# Metadata shows on one run's task only; new metadata goes to the current run.
is($q->(q{SELECT count(*) || ' ' || min(incarnation) FROM raydar.tasks WHERE user_defined_metadata IS NOT NULL}),
   "1 $inc1", 'the first run\'s metadata stays on the first run\'s task');
$q->(qq{INSERT INTO raydar.task_metadata (task_id, metadata) VALUES ('$task', '{"run": 2}')});
is($q->(q{SELECT string_agg(incarnation || '=' || (user_defined_metadata->>'run'), ' ' ORDER BY user_defined_metadata->>'run')
            FROM raydar.tasks WHERE user_defined_metadata IS NOT NULL}),
   "$inc1=1 $inc2=2", 'a write for the task now goes to the current run');

# A GCS restart keeps the cluster id: not a new incarnation.
$sim->restart;
my $t = $q->('SELECT now()');
ok($node->poll_query_until('postgres', qq{SELECT last_success_at > '$t' FROM raydar.collector_status}),
   'polled after the GCS restart');
is($q->(q{SELECT incarnation FROM raydar.collector_status}), $inc2, 'the same incarnation after a GCS restart');
is($q->('SELECT count(*) FROM raydar.task_history'), 2 * $n, 'history unchanged');

# The worker restarts and forgets what it wrote: still one row per attempt per run.
my $pid = $q->(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'raydar collector'});
$sim->admin('POST', '/scenario', { name => 'classic', params => \%params });
$q->("SELECT pg_terminate_backend($pid)");
$sim->admin('POST', '/advance', { ms => 60000 });
ok($node->poll_query_until('postgres', "SELECT count(*) = 3 * $n FROM raydar.task_history"),
   'a third run, seen by a restarted worker, is kept too');
is($q->(q{SELECT count(DISTINCT incarnation) || ' ' || (count(*) - count(DISTINCT (incarnation, task_id, attempt_number)))
            FROM raydar.task_history}), '3 0', 'three incarnations, no duplicate');

$node->stop;
done_testing();
