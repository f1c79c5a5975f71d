# 060_docs_cover_sql.pl
#	Docs are part of the product: every column of the tasks table, every
#	function in schema raydar and every FDW option must be documented in
#	docs/. Fails when a column or function is added without its docs.
#	And every ```sql block of README.md and docs/*.md runs, as written,
#	against the Ray simulator, unless the line before it says why it
#	cannot: <!-- docs-test: skip: REASON -->.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RaySim;
use Test::More;

my $docs = '';
for my $f (glob('docs/*.md'), 'README.md')
{
	$docs .= slurp_file($f);
}

my $node = PostgreSQL::Test::Cluster->new('docs');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
# As docs/operations.md and docs/metrics.md set it up: the collector keeps
# the history answers.md reads; pg_cron connects over the Unix socket
# (cron.host), as on a server that listens on no TCP port.
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'raydar,pg_cron'
raydar.database = 'docs_answers'
raydar.poll_interval = '200ms'
cron.database_name = 'postgres'
cron.host = '@{[ $node->host ]}'
timezone = 'UTC'
});
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

# ---------------------------------------------------------------------------
# Every SQL block runs. Each file runs in a database of its own, block after
# block as a reader would type them, after the context the file assumes
# (a reader of cluster.md has connected a server as tasks.md shows). The
# only edits: addresses point at the simulator and a file path at the
# vectors.
# ---------------------------------------------------------------------------
my $sim = RaySim->new(scenario => 'mixed', speed => 0, dashboard => 1, name => 'docs');
$sim->admin('POST', '/advance', { ms => 600_000 });	# play the scenario out
my $nested = RaySim->new(scenario => 'nested', speed => 0, seed => 3, name => 'docs_nested');
$nested->admin('POST', '/advance', { ms => 600_000 });
my $addr = $sim->address;
my $vectors = $ENV{RAYDAR_VECTORS} || "$FindBin::RealBin/../fixtures/ray-wire";
my $connect = qq{CREATE SERVER ray FOREIGN DATA WRAPPER raydar OPTIONS (address '$addr');
	CREATE SCHEMA ray_live; IMPORT FOREIGN SCHEMA ray FROM SERVER ray INTO ray_live;};
my %context = (
	'README.md' => '',
	'docs/install.md' => '',
	'docs/metrics.md' => 'CREATE EXTENSION IF NOT EXISTS pg_cron;',
	'docs/cluster.md' => "CREATE EXTENSION raydar; $connect",
	'docs/operations.md' => 'DROP USER MAPPING FOR CURRENT_USER SERVER ray;',
	'docs/answers.md' => "CREATE EXTENSION raydar; $connect
		CREATE SERVER nested FOREIGN DATA WRAPPER raydar OPTIONS (address '@{[ $nested->address ]}');
		CREATE USER MAPPING FOR CURRENT_USER SERVER ray;
		CREATE USER MAPPING FOR CURRENT_USER SERVER nested;
		SELECT raydar.track('ray'), raydar.track('nested');");
my $roles_before = $node->safe_psql('postgres', 'SELECT string_agg(quote_ident(rolname), \',\') FROM pg_roles');

for my $file ('README.md', sort glob('docs/*.md'))
{
	my @lines = split /\n/, slurp_file($file);
	my @blocks;
	for (my $i = 0; $i < @lines; $i++)
	{
		next unless $lines[$i] =~ /^(\s*)```sql\s*$/;
		my $indent = $1;
		my ($j, @sql) = ($i + 1);
		push @sql, $lines[$j++] =~ s/^\Q$indent\E//r while $j < @lines && $lines[$j] !~ /^\s*```\s*$/;
		my $k = $i - 1;
		$k-- while $k >= 0 && $lines[$k] =~ /^\s*$/;
		my ($skip) = $k >= 0 ? $lines[$k] =~ /<!-- docs-test: skip: (.*\S)\s*-->/ : ();
		push @blocks, { line => $i + 1, sql => join("\n", @sql), skip => $skip };
		$i = $j;
	}
	next unless @blocks;
	my $db = $file eq 'docs/metrics.md' ? 'postgres' : 'docs_' . ($file =~ s{.*/|\.md$}{}gr =~ s/\W/_/gr);
	$db = 'docs_readme' if $file eq 'README.md';
	# operations.md tracks a server "in the database raydar.database names":
	# answers.md's, which has the same context (its user mapping is the one
	# operations.md's first block makes).
	my $shared_db = $file eq 'docs/operations.md';
	$db = 'docs_answers' if $shared_db;
	$node->safe_psql('postgres', "CREATE DATABASE $db") unless $db eq 'postgres' || $shared_db;
	my $ctx = $context{$file} // 'CREATE EXTENSION raydar;';
	$node->safe_psql($db, $ctx) if $ctx ne '';
	if ($file eq 'docs/answers.md')
	{
		ok($node->poll_query_until($db, q{
			SELECT count(DISTINCT cluster) = 2 FROM raydar.task_history}), 'answers.md: the collector keeps both clusters');
	}
	for my $b (@blocks)
	{
		my $where = "$file:$b->{line}";
		if (defined $b->{skip})
		{
			cmp_ok(length $b->{skip}, '>', 10, "$where is not run, because: $b->{skip}");
			next;
		}
		my $sql = $b->{sql};
		$sql =~ s/address '[^']*'/address '$addr'/g;
		$sql =~ s/dashboard_url '[^']*'(?:,\s*ca_file '[^']*')?/"dashboard_url '" . $sim->dashboard_url . "'"/ge;
		$sql =~ s{'/tmp/reply\.bin'}{'$vectors/ray-2.40/get_task_events_reply.bin'}g;
		my ($ret, $out, $err) = $node->psql($db, $sql, on_error_stop => 1);
		ok($ret == 0 && $err !~ /ERROR/, "$where runs") or diag("$where:\n$sql\n---\n$err");
	}
	# answers.md's database serves operations.md too (above); dropped after it.
	$node->safe_psql('postgres', "DROP DATABASE $db WITH (FORCE)")
	  unless $db eq 'postgres' || $file eq 'docs/answers.md';
	# Roles are cluster-wide: the next file may create the same ones.
	$node->safe_psql('postgres', qq{
		DO \$\$DECLARE r name; BEGIN
		FOR r IN SELECT rolname FROM pg_roles WHERE NOT quote_ident(rolname) = ANY (string_to_array('$roles_before', ','))
		LOOP EXECUTE format('DROP OWNED BY %I; DROP ROLE %I', r, r); END LOOP; END\$\$;});
}

$node->stop;
done_testing();
