# 071_training_example.pl
#	The training-loop example of docs/metrics.md (docs/examples/
#	training_loop.py, Debian's python3 with psycopg2) runs as a plain
#	raydar_writer login and its rows arrive: per node and step, batched,
#	NaN kept; a restarted run reuses its table (if_not_exists).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('training');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'raydar'\ntimezone = 'UTC'");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION raydar;
	CREATE ROLE trainer LOGIN IN ROLE raydar_writer;
});

my $dsn = sprintf('host=%s port=%d dbname=postgres user=trainer', $node->host, $node->port);
my @cmd = ('/usr/bin/python3', 'docs/examples/training_loop.py', '--dsn', $dsn,
	'--steps', '200', '--nodes', '4', '--batch', '50');
my ($stdout, $stderr);
my $ok = IPC::Run::run(\@cmd, '>', \$stdout, '2>', \$stderr);
ok($ok, 'the example runs') or diag($stderr);
like($stdout, qr/^sent 800 rows$/m, 'it reports 800 rows');

is($node->safe_psql('postgres', q{
	SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute
	 WHERE attrelid = 'raydar_metrics.training_loss'::regclass AND attnum > 0}),
	'node_id,step,metric_name,value,timestamp', 'columns in the order the script gave');
is($node->safe_psql('postgres', q{
	SELECT count(*) || ' ' || count(DISTINCT node_id) || ' ' || max(step) || ' '
	       || count(*) FILTER (WHERE value = 'NaN') || ' '
	       || bool_and("timestamp" BETWEEN now() - interval '5 minutes' AND now())
	  FROM raydar_metrics.training_loss}),
	'800 4 200 8 true', 'every row, per node and step, NaN kept, epoch times stored');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT node_id, step FROM raydar_metrics.training_loss
	                       GROUP BY 1, 2 HAVING count(*) <> 1) d}),
	'0', 'one row per node and step');

$ok = IPC::Run::run(\@cmd, '>', \$stdout, '2>', \$stderr);
ok($ok, 'a restarted run reuses its table') or diag($stderr);
is($node->safe_psql('postgres', q{SELECT count(*) FROM raydar_metrics.training_loss}),
	'1600', 'and appends to it');

$node->stop;
done_testing();
