# 083_collector_keys.pl
#	Keys and times the collector must not get wrong: task ids of unusual
#	lengths (two differing only past byte 24, a 20-byte id and the same id
#	zero-padded to 24 bytes) are all kept; a reply spanning 500 days (one
#	attempt per day) is collected; an attempt that turns from FINISHED to
#	FAILED with a later end across a kill -9 of the collector is one row,
#	FAILED; track() wakes the collector at commit.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RaySim;
use Test::More;

my $days = 500;
my $sim = RaySim->new(scenario => 'keys', speed => 0, name => 'keys',
	scenario_params => { days => $days });
my $node = PostgreSQL::Test::Cluster->new('keys');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'raydar'
raydar.database = 'postgres'
raydar.poll_interval = '1h'
restart_after_crash = on
timezone = 'UTC'
});
$node->start;
my $addr = $sim->address;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION raydar;
	CREATE SERVER ray FOREIGN DATA WRAPPER raydar OPTIONS (address '$addr');
	CREATE USER MAPPING FOR CURRENT_USER SERVER ray;
	CREATE SCHEMA live;
	IMPORT FOREIGN SCHEMA ray LIMIT TO (tasks) FROM SERVER ray INTO live;});
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'raydar collector launcher'}),
   'the collector\'s launcher runs');

my $terminal_q = q{SELECT count(*) FROM live.tasks WHERE state IN ('FINISHED', 'FAILED')};
my $terminal = $node->safe_psql('postgres', $terminal_q);
is($terminal, 4 + $days, 'the simulator holds the odd ids and one attempt per day');
is($node->safe_psql('postgres', q{
	SELECT string_agg(DISTINCT length(task_id)::text, ',') FROM live.tasks WHERE name = 'odd_id'}),
   '40,48,56', 'task ids of 20, 24 and 28 bytes');
is($node->safe_psql('postgres', q{
	SELECT date_part('day', max(end_time) - min(end_time)) FROM live.tasks WHERE name = 'old_day'}),
   $days - 1, "the attempts span $days days");

# Polls are an hour apart: only the wake at track()'s commit polls now.
# (poll_query_until gives up after 180 s, far less than the hour.)
$node->safe_psql('postgres', q{SELECT raydar.track('ray')});
ok($node->poll_query_until('postgres', "SELECT count(*) = $terminal FROM raydar.task_history"),
   'woken by track() at commit, the collector writes every attempt, 500 days of them too');
is($node->safe_psql('postgres', q{
	SELECT consecutive_failures || ' ' || vanished || ' ' || tasks_ingested || ' ' || coalesce(last_error, 'none')
	  FROM raydar.collector_status}), "0 0 $terminal none", 'no failure, nothing lost, every attempt counted');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT task_id FROM live.tasks WHERE name = 'odd_id'
	                      EXCEPT SELECT task_id FROM raydar.task_history WHERE name = 'odd_id') d}),
   '0', 'the four odd ids are all in history, each whole');
is($node->safe_psql('postgres', q{SELECT count(DISTINCT task_id) FROM raydar.task_history WHERE name = 'odd_id'}),
   '4', 'ids differing only past byte 24, or only by zero padding, are distinct attempts');
cmp_ok($node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_inherits WHERE inhparent = 'raydar.task_history'::regclass}),
	'>=', $days, 'a partition for each day');

# The worker's set of written attempts tells all four apart: a restart of
# the worker (which forgets it) and a fresh poll write nothing again.
my $pid = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'raydar collector'});
$node->safe_psql('postgres', q{ALTER SYSTEM SET raydar.poll_interval = '200ms'; SELECT pg_reload_conf()});
my $polled = sub {
	my $t = $node->safe_psql('postgres', 'SELECT now()');
	ok($node->poll_query_until('postgres',
		qq{SELECT last_success_at > '$t' FROM raydar.collector_status}), $_[0]);
};
$polled->('polls every 200 ms');
$polled->('and again');
is($node->safe_psql('postgres', q{SELECT tasks_ingested || ' ' || vanished FROM raydar.collector_status}),
   "$terminal 0", 'idle polls write nothing again and lose nothing');

# An end that moves: FINISHED at 1 s ...
$sim->admin('POST', '/advance', { ms => 1500 });
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM raydar.task_history WHERE name = 'moving_end' AND state = 'FINISHED'}),
   'the attempt is written FINISHED');
my $end1 = $node->safe_psql('postgres', q{SELECT end_time FROM raydar.task_history WHERE name = 'moving_end'});

# ... the collector is killed, and Ray reports it FAILED at 3 s.
$pid = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'raydar collector'});
kill 'KILL', $pid;
$sim->admin('POST', '/advance', { ms => 2500 });
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'raydar collector' AND pid <> $pid"),
   'after kill -9 and crash recovery the worker is back');
is($node->safe_psql('postgres', q{SELECT state FROM live.tasks WHERE name = 'moving_end'}), 'FAILED',
   'Ray now reports the attempt FAILED');
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM raydar.task_history WHERE name = 'moving_end' AND state = 'FAILED'}),
   'the attempt is now FAILED in history');
is($node->safe_psql('postgres', qq{
	SELECT count(*) || ' ' || (min(end_time) > '$end1') || ' ' || min(error_type)
	  FROM raydar.task_history WHERE name = 'moving_end'}),
   '1 true WORKER_DIED', 'one row for the attempt: FAILED, with the later end and its error');
is($node->safe_psql('postgres', q{
	SELECT count(*) - count(DISTINCT (cluster, task_id, attempt_number)) FROM raydar.task_history}),
   '0', 'no attempt has two rows');
is($node->safe_psql('postgres', 'SELECT count(*) FROM raydar.task_history'), $terminal + 1,
   'every attempt once');
is($node->safe_psql('postgres', q{SELECT tasks_ingested FROM raydar.collector_status}), $terminal + 1,
   'a moved attempt is not counted as a new one');

# The same while the worker runs: it remembers the attempt as written, and
# notices that Ray's record of it changed.
$pid = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'raydar collector'});
$sim->admin('POST', '/advance', { ms => 1500 });
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM raydar.task_history WHERE name = 'moving_live' AND state = 'FINISHED'}),
   'a running worker writes the second attempt FINISHED');
$end1 = $node->safe_psql('postgres', q{SELECT end_time FROM raydar.task_history WHERE name = 'moving_live'});
$sim->admin('POST', '/advance', { ms => 2000 });
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM raydar.task_history WHERE name = 'moving_live' AND state = 'FAILED'}),
   'and rewrites it FAILED when Ray does');
is($node->safe_psql('postgres', qq{
	SELECT count(*) || ' ' || (min(end_time) > '$end1') || ' ' || min(error_type)
	  FROM raydar.task_history WHERE name = 'moving_live'}),
   '1 true WORKER_DIED', 'one row, FAILED, with the later end');
is($node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'raydar collector'}),
   $pid, 'the same worker throughout');
$polled->('a poll after the change');
is($node->safe_psql('postgres', 'SELECT count(*) || \' \' || (SELECT tasks_ingested FROM raydar.collector_status) FROM raydar.task_history'),
   ($terminal + 2) . ' ' . ($terminal + 2), 'every attempt once, each counted once');

$node->stop;
done_testing();
