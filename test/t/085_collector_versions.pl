# 085_collector_versions.pl
#	The Ray version is a fact of the cluster, not of the collector: Ray
#	upgraded in place (2.35 -> 2.49) and downgraded (2.49 -> 2.40) while
#	the collector tracks it and tasks keep finishing: history is complete,
#	with the states each version means (the TaskStatus numbers changed in
#	2.39), and the GCS never aborts. A ray_version option that disagrees
#	with the cluster is an error naming both versions.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RaySim;
use Test::More;

my $sim = RaySim->new(profile => '2.35', scenario => 'classic', scenario_params => { count => 60 },
	speed => 0, name => 'versions');
my $node = PostgreSQL::Test::Cluster->new('versions');
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
	IMPORT FOREIGN SCHEMA ray LIMIT TO (tasks) FROM SERVER ray INTO live;
	SELECT raydar.track('ray');});
my $q = sub { $node->safe_psql('postgres', $_[0]) };
my $terminal_q = q{SELECT count(*) FROM live.tasks WHERE state IN ('FINISHED', 'FAILED')};

# Each step: some tasks finish under one version; the collector keeps up.
my $last = 0;
for my $step (['2.35', 8000], ['2.49', 8000], ['2.40', 60000])
{
	my ($profile, $ms) = @$step;
	$sim->admin('POST', '/profile', { profile => $profile });
	$sim->admin('POST', '/advance', { ms => $ms });
	my $t = $q->($terminal_q);
	cmp_ok($t, '>', $last, "Ray $profile: $t attempts have finished");
	$last = $t;
	ok($node->poll_query_until('postgres', "SELECT count(*) = $t FROM raydar.task_history"),
	   "Ray $profile: history holds every one of them");
	is($q->(q{SELECT count(*) FROM raydar.task_history WHERE state NOT IN ('FINISHED', 'FAILED')}), '0',
	   "Ray $profile: only FINISHED and FAILED in history, no state number");
	is($q->(q{SELECT string_agg(DISTINCT state, ',' ORDER BY state) FROM raydar.task_live}),
	   $q->(q{SELECT string_agg(DISTINCT state, ',' ORDER BY state) FROM live.tasks WHERE state NOT IN ('FINISHED', 'FAILED')}),
	   "Ray $profile: live states as this version means them");
}
is($last, $q->(q{SELECT count(*) FROM live.tasks WHERE type <> 'DRIVER_TASK'}), 'the example finished');
is($q->(q{SELECT count(*) FROM (SELECT task_id, attempt_number, state, end_time FROM raydar.task_history
                                EXCEPT SELECT task_id, attempt_number, state, end_time FROM live.tasks) d}),
   '0', 'history equals what Ray shows, state and end of every attempt');
is($q->(q{SELECT consecutive_failures || ' ' || vanished FROM raydar.collector_status}), '0 0',
   'no failed poll, nothing lost through the version changes');
ok($sim->alive, 'the GCS never aborted');
like(slurp_file($node->logfile), qr/server "ray" now runs Ray 2\.49\.\d+ \(was 2\.35\.0\)/,
	 'the upgrade is logged');

# Open sessions follow too: an in-place upgrade restarts the GCS, and a
# session's next scan, on a new connection, asks the version again before
# it encodes a filter (the layout changed in 2.41: scalar before,
# {predicate, value} after; the wrong one is what the real GCS aborts on).
my $session = $node->background_psql('postgres', on_error_stop => 0);
my $filtered = q{SELECT count(*) FROM live.tasks WHERE job_id = '01000000' AND state ~ '^[0-9]+$'};
my $last_layout = sub {
	my @f = grep { $_->{method} =~ /GetTaskEvents$/ && ($_->{layout} // '') ne 'empty' } @{ $sim->requests };
	return @f ? $f[-1]{layout} : 'none';
};
for my $step (['2.40', 'legacy'], ['2.49', 'predicate'], ['2.40', 'legacy'])
{
	my ($profile, $layout) = @$step;
	$sim->admin('POST', '/profile', { profile => $profile });
	$sim->restart(300);
	sleep 1;
	my ($out, $err) = RaySim::session_query($session, $filtered);
	is("$out|$err", '0|', "open session, Ray $profile after a GCS restart: scanned, no state left as a number");
	is($last_layout->(), $layout, "open session, Ray $profile: the filter went in the $layout layout");
}
$session->quit;
ok($sim->alive, 'the GCS never aborted');

# A ray_version option that disagrees with the cluster (2.40): refused.
$q->(q{ALTER SERVER ray OPTIONS (ADD ray_version '2.49.0')});
ok($node->poll_query_until('postgres', q{
	SELECT consecutive_failures > 0 AND last_error = 'server "ray" has ray_version ''2.49.0'', but the cluster runs Ray 2.40.0'
	  FROM raydar.collector_status}),
   'a mismatched ray_version is an error naming both versions');
ok($sim->alive, 'and nothing was sent in the wrong layout');
my ($rc, $out, $err) = $node->psql('postgres', q{SELECT count(*) FROM live.tasks WHERE job_id = '01000000'});
like($err, qr/ERROR:  server "ray" has ray_version '2\.49\.0', but the cluster runs Ray 2\.40\.0/,
	 'a scan refuses it too, naming both versions');
$q->(q{ALTER SERVER ray OPTIONS (SET ray_version '2.40.0')});
ok($node->poll_query_until('postgres', q{SELECT consecutive_failures = 0 FROM raydar.collector_status}),
   'the right one is accepted');
is($q->('SELECT count(*) FROM raydar.task_history'), $last, 'history unchanged');

$node->stop;
done_testing();
