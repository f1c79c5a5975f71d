# 087_collector_schedules.pl
#	Clusters do not wait for each other: ten tracked servers, one of them
#	a GCS that answers in 10 s (past its 4 s timeout): each server has its
#	own worker, so the other nine keep their 500 ms poll interval (measured
#	from their last_success_at, with bounds generous enough for a loaded
#	machine), while the slow one fails, backs off (visible in
#	collector_status) and is logged once, not every poll.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RaySim;
use Test::More;
use Time::HiRes qw(usleep time);

my $fast = RaySim->new(scenario => 'classic', scenario_params => { count => 20 }, speed => 0, name => 'fast');
my $slow = RaySim->new(scenario => 'classic', scenario_params => { count => 20 }, speed => 0, name => 'slow');
$fast->admin('POST', '/advance', { ms => 60000 });
my $node = PostgreSQL::Test::Cluster->new('schedules');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'raydar'
raydar.database = 'postgres'
raydar.poll_interval = '500ms'
max_worker_processes = 24
timezone = 'UTC'
});
$node->start;
my ($fa, $sa) = ($fast->address, $slow->address);
my $sql = "CREATE EXTENSION raydar;\n";
for my $i (1 .. 9)
{
	$sql .= "CREATE SERVER fast$i FOREIGN DATA WRAPPER raydar OPTIONS (address '$fa');\n"
	  . "CREATE USER MAPPING FOR CURRENT_USER SERVER fast$i;\n";
}
$sql .= "CREATE SERVER slow FOREIGN DATA WRAPPER raydar OPTIONS (address '$sa', timeout_ms '4000');\n"
  . "CREATE USER MAPPING FOR CURRENT_USER SERVER slow;\n";
$node->safe_psql('postgres', $sql);
$slow->fault(mode => 'slow', delay_ms => 10000);
$node->safe_psql('postgres', join('', map { "SELECT raydar.track('$_');\n" } ((map { "fast$_" } 1 .. 9), 'slow')));

ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 10 FROM pg_stat_activity WHERE backend_type = 'raydar collector'}),
   'a worker per tracked server');
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 9 FROM raydar.collector_status WHERE server LIKE 'fast%' AND last_success_at IS NOT NULL}),
   'the nine fast servers are polled');

# Watch the nine for 15 s (the slow server's calls take 4 s each, and its
# backoff grows meanwhile): the largest gap between two successful polls
# of any fast server. One worker for all would make it at least 4 s.
my %seen;
my $until = time + 15;
while (time < $until)
{
	for my $row (split /\n/, $node->safe_psql('postgres', q{
		SELECT server || ' ' || extract(epoch FROM last_success_at) FROM raydar.collector_status WHERE server LIKE 'fast%'}))
	{
		my ($s, $t) = split / /, $row;
		$seen{$s}{$t} = 1;
	}
	usleep(200_000);
}
my $max_gap = 0;
my $min_polls = 1e9;
for my $s (keys %seen)
{
	my @t = sort { $a <=> $b } keys %{ $seen{$s} };
	$min_polls = @t if @t < $min_polls;
	for my $i (1 .. $#t)
	{
		$max_gap = $t[$i] - $t[$i - 1] if $t[$i] - $t[$i - 1] > $max_gap;
	}
}
is(scalar keys %seen, 9, 'all nine watched');
cmp_ok($min_polls, '>=', 10, "each fast server polled at least 10 times in 15 s (fewest: $min_polls)");
cmp_ok($max_gap, '<', 3, sprintf('largest gap between two polls of a fast server: %.2f s (interval 0.5 s)', $max_gap));

# The slow one: failing, backing off, counted and logged once.
my ($fails, $backoff, $errors) = split /\|/, $node->safe_psql('postgres', q{
	SELECT s.consecutive_failures, extract(epoch FROM s.backoff),
	       (SELECT count(*) FROM raydar.collector_errors e WHERE e.server = 'slow')
	  FROM raydar.collector_status s WHERE s.server = 'slow'});
cmp_ok($fails, '>=', 2, "the slow server failed $fails times in a row");
cmp_ok($fails, '<=', 5, 'not once per interval: it backs off');
cmp_ok($backoff, '>=', 2, "its backoff is visible in collector_status: $backoff s");
like($node->safe_psql('postgres', q{SELECT last_error FROM raydar.collector_status WHERE server = 'slow'}),
	 qr/did not answer in time/, 'and its last error says why');
is($errors, '1', 'collector_errors: one row for the repeated failure');
my @logged = slurp_file($node->logfile) =~ /could not poll server "slow"/g;
is(scalar @logged, 1, 'the server log: one line for it');
is($node->safe_psql('postgres', q{SELECT count(*) FROM raydar.collector_status WHERE server LIKE 'fast%' AND consecutive_failures > 0}),
   '0', 'the fast ones never failed');

# The slow one recovers: its backoff resets.
$slow->fault(mode => 'none');
ok($node->poll_query_until('postgres', q{
	SELECT consecutive_failures = 0 AND backoff IS NULL AND last_error IS NULL
	  FROM raydar.collector_status WHERE server = 'slow'}),
   'recovered, the slow server\'s backoff is cleared');

# Untracked, its worker goes away.
$node->safe_psql('postgres', q{SELECT raydar.untrack('fast9')});
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 9 FROM pg_stat_activity WHERE backend_type = 'raydar collector'}),
   'untracking a server stops its worker');

$node->stop;
done_testing();
