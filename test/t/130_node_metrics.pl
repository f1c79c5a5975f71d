# 130_node_metrics.pl
#	The metrics scraper keeps exactly the samples each node's Prometheus
#	endpoint served (every series, count and value), across a scraper
#	restart and a node that dies; faults (HTTP 500, a truncated body,
#	garbage, a timeout, an endpoint that disappears) are counted errors
#	and write nothing; 'off' stops it; the answers joining tasks read the
#	known values (a task on a node at 75% CPU reads 75); SIGTERM in the
#	middle of a slow transfer stops the scraper within a few ticks.
#
#	A 4-node classic cluster (two nodes run the tasks, two stay idle) on a
#	4x clock; each body carries its sim time as sample timestamps, so the
#	stored rows line up with task history. What was served comes from the
#	simulator's log (raysim/metrics_endpoint.py, GET /served).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use HTTP::Tiny;
use Time::HiRes qw(time);
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RaySim;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('node_metrics');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'raydar'
raydar.database = 'postgres'
raydar.poll_interval = '200ms'
raydar.metrics_interval = '500ms'
timezone = 'UTC'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION raydar');

# The simulator last, so that its clock starts just before tracking.
my $sim = RaySim->new(scenario => 'classic', scenario_params => { nodes => 4 }, speed => 4,
	metrics => { timestamps => JSON::PP::true }, name => 'node_metrics');
my $http = HTTP::Tiny->new(timeout => 60);
my $ctl = "http://127.0.0.1:$sim->{metrics_control_port}";

sub control
{
	my ($method, $path, $body) = @_;
	my $r = $http->request($method, "$ctl$path",
		{ $method eq 'GET' ? () : (content => encode_json($body // {})) });
	die "metrics control $method $path: $r->{status} $r->{content}\n" unless $r->{success};
	return $r->{content};
}

my $port = $sim->grpc_port;
$node->safe_psql('postgres', qq{
	CREATE SERVER ray FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:$port');
	CREATE USER MAPPING FOR CURRENT_USER SERVER ray;
	SELECT raydar.track('ray');});

my $nodes = decode_json(control('GET', '/state'))->{nodes};
is(scalar(@$nodes), 4, 'the simulator serves four nodes');
my %ip = map { $_->{node_id} => $_->{ip} } @$nodes;
my %by_ip = map { $_->{ip} => $_->{node_id} } @$nodes;

ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'raydar metrics scraper'}),
   'the scraper runs, visible in pg_stat_activity');
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 4 FROM raydar.scrape_status WHERE scrapes >= 3 AND errors = 0}),
   'every node discovered from the GCS and scraped');

# A tracked dashboard_url server: its node table (/api/v0/nodes) has no
# metrics ports, so it is skipped with one LOG line, not an error every
# interval. Nothing listens on its port, so the collector stores nothing
# of it; the scraper must not even try to reach it.
{
	my $log_at = -s $node->logfile;
	$node->safe_psql('postgres', q{
		CREATE SERVER dash FOREIGN DATA WRAPPER raydar OPTIONS (dashboard_url 'http://127.0.0.1:1');
		CREATE USER MAPPING FOR CURRENT_USER SERVER dash;
		SELECT raydar.track('dash');});
	my $skip = qr/raydar metrics scraper: server "dash" is not scraped: it reaches Ray through its dashboard/;
	my $t_end = time() + 30;
	sleep(1) until slurp_file($node->logfile, $log_at) =~ $skip || time() > $t_end;
	sleep(3);	# six more cycles at 500 ms
	my $log = slurp_file($node->logfile, $log_at);
	my @skips = $log =~ /$skip/g;
	is(scalar(@skips), 1, 'a dashboard server: one LOG line saying it is not scraped');
	unlike($log, qr/could not read the node table of server "dash"/, 'a dashboard server: no error every interval');
	like($log, qr/HINT:  Node metrics are scraped for servers with the GCS's address/,
		 'a dashboard server: the hint says which servers are scraped');
	$node->safe_psql('postgres', q{SELECT raydar.untrack('dash')});
	is($node->safe_psql('postgres', q{SELECT count(*) FROM raydar.scrape_status WHERE errors = 0}), '4',
	   'the GCS server\'s nodes are still scraped');
}

# The classic example runs for about 50 simulated seconds, all scraped.
ok($node->poll_query_until('postgres', q{
	SELECT count(*) >= 100 FROM raydar.task_history WHERE type <> 'DRIVER_TASK'}),
   'the example finished and its tasks are in history');

# ---- faults: each is one counted error and writes nothing ----------------
control('POST', '/fault', { node => '10.0.0.1', mode => 'http500', count => 2 });
control('POST', '/fault', { node => '10.0.0.2', mode => 'truncated', count => 2 });
control('POST', '/fault', { node => '10.0.0.3', mode => 'garbage', count => 2 });
control('POST', '/fault', { node => '10.0.0.4', mode => 'slow', delay_ms => 1500, count => 1 });
my $n4 = $by_ip{'10.0.0.4'};
ok($node->poll_query_until('postgres', qq{
	SELECT count(*) = 4 FROM raydar.scrape_status
	 WHERE errors >= CASE WHEN node_id = '$n4' THEN 1 ELSE 2 END AND consecutive_failures = 0}),
   'faulted nodes recover after their errors');
my %last_error = split /\|/, join('|', split /\n/, $node->safe_psql('postgres',
	q{SELECT node_id, last_error FROM raydar.scrape_status ORDER BY 1}));
like($last_error{ $by_ip{'10.0.0.1'} }, qr/answered HTTP 500/, 'HTTP 500 named');
like($last_error{ $by_ip{'10.0.0.2'} }, qr/could not fetch the metrics of node \w+ at http:\/\/127\.0\.0\.1:\d+\/metrics: /,
	 'truncated body: the transfer error named');
like($last_error{ $by_ip{'10.0.0.3'} }, qr/not in the Prometheus text format: line 1: invalid metric name/,
	 'garbage: the parse error with its line');
like($last_error{$n4}, qr/did not answer in time \(500 ms\)/, 'slow node: the timeout named');

# The node disappears (its endpoint stops) while the GCS still lists it.
control('POST', '/fault', { node => '10.0.0.3', mode => 'down' });
my $n3 = $by_ip{'10.0.0.3'};
my $before = $node->safe_psql('postgres', "SELECT errors FROM raydar.scrape_status WHERE node_id = '$n3'");
ok($node->poll_query_until('postgres',
	"SELECT errors >= $before + 3 FROM raydar.scrape_status WHERE node_id = '$n3'"),
   'a vanished endpoint: connection errors counted');
like($node->safe_psql('postgres', "SELECT last_error FROM raydar.scrape_status WHERE node_id = '$n3'"),
	 qr/could not fetch the metrics of node $n3 .*(refused|connect)/i, 'connection refused named');
# Back off: failures in a row are retried ever more rarely.
my $tries = $node->safe_psql('postgres', "SELECT scrapes FROM raydar.scrape_status WHERE node_id = '$n3'");
sleep(2);
my $tries2 = $node->safe_psql('postgres', "SELECT scrapes FROM raydar.scrape_status WHERE node_id = '$n3'");
cmp_ok($tries2 - $tries, '<', 3, 'a failing node is backed off (' . ($tries2 - $tries) . ' tries in 2 s at 500 ms)');
control('POST', '/fault', { node => '10.0.0.3', mode => 'up' });
ok($node->poll_query_until('postgres',
	"SELECT consecutive_failures = 0 FROM raydar.scrape_status WHERE node_id = '$n3'"),
   'the endpoint back: scraped again');

# ---- a scraper restart ----------------------------------------------------
$node->safe_psql('postgres', q{ALTER SYSTEM SET raydar.metrics_interval = 'off'; SELECT pg_reload_conf();});
sleep(1);
ok($node->poll_query_until('postgres',
	q{SELECT state = 'idle' FROM pg_stat_activity WHERE backend_type = 'raydar metrics scraper'}),
   'off: the scraper is idle');
my $served_off = decode_json(control('GET', '/state'))->{served};
sleep(1);
is(decode_json(control('GET', '/state'))->{served}, $served_off, "'off': no scrape in a second");
my $old_pid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'raydar metrics scraper'});
$node->safe_psql('postgres', "SELECT pg_terminate_backend($old_pid)");
ok($node->poll_query_until('postgres', qq{
	SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'raydar metrics scraper' AND pid <> $old_pid}),
   'the scraper restarted after SIGTERM');
$node->safe_psql('postgres', q{ALTER SYSTEM RESET raydar.metrics_interval; SELECT pg_reload_conf();});
my $scrapes = $node->safe_psql('postgres', 'SELECT sum(scrapes) FROM raydar.scrape_status');
ok($node->poll_query_until('postgres', "SELECT sum(scrapes) >= $scrapes + 8 FROM raydar.scrape_status"),
   'scraping resumes at the configured interval');

# ---- a node dies: the GCS says DEAD, scraping it stops ---------------------
my $killed = decode_json(control('POST', '/fault', { node => '10.0.0.4', mode => 'kill' }))->{killed_at_ms};
$scrapes = $node->safe_psql('postgres', 'SELECT sum(scrapes) FROM raydar.scrape_status');
ok($node->poll_query_until('postgres', "SELECT sum(scrapes) >= $scrapes + 9 FROM raydar.scrape_status"),
   'the other three nodes are still scraped');
my $after_kill = $node->safe_psql('postgres', qq{
	SELECT count(*) FROM raydar.node_metrics WHERE node_id = '$n4'
	   AND time > to_timestamp(($killed + 4000) / 1000.0)});
is($after_kill, '0', 'no sample of the dead node after it died');


# ---- exactness: stored = served (complete, unfaulted), every sample -------
$node->safe_psql('postgres', q{ALTER SYSTEM SET raydar.metrics_interval = 'off'; SELECT pg_reload_conf();});
sleep(1);
ok($node->poll_query_until('postgres',
	q{SELECT state = 'idle' FROM pg_stat_activity WHERE backend_type = 'raydar metrics scraper'}),
   'stopped before comparing');
my $served_json = control('GET', '/served');
my $file = $node->basedir . '/served.json';
open(my $fh, '>', $file) or die "open $file: $!";
print $fh $served_json;
close $fh;
my $served = decode_json($served_json);
my @faulted = grep { $_->{fault} } @$served;
my %faults_by_node;
$faults_by_node{ $_->{node_id} }++ for @faulted;
cmp_ok(scalar(@$served), '>=', 100, scalar(@$served) . ' bodies served');

$node->safe_psql('postgres', qq{
	CREATE TABLE served AS
	SELECT r->>'node_id' AS node_id, (r->>'sim_ms')::bigint AS ms, s->>0 AS metric, s->1 AS labels,
	       (s->>2)::float8 AS value
	  FROM jsonb_array_elements(pg_read_file('$file')::jsonb) r,
	       jsonb_array_elements(r->'samples') s
	 WHERE (r->>'complete')::boolean AND r->>'fault' IS NULL;
	CREATE TABLE stored AS
	SELECT node_id, (extract(epoch FROM time) * 1000)::bigint AS ms, metric, labels, value
	  FROM raydar.node_metrics WHERE cluster = 'ray';});
my $kept = q{metric NOT IN ('ray_grpc_server_req_finished_total', 'ray_scheduler_tasks', 'process_cpu_seconds_total')};
is($node->safe_psql('postgres', qq{
	SELECT count(*) FROM ((SELECT * FROM served WHERE $kept EXCEPT ALL SELECT * FROM stored)
	   UNION ALL (SELECT * FROM stored EXCEPT ALL SELECT * FROM served WHERE $kept)) d}), '0',
   'every kept sample served is stored once, with its labels, value and time; nothing else is');
is($node->safe_psql('postgres', qq{SELECT count(*) FROM stored WHERE NOT ($kept)}), '0',
   "Ray's internal metrics are filtered out by the default raydar.metrics_keep");
my ($nserved, $nseries, $nstored) = split /\|/, $node->safe_psql('postgres', qq{
	SELECT (SELECT count(*) FROM served WHERE $kept),
	       (SELECT count(DISTINCT (node_id, metric, labels)) FROM served WHERE $kept),
	       (SELECT count(*) FROM stored)});
is($nstored, $nserved, "$nstored samples stored of $nserved served");
is($node->safe_psql('postgres', q{SELECT count(*) FROM raydar.metric_series WHERE cluster = 'ray'}), $nseries,
   "$nseries series, one per node, metric and label set");
is($node->safe_psql('postgres', q{SELECT count(*) FROM stored WHERE labels->>'stage' = 'préparation ✓'}),
   $node->safe_psql('postgres', q{SELECT count(*) FROM served WHERE labels->>'stage' = 'préparation ✓'}),
   'a user metric with a unicode label');

# Counted errors: every scrape is either a stored body or a counted error,
# and each faulted body is one of the errors (a timeout under load may
# add others; the vanished endpoint adds refused connections).
for my $id (sort keys %ip)
{
	my ($errors, $scr, $filtered, $written) = split /\|/, $node->safe_psql('postgres',
		"SELECT errors, scrapes, samples_filtered, samples_written FROM raydar.scrape_status WHERE node_id = '$id'");
	my $ok_bodies = grep { $_->{node_id} eq $id && $_->{complete} && !$_->{fault} } @$served;
	my $want_errors = ($faults_by_node{$id} // 0);
	cmp_ok($want_errors, '>=', 1, "$ip{$id}: $want_errors faulted bodies");
	cmp_ok($errors, '>=', $want_errors, "$ip{$id}: $errors errors counted, at least one per faulted body");
	is($scr - $errors, $ok_bodies, "$ip{$id}: $ok_bodies successful scrapes, one per complete body");
	is($filtered, 3 * $ok_bodies, "$ip{$id}: three internal samples filtered per scrape");
	is($written, $node->safe_psql('postgres', "SELECT count(*) FROM stored WHERE node_id = '$id'"),
	   "$ip{$id}: samples_written counts the rows");
}
my %kinds = map { $_->{fault} => 1 } @faulted;
is(join(',', sort keys %kinds), 'garbage,http500,slow,truncated', 'every kind of fault was served');

# ---- answers ------------------------------------------------------------------
# Attempts whose window (last cpu sample at or before the start, to the end)
# saw only 75 read exactly 75; every attempt on a busy node has a value.
my ($known, $all, $right) = split /\|/, $node->safe_psql('postgres', q{
	WITH cpu AS (SELECT node_id, to_timestamp(ms / 1000.0) AS t, value FROM served
	              WHERE metric = 'ray_node_cpu_utilization'),
	win AS (
	  SELECT h.task_id, h.attempt_number, array_agg(DISTINCT c.value) AS vals
	    FROM raydar.task_history h JOIN cpu c ON c.node_id = h.node_id
	   WHERE h.type <> 'DRIVER_TASK'
	     AND c.t <= h.end_time
	     AND c.t >= coalesce((SELECT max(p.t) FROM cpu p WHERE p.node_id = h.node_id AND p.t <= h.start_time),
	                         h.start_time)
	   GROUP BY 1, 2)
	SELECT count(*) FILTER (WHERE w.vals = '{75}'),
	       count(*),
	       count(*) FILTER (WHERE w.vals = '{75}' AND u.cpu_percent = 75)
	  FROM win w JOIN raydar.task_node_usage u USING (task_id, attempt_number)});
cmp_ok($known, '>', 10, "$known attempts ran while their node read 75% CPU");
is($right, $known, 'task_node_usage reads exactly 75 for each of them');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM raydar.task_node_usage u JOIN raydar.task_history h USING (cluster, task_id, attempt_number)
	 WHERE h.type <> 'DRIVER_TASK' AND (u.cpu_percent IS NULL OR u.mem_used_bytes IS NULL)
	   AND h.start_time > (SELECT to_timestamp(min(ms) / 1000.0) FROM served)}), '0',
   'every task attempt that started after the first scrape has its node\'s CPU and memory');
is($node->safe_psql('postgres', q{
	WITH jobs AS (SELECT job_id, min(start_time) lo, max(end_time) hi FROM raydar.task_history
	               WHERE job_id IS NOT NULL AND start_time IS NOT NULL GROUP BY 1),
	os AS (SELECT node_id, to_timestamp(ms / 1000.0) AS t, sum(value) AS bytes FROM served
	        WHERE metric = 'ray_object_store_memory' GROUP BY 1, 2)
	SELECT count(*) FROM jobs j
	  JOIN raydar.job_object_store_peak p ON p.job_id = j.job_id AND p.cluster = 'ray'
	 WHERE p.peak_bytes = (SELECT max(bytes) FROM os WHERE t BETWEEN j.lo AND j.hi)
	   AND p.peak_bytes > 0}),
   $node->safe_psql('postgres', q{SELECT count(DISTINCT job_id) FROM raydar.task_history WHERE start_time IS NOT NULL}),
   'job_object_store_peak: each job\'s peak is the highest node total served during it');

# Every SQL block of docs/metrics.md's node metrics section runs here, on
# real scraped data (one is marked as not run, and why).
{
	my ($section) = slurp_file('docs/metrics.md') =~ /^## Node metrics.*?\n(.*?)^## /ms;
	my @blocks = $section =~ /```sql\n(.*?)```/sg;
	cmp_ok(scalar(@blocks), '>=', 3, 'docs: the node metrics section has its SQL');
	for my $b (@blocks)
	{
		next if $b =~ /^-- not run here: \S/;
		my ($rc, $out, $err) = $node->psql('postgres', $b);
		is($rc . $err, '0', 'docs: runs: ' . (split /\n/, $b)[0]);
	}
}

# ---- SIGTERM in the middle of a slow transfer: the scraper stops at once ---
# (after the comparisons: the bodies of that cycle are served, not written)
$node->safe_psql('postgres', q{ALTER SYSTEM SET raydar.metrics_interval = '5s'; SELECT pg_reload_conf();});
control('POST', '/fault', { node => '10.0.0.1', mode => 'slow', delay_ms => 4000, count => 1 });
ok($node->poll_query_until('postgres', q{
	SELECT query = 'raydar metrics scraper: scraping' FROM pg_stat_activity
	 WHERE backend_type = 'raydar metrics scraper'}), 'a cycle waits for the slow node');
my $pid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'raydar metrics scraper'});
my $t0 = time();
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid"),
   'the scraper exits');
cmp_ok(time() - $t0, '<', 3, 'within a few 100 ms ticks, not after the 4 s transfer (' . (time() - $t0) . ' s)');

$node->stop;
$sim->stop;
done_testing();
