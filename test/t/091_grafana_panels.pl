# 091_grafana_panels.pl
#	Every SQL query of the Grafana dashboard docs/grafana/raydar-dashboard.json
#	(panels, the cluster variable, annotations), with Grafana's PostgreSQL
#	macros and the template variable expanded as Grafana expands them, runs
#	against the fixed history of test/perl/RaydarAnswers.pm plus a metrics
#	table written with raydar.update(). Time series return a `time` column
#	first, sorted by time; every panel returns rows; some are counted
#	exactly. The provisioning file names the data source the dashboard uses.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RaydarAnswers;
use Test::More;

my $dash = decode_json(slurp_file('docs/grafana/raydar-dashboard.json'));
my $provisioning = slurp_file('docs/grafana/datasource.yaml');
my ($node) = RaydarAnswers::populated_node('grafana');

# The dashboard's data source is the provisioned one.
my ($uid) = $provisioning =~ /^\s+uid:\s*(\S+)/m;
my ($type) = $provisioning =~ /^\s+type:\s*(\S+)/m;
is("$type/$uid", 'grafana-postgresql-datasource/raydar', 'datasource.yaml provisions uid raydar');
my @refs = map { $_->{datasource}, map { $_->{datasource} } @{ $_->{targets} } } @{ $dash->{panels} };
is(scalar(grep { $_->{uid} ne $uid || $_->{type} ne $type } @refs), 0, 'every panel and target uses it');

# A custom metrics table, as docs/examples/training_loop.py writes it.
$node->safe_psql('postgres', q{
	SELECT raydar.create_metrics_table('training_loss',
	  '{"node_id": "str", "step": "int", "metric_name": "str", "value": "float", "timestamp": "datetime"}');
	SELECT raydar.update('training_loss', jsonb_agg(jsonb_build_object(
	           'node_id', 'node-' || n, 'step', s, 'metric_name', 'loss', 'value', 1.0 / (s + n),
	           'timestamp', '2026-01-01T10:00:00Z'::timestamptz + s * interval '1 second')))
	  FROM generate_series(1, 2) n, generate_series(0, 4) s;});

# Node metrics (docs/metrics.md, "Node metrics"), as the scraper writes
# them: each node of node_history scraped every second for 10 s; node k
# reads CPU 10 s + k, 1 GB x (s + 1) used, GPU 5 s, object store 1 MB x s
# in shared memory plus 0.5 MB spilled.
$node->safe_psql('postgres', q{
	SELECT raydar._add_partitions('raydar', 'metric_samples', ARRAY['2026-01-01 10:00:00+00'::timestamptz]);
	SELECT raydar._write_node_scrape(n.cluster, n.node_id,
	           ARRAY['ray_node_cpu_utilization', 'ray_node_mem_used', 'ray_node_gpus_utilization',
	                 'ray_object_store_memory', 'ray_object_store_memory'],
	           ARRAY[jsonb_build_object('ip', n.node_ip), jsonb_build_object('ip', n.node_ip),
	                 jsonb_build_object('ip', n.node_ip, 'GpuIndex', '0'),
	                 jsonb_build_object('ip', n.node_ip, 'Location', 'MMAP_SHM'),
	                 jsonb_build_object('ip', n.node_ip, 'Location', 'SPILLED')],
	           array_fill('gauge'::text, ARRAY[5]),
	           ARRAY[10.0 * s + n.k, 1e9 * (s + 1), 5.0 * s, 1e6 * s, 5e5]::float8[],
	           array_fill('2026-01-01 10:00:00+00'::timestamptz + s * interval '1 second', ARRAY[5]))
	  FROM (SELECT cluster, node_id, node_ip, row_number() OVER (ORDER BY cluster, node_id) AS k
	          FROM raydar.node_history) n,
	       generate_series(0, 9) s;});
my $nnodes = $node->safe_psql('postgres', 'SELECT count(*) FROM raydar.node_history');

# The dashboard's time range and interval for this test: all of the history.
my ($from, $to, $interval_s) = ('2026-01-01T09:59:00Z', '2026-01-01T10:05:00Z', 1);

# The cluster variable: its query runs, and All means every value, quoted
# and comma-separated, as Grafana interpolates a multi-value variable.
my ($var) = grep { $_->{name} eq 'cluster' } @{ $dash->{templating}{list} };
my $values = $node->safe_psql('postgres', $var->{query});
is($values, "classic\nnested\nray", 'variable cluster: its query lists the clusters');
my $cluster = join(',', map { "'$_'" } split /\n/, $values);

# Grafana's macros for PostgreSQL (grafana-postgresql-datasource
# macros.go): timeFilter is BETWEEN the range's RFC 3339 ends; timeGroup
# is floor(epoch / interval) * interval, timeGroupAlias adds AS "time".
sub expand
{
	my ($sql) = @_;
	$sql =~ s/\$__interval_ms\b/${interval_s}000/g;
	$sql =~ s/\$__interval\b/${interval_s}s/g;
	$sql =~ s/\$__timeGroupAlias\(\s*([^,()]+?)\s*,\s*'?(\d+)s'?\s*\)/floor(extract(epoch from $1)\/$2)*$2 AS "time"/g;
	$sql =~ s/\$__timeGroup\(\s*([^,()]+?)\s*,\s*'?(\d+)s'?\s*\)/floor(extract(epoch from $1)\/$2)*$2/g;
	$sql =~ s/\$__timeFilter\(\s*([^()]+?)\s*\)/$1 BETWEEN '$from' AND '$to'/g;
	$sql =~ s/\$__timeFrom\(\)/'$from'/g;
	$sql =~ s/\$__timeTo\(\)/'$to'/g;
	$sql =~ s/\$cluster\b/$cluster/g;
	return $sql;
}

# run(sql): (column names, rows as hashes), in the query's order.
sub run
{
	my ($sql) = @_;
	my ($rc, $head, $err) = $node->psql('postgres', "SELECT * FROM ($sql) q LIMIT 0",
		extra_params => [ '--csv', '-P', 'tuples_only=off' ]);
	return (undef, undef, $err) if $rc != 0;
	my @cols = split /,/, $head;
	my ($rc2, $out, $err2) = $node->psql('postgres', "SELECT to_json(q) FROM ($sql) q");
	return (undef, undef, $err2) if $rc2 != 0;
	return (\@cols, [ map { decode_json($_) } grep { /\S/ } split /\n/, $out ]);
}

# Time values as comparable numbers: epoch seconds or timestamps.
sub epoch
{
	my ($t) = @_;
	return $t if $t =~ /^-?[\d.]+(e[+-]?\d+)?$/i;
	return $node->safe_psql('postgres', "SELECT extract(epoch FROM '$t'::timestamptz)");
}

my @queries = map {
	my $p = $_;
	map { [ "panel \"$p->{title}\"", $p->{type}, $_->{format}, $_->{rawSql} ] } @{ $p->{targets} }
} @{ $dash->{panels} };
push @queries, map { [ "annotation \"$_->{name}\"", 'annotation', 'table', $_->{target}{rawSql} ] }
  grep { $_->{target} } @{ $dash->{annotations}{list} };
cmp_ok(scalar @queries, '>=', 8, 'the dashboard has its panels and annotation');

my %result;
for my $qq (@queries)
{
	my ($what, $ptype, $format, $raw) = @$qq;
	like($raw, qr/\$__time(Filter|From|To)\(|raydar\.task_summary/, "$what: uses the time range (task_summary is all-time)");
	my $sql = expand($raw);
	unlike($sql, qr/\$\w+/, "$what: every macro and variable expanded");
	my ($cols, $rows, $err) = run($sql);
	ok(defined $rows, "$what: runs") or do { diag($err); next; };
	cmp_ok(scalar @$rows, '>', 0, "$what: returns rows");
	$result{$what} = $rows;
	my $has_time = grep { $_ eq 'time' } @$cols;
	if ($format eq 'time_series' || $ptype eq 'annotation')
	{
		is($cols->[0], 'time', "$what: time series with the time column first");
	}
	next unless $has_time;
	my @t = map { epoch($_->{time}) } @$rows;
	my $asc = !grep { $t[$_] < $t[ $_ - 1 ] } 1 .. $#t;
	my $desc = !grep { $t[$_] > $t[ $_ - 1 ] } 1 .. $#t;
	ok($format eq 'time_series' ? $asc : ($asc || $desc), "$what: sorted by time");
}

# What the panels show, exactly.
my $sum = sub { my $s = 0; $s += $_->{$_[1]} for @{ $result{ $_[0] } // [] }; $s };
is($sum->('panel "Tasks ended, by state"', 'tasks'),
   $node->safe_psql('postgres', 'SELECT count(*) FROM raydar.task_history'), 'throughput: every ended attempt counted once');
is(join(',', map { "$_->{time}:$_->{metric}:$_->{tasks}" } grep { $_->{metric} eq 'FAILED' } @{ $result{'panel "Tasks ended, by state"'} }),
   '1767261600:FAILED:4,1767261601:FAILED:1,1767261602:FAILED:1', 'throughput: failures per 1 s bucket');
is(scalar @{ $result{'panel "Failures"'} }, 6, 'failures: the 6 failed attempts');
is(join(' ', map { $_->{name} } @{ $result{'panel "Failures"'} }[ 0, 1 ]), 'hog example_remote_function', 'failures: newest first');
is(join(' ', map { sprintf('%s/%s/%.1f', $_->{cluster}, $_->{job_id}, $_->{percent_done}) } @{ $result{'panel "Job progress"'} }),
   'classic/01000000/50.0 nested/01000000/100.0 ray/01000000/81.3', 'job progress: every job active in the range');
is(join(' ', map { "$_->{node_ip}:$_->{attempts_ended}" } grep { $_->{cluster} eq 'ray' } @{ $result{'panel "Nodes"'} }),
   '10.0.0.1:13 10.0.0.2:1', 'nodes: attempts ended per node');
is(scalar @{ $result{'panel "Custom metrics: training_loss"'} }, 10, 'custom metrics: 2 nodes x 5 steps');
is(join(' ', map { $_->{metric} } @{ $result{'panel "Custom metrics: training_loss"'} }[ 0, 1 ]),
   'loss node-1 loss node-2', 'custom metrics: one series per metric and node');
is(scalar @{ $result{'panel "Duration percentiles by function"'} },
   $node->safe_psql('postgres', q{SELECT count(DISTINCT (floor(extract(epoch FROM end_time)), func_or_class_name))
                                    FROM raydar.task_history WHERE start_time IS NOT NULL}),
   'duration percentiles: one row per interval and function');

# The node metrics row: one series per node, every second, exact values.
is(scalar @{ $result{'panel "Node CPU"'} }, 10 * $nnodes, "node CPU: $nnodes nodes x 10 s");
is($sum->('panel "Node CPU"', 'value'), 450 * $nnodes + 10 * ($nnodes * ($nnodes + 1) / 2),
   'node CPU: every value as scraped');
is(join(' ', map { "$_->{time}:$_->{value}" } grep { $_->{metric} eq 'classic 10.0.0.1' } @{ $result{'panel "Node CPU"'} }[ 0 .. 2 * $nnodes - 1 ]),
   join(' ', map { (1767261600 + $_) . ':' . (10 * $_ + 1) } 0 .. 1), 'node CPU: the first node\'s first two seconds');
is($sum->('panel "Node memory used"', 'value'), 55e9 * $nnodes, 'node memory: every value');
is($sum->('panel "Node GPU"', 'value'), 225 * $nnodes, 'node GPU: every value');
is($sum->('panel "Node object store"', 'value'), (45e6 + 10 * 5e5) * $nnodes,
   'node object store: locations summed per node and scrape');

$node->stop;
done_testing();
