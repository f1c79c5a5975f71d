# 060_docs_cover_sql.pl
#	Docs are part of the product: every column of the tasks table, every
#	function in schema raydar and every FDW option must be documented in
#	docs/. Fails when a column or function is added without its docs.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $docs = '';
for my $f (glob('docs/*.md'), 'README.md')
{
	$docs .= slurp_file($f);
}

my $node = PostgreSQL::Test::Cluster->new('docs');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION raydar;
	CREATE SERVER s FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:1', ray_version '2.40.0');
	CREATE SCHEMA live;
	IMPORT FOREIGN SCHEMA ray FROM SERVER s INTO live;
});

for my $table (qw(tasks actors nodes jobs workers placement_groups))
{
	my @columns = split /\n/, $node->safe_psql('postgres', qq{
		SELECT attname FROM pg_attribute
		 WHERE attrelid = 'live.$table'::regclass AND attnum > 0 ORDER BY attnum});
	cmp_ok(scalar @columns, '>=', 8, "$table has its columns");
	for my $c (@columns)
	{
		like($docs, qr/\|\s*`\Q$c\E`\s*\|/, "$table.$c is in a docs table");
	}
}

my @functions = split /\n/, $node->safe_psql('postgres', q{
	SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
	 WHERE n.nspname = 'raydar' AND p.proname NOT IN ('fdw_handler', 'fdw_validator')
	   AND p.proname NOT LIKE '\_%'   -- internal helpers
	 ORDER BY 1});
for my $f (@functions)
{
	like($docs, qr/raydar\.\Q$f\E\(/, "function raydar.$f() is documented");
}

for my $opt (qw(address ray_version timeout_ms connect_timeout_ms cache_ttl_ms token resource))
{
	like($docs, qr/`\Q$opt\E`/, "option $opt is documented");
}

$node->stop;
done_testing();
