# 082_collector_values.pl
#	Values never alias: 20,000 attempts with varied values (resource maps
#	mostly shared, every 7th unique; unicode, quotes, 10 kB names; null vs
#	empty strings and maps; FINISHED and FAILED) read three ways give
#	identical rows: the FDW scan, the collector's history after a first
#	track (the bulk path), and its history after incremental polls (the SQL
#	path). Then again with the jsonb value cache forced down to one entry,
#	so that it is replaced on nearly every value.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RaySim;
use Test::More;

my $n = 20000;
my $steps = 8;
my $sim = RaySim->new(scenario => 'varied', speed => 0, name => 'values',
	scenario_params => { count => $n, spread_ms => 8000 });
my $node = PostgreSQL::Test::Cluster->new('values');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'raydar'
raydar.database = 'postgres'
raydar.poll_interval = '300ms'
timezone = 'UTC'
});
$node->start;
my $addr = $sim->address;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION raydar;
	CREATE SERVER incr FOREIGN DATA WRAPPER raydar OPTIONS (address '$addr');
	CREATE USER MAPPING FOR CURRENT_USER SERVER incr;
	CREATE SERVER first FOREIGN DATA WRAPPER raydar OPTIONS (address '$addr');
	CREATE USER MAPPING FOR CURRENT_USER SERVER first;
	CREATE SCHEMA live;
	IMPORT FOREIGN SCHEMA ray LIMIT TO (tasks) FROM SERVER incr INTO live;
	SELECT raydar.track('incr');});

my $terminal_q = q{SELECT count(*) FROM live.tasks WHERE state IN ('FINISHED', 'FAILED')};
my $hist_q = sub { "SELECT count(*) FROM raydar.task_history WHERE cluster = '$_[0]'" };

# Incremental: the clock advances in steps, each poll finds a slice.
my $seen_steps = 0;
for my $s (1 .. $steps)
{
	$sim->admin('POST', '/advance', { ms => 1000 });
	my $t = $node->safe_psql('postgres', $terminal_q);
	$seen_steps++ if $t > 0 && $t < $n;
	ok($node->poll_query_until('postgres', "SELECT (" . $hist_q->('incr') . ") = $t"),
	   "step $s: history of incr caught up with the $t terminal attempts");
}
$sim->admin('POST', '/advance', { ms => 2000 });
is($node->safe_psql('postgres', $terminal_q), $n, "all $n attempts finished in the simulator");
cmp_ok($seen_steps, '>=', $steps - 1, 'the attempts arrived over successive polls');
ok($node->poll_query_until('postgres', "SELECT (" . $hist_q->('incr') . ") = $n"),
   'incremental history holds every attempt');

# First track: everything at once, through the bulk path.
$node->safe_psql('postgres', q{SELECT raydar.track('first')});
ok($node->poll_query_until('postgres', "SELECT (" . $hist_q->('first') . ") = $n"),
   'first-track history holds every attempt');

# The data is as varied as intended.
is($node->safe_psql('postgres', q{
	SELECT count(DISTINCT required_resources) > 2000, count(*) FILTER (WHERE octet_length(name) > 9000) >= 150,
	       count(*) FILTER (WHERE coalesce(name, '') = '') > 0, count(*) FILTER (WHERE name LIKE '%日本語%') > 0,
	       count(*) FILTER (WHERE name LIKE '%"%''%' AND position(chr(92) IN name) > 0) > 0,
	       count(*) FILTER (WHERE call_site = '') > 0, count(*) FILTER (WHERE call_site IS NULL) > 0,
	       count(*) FILTER (WHERE required_resources = '{}') > 0,
	       count(*) FILTER (WHERE state = 'FAILED') > 0
	  FROM live.tasks WHERE state IN ('FINISHED', 'FAILED')}),
   't|t|t|t|t|t|t|t|t', 'the attempts vary: unique maps, 10 kB and unicode names, quotes, null and empty');
# History rows over 2 kB (the 10 kB names) are TOAST-compressed as the
# collector writes them: with lz4 (raydar_worker_prefer_lz4), not the
# server's default pglz, which is several times slower to compress.
is($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT pg_column_compression(name), ',') || ' ' || count(*)
	FROM raydar.task_history WHERE pg_column_compression(name) IS NOT NULL HAVING count(*) >= 150}),
   'lz4 ' . $node->safe_psql('postgres', q{SELECT count(*) FROM raydar.task_history WHERE pg_column_compression(name) IS NOT NULL}),
   'the collector compresses history rows with lz4 (150 or more of them here)');

my $cols = $node->safe_psql('postgres', q{
	SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position)
	  FROM information_schema.columns WHERE table_schema = 'live' AND table_name = 'tasks'});
my %src = (
	fdw => "SELECT $cols FROM live.tasks WHERE state IN ('FINISHED', 'FAILED')",
	first => "SELECT $cols FROM raydar.task_history WHERE cluster = 'first'",
	incr => "SELECT $cols FROM raydar.task_history WHERE cluster = 'incr'");

# Every row of every source, rendered as text in one order: identical.
sub digest
{
	my ($q, $setting) = @_;
	return $node->safe_psql('postgres', ($setting // '') . qq{
		SELECT count(*) || ' ' || md5(string_agg(t::text, E'\\n' ORDER BY t.task_id, t.attempt_number))
		  FROM ($q) t});
}

sub compare_all
{
	my ($label, $setting) = @_;
	my %d = map { $_ => digest($src{$_}, $setting) } keys %src;
	like($d{fdw}, qr/^$n [0-9a-f]{32}$/, "$label: the FDW scan reads $n rows");
	is($d{first}, $d{fdw}, "$label: first-track history equals the FDW scan, every column");
	is($d{incr}, $d{fdw}, "$label: incremental history equals the FDW scan, every column");
	# And by value (jsonb equality), both ways, as a second opinion.
	for my $h ('first', 'incr')
	{
		is($node->safe_psql('postgres', qq{
			SELECT (SELECT count(*) FROM (($src{fdw}) EXCEPT ALL ($src{$h})) a)
			    || ' ' || (SELECT count(*) FROM (($src{$h}) EXCEPT ALL ($src{fdw})) b)}),
		   '0 0', "$label: $h history and the FDW scan hold the same rows");
	}
}

compare_all('cache 64');

# The whole view reads back (a corrupted jsonb fails here).
is($node->safe_psql('postgres', q{SELECT count(*) FROM raydar.tasks WHERE NOT live AND required_resources::text <> ''}),
   2 * $n, 'every history row of raydar.tasks reads back');

# The cache forced to one entry: the collector and the scan replace it on
# nearly every value.
$node->safe_psql('postgres', q{ALTER SYSTEM SET raydar.jsonb_cache_entries = 1; SELECT pg_reload_conf()});
$node->safe_psql('postgres', q{
	SELECT raydar.untrack('first'); DELETE FROM raydar.task_history WHERE cluster = 'first';
	SELECT raydar.track('first');});
ok($node->poll_query_until('postgres', "SELECT (" . $hist_q->('first') . ") = $n"),
   'cache of one entry: first track written again');
is($node->safe_psql('postgres', 'SHOW raydar.jsonb_cache_entries'), '1', 'the setting is in force');
compare_all('cache 1', 'SET raydar.jsonb_cache_entries = 1;');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM raydar.collector_errors}), '0', 'no collector error at any point');

$node->stop;
done_testing();
