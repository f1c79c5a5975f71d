# 120_upgrade.pl
#	A database created by raydar 0.1 (the frozen src/released script, what
#	every database made before versions existed has) is updated by
#	ALTER EXTENSION raydar UPDATE to the schema of a fresh install, with
#	every row kept. Until then the new library refuses to scan or collect
#	there, naming both versions and the command to run, and writes nothing.
use strict;
use warnings;
use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RaySim;
use Test::More;

my $repo = "$FindBin::RealBin/../..";
my ($current) = slurp_file("$repo/raydar.control") =~ /^default_version\s*=\s*'([^']+)'/m;
ok(defined $current && $current ne '0.1', "the current version ($current) is not the frozen 0.1");

# The frozen script is installed unchanged.
my $sharedir = `pg_config --sharedir`;
chomp $sharedir;
my ($sum) = slurp_file("$repo/src/released/SHA256SUMS") =~ /^([0-9a-f]{64})\s+\*?raydar--0\.1\.sql$/m;
is(sha256_hex(slurp_file("$sharedir/extension/raydar--0.1.sql")), $sum,
   'the installed raydar--0.1.sql is the frozen one (src/released/SHA256SUMS)');

my $sim = RaySim->new(scenario => 'many', scenario_params => { count => 400 }, speed => 0, name => 'upgrade');
my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'raydar'
raydar.database = 'up'
raydar.poll_interval = '200ms'
timezone = 'UTC'
});
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE up; CREATE DATABASE fresh;');
my $port = $sim->grpc_port;
$node->safe_psql('up', qq{
	CREATE EXTENSION raydar VERSION '0.1';
	CREATE SERVER ray FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:$port');
	CREATE SCHEMA ray_live;
	IMPORT FOREIGN SCHEMA ray LIMIT TO (tasks) FROM SERVER ray INTO ray_live;
	SELECT raydar.track('ray');});
is($node->safe_psql('up', q{SELECT extversion FROM pg_extension WHERE extname = 'raydar'}), '0.1', 'installed as 0.1');

# The new library refuses the old SQL objects: a scan errors, the collector
# logs the same error at each poll and writes nothing.
my ($ret, $out, $err) = $node->psql('up', 'SELECT count(*) FROM ray_live.tasks');
like($err, qr/raydar's SQL objects in database "up" are version 0\.1, but the raydar library is version \Q$current\E/,
	 'a scan names both versions');
like($err, qr/HINT:\s+Run ALTER EXTENSION raydar UPDATE in database "up"\./, 'and the command to run');
my $log_from = -s $node->logfile;
ok(wait_for_log($node, qr/are version 0\.1, but the raydar library/, $log_from),
   'the collector reports the mismatch in the server log');
sleep 1;
is($node->safe_psql('up', q{
	SELECT (SELECT count(*) FROM raydar.task_history) || ' ' || (SELECT count(*) FROM raydar.task_live) || ' '
	    || (SELECT count(*) FROM raydar.collector_errors) || ' '
	    || (SELECT count(*) FROM raydar.collector_status WHERE last_poll_at IS NOT NULL)}),
   '0 0 0 0', 'the collector wrote no row while the versions differ');

# Hold the collector while rows are compared (it would start writing as
# soon as the versions match); it is switched on again at the end.
$node->safe_psql('postgres', q{ALTER SYSTEM SET raydar.collector = off; SELECT pg_reload_conf();});

# Fill 0.1's tables as its users did: history of today and weeks ago (in
# partitions made at install and later), live tasks, entity history,
# errors, metrics tables, metadata, settings.
$node->safe_psql('up', q{
	SELECT raydar._add_partitions('raydar', 'task_history', ARRAY[now() - interval '22 days', now() - interval '21 days', now() - interval '20 days']);
	INSERT INTO raydar.task_history (task_id, attempt_number, name, state, job_id, type, error_type, error_message,
	                                 required_resources, events, creation_time, start_time, end_time, cluster)
	SELECT lpad(to_hex(i), 16, '0') || '01000000', i % 3, 'task ' || i || ' ✓', CASE WHEN i % 10 = 0 THEN 'FAILED' ELSE 'FINISHED' END,
	       '01000000', 'NORMAL_TASK', CASE WHEN i % 10 = 0 THEN 'TASK_EXECUTION_EXCEPTION' END,
	       CASE WHEN i % 10 = 0 THEN repeat('bad ', i % 50) || 'ünïcode' END,
	       jsonb_build_object('CPU', i % 4, 'GPU', 0.5), jsonb_build_array(jsonb_build_object('state', 'FINISHED', 'created_ms', i)),
	       now() - make_interval(days => (i % 2) * 21, secs => i + 10), now() - make_interval(days => (i % 2) * 21, secs => i + 5),
	       now() - make_interval(days => (i % 2) * 21, secs => i % 3000), CASE WHEN i % 7 = 0 THEN 'other' ELSE 'ray' END
	  FROM generate_series(1, 5000) i;
	INSERT INTO raydar.task_live (task_id, attempt_number, state, cluster) VALUES ('ab01', 0, 'RUNNING', 'ray');
	INSERT INTO raydar.job_history (job_id, status, metadata, cluster) VALUES ('01000000', 'RUNNING', '{"k": "v"}', 'ray');
	INSERT INTO raydar.node_history (node_id, state, labels, cluster) VALUES ('n1', 'ALIVE', '{"zone": "ß"}', 'ray');
	INSERT INTO raydar.actor_history (actor_id, state, cluster) VALUES ('a1', 'DEAD', 'ray');
	INSERT INTO raydar.collector_errors (server, message) VALUES ('ray', 'an error from 0.1');
	INSERT INTO raydar.task_metadata (task_id, metadata)
	SELECT lpad(to_hex(i), 16, '0') || '01000000', jsonb_build_object('owner', 'team ' || i) FROM generate_series(1, 200) i;
	SELECT raydar.create_metrics_table('loss', '{"run": "str", "value": "float", "ts": "datetime"}');
	SELECT raydar.update('loss', jsonb_agg(jsonb_build_object('run', 'r' || i, 'value', i / 3.0,
	           'ts', to_char(now() - make_interval(days => i % 40), 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))))
	  FROM generate_series(1, 2000) i;
	SELECT raydar.set_retention('raydar.task_history', interval '365 days');});

# Every table's rows: count and digest, over the columns each table has
# before the update (an update may add columns, never lose a value).
my $layout = $node->safe_psql('up', q{
	SELECT c.oid::regclass::text || ' ' || string_agg(quote_ident(a.attname), ',' ORDER BY a.attnum)
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	 WHERE n.nspname IN ('raydar', 'raydar_metrics') AND c.relkind IN ('r', 'p')
	 GROUP BY c.oid ORDER BY 1});
my $known = join(', ', map { my ($t) = split / /; "'$t'" } split /\n/, $layout);
my $digest_sql = join("\nUNION ALL ", map {
	my ($t, $cols) = split / /, $_, 2;
	# The registry gains rows for tables the update adds (metric_samples).
	my $where = $t eq 'raydar.partitioned_tables'
	  ? " WHERE format('%I.%I', schema_name, table_name) IN ($known)" : '';
	"SELECT '$t ' || count(*) || ' ' || coalesce(md5(string_agg(r::text, '|' ORDER BY r::text)), '') FROM (SELECT $cols FROM $t$where) r"
} split /\n/, $layout) . "\nORDER BY 1";
my $before = $node->safe_psql('up', $digest_sql);
like($before, qr/^raydar\.task_history 5000 /m, 'history filled');

($ret, $out, $err) = $node->psql('up', 'ALTER EXTENSION raydar UPDATE');
is("$ret $err", '0 ', 'ALTER EXTENSION raydar UPDATE succeeds');
is($node->safe_psql('up', q{SELECT extversion FROM pg_extension WHERE extname = 'raydar'}), $current,
   "now at $current");
is($node->safe_psql('up', $digest_sql), $before, 'every row of every table is kept');

# The schema of the extension's objects equals a fresh install's.
$node->safe_psql('fresh', 'CREATE EXTENSION raydar');
my $schema_sql = q{
WITH m AS (
  SELECT d.classid, d.objid, d.objsubid
    FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'raydar'
   WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e')
SELECT string_agg(line, E'\n' ORDER BY line) FROM (
SELECT pg_describe_object(m.classid, m.objid, m.objsubid) || ' :: ' || coalesce(CASE m.classid
  WHEN 'pg_proc'::regclass THEN
    (SELECT CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid) ELSE p.prokind::text END
            || ' acl=' || coalesce(p.proacl::text, '-') FROM pg_proc p WHERE p.oid = m.objid)
  WHEN 'pg_class'::regclass THEN
    (SELECT format('kind=%s persistence=%s rls=%s acl=%s options=%s partkey=%s',
                   c.relkind, c.relpersistence, c.relrowsecurity, coalesce(c.relacl::text, '-'),
                   coalesce(c.reloptions::text, '-'), coalesce(pg_get_partkeydef(c.oid), '-'))
       || ' columns=' || coalesce((SELECT string_agg(format('%I %s%s%s%s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                                          CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
                                          coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), ''),
                                          coalesce(' comment ' || col_description(c.oid, a.attnum), ''),
                                          coalesce(' acl ' || a.attacl::text, '')), ', ' ORDER BY a.attnum)
                                     FROM pg_attribute a LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                                    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '-')
       || ' constraints=' || coalesce((SELECT string_agg(k.conname || ' ' || pg_get_constraintdef(k.oid), '; ' ORDER BY k.conname)
                                         FROM pg_constraint k WHERE k.conrelid = c.oid), '-')
       || ' indexes=' || coalesce((SELECT string_agg(pg_get_indexdef(i.indexrelid), '; ' ORDER BY pg_get_indexdef(i.indexrelid))
                                     FROM pg_index i WHERE i.indrelid = c.oid), '-')
       || ' triggers=' || coalesce((SELECT string_agg(pg_get_triggerdef(t.oid), '; ' ORDER BY 1)
                                      FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal), '-')
       || ' policies=' || coalesce((SELECT string_agg(format('%s %s %s %s', po.polname, po.polcmd, pg_get_expr(po.polqual, po.polrelid),
                                                              pg_get_expr(po.polwithcheck, po.polrelid)), '; ' ORDER BY 1)
                                      FROM pg_policy po WHERE po.polrelid = c.oid), '-')
       || CASE WHEN c.relkind IN ('v', 'm') THEN ' view=' || pg_get_viewdef(c.oid) ELSE '' END
       || coalesce(' sequence=' || (SELECT format('%s %s %s %s %s %s', s.seqtypid::regtype, s.seqstart, s.seqincrement,
                                                  s.seqmin, s.seqmax, s.seqcycle) FROM pg_sequence s WHERE s.seqrelid = c.oid), '')
       FROM pg_class c WHERE c.oid = m.objid)
  WHEN 'pg_namespace'::regclass THEN (SELECT coalesce(n.nspacl::text, '-') FROM pg_namespace n WHERE n.oid = m.objid)
  WHEN 'pg_foreign_data_wrapper'::regclass THEN
    (SELECT format('%s %s %s %s', w.fdwhandler::regproc, w.fdwvalidator::regproc, w.fdwoptions, w.fdwacl)
       FROM pg_foreign_data_wrapper w WHERE w.oid = m.objid)
  WHEN 'pg_type'::regclass THEN (SELECT format('%s %s', t.typtype, t.typacl) FROM pg_type t WHERE t.oid = m.objid)
  ELSE '' END, '')
  || coalesce(' comment=' || obj_description(m.objid, (SELECT relname FROM pg_class WHERE oid = m.classid)), '') AS line
  FROM m
UNION ALL
SELECT 'extension config: ' || coalesce(string_agg(u.c::regclass::text || ' ' || u.cond, ', ' ORDER BY u.c::regclass::text), '-')
  FROM pg_extension e, unnest(e.extconfig, e.extcondition) u(c, cond) WHERE e.extname = 'raydar'
UNION ALL
SELECT 'extension: ' || format('%s %s %s', e.extnamespace::regnamespace, e.extrelocatable, e.extversion)
  FROM pg_extension e WHERE e.extname = 'raydar') lines};
my $upgraded = $node->safe_psql('up', $schema_sql);
my $fresh = $node->safe_psql('fresh', $schema_sql);
cmp_ok(scalar(() = $fresh =~ /\n/g), '>', 50, 'the description covers the extension (' . (1 + (() = $fresh =~ /\n/g)) . ' lines)');
if (!ok($upgraded eq $fresh, "the updated database's raydar objects equal a fresh $current install's"))
{
	my $dir = tempdir(CLEANUP => 1);
	PostgreSQL::Test::Utils::append_to_file("$dir/updated", "$upgraded\n");
	PostgreSQL::Test::Utils::append_to_file("$dir/fresh", "$fresh\n");
	diag(scalar `diff -u $dir/fresh $dir/updated | cut -c1-4000 | head -80`);
}

# After the update the library serves the database: scans and the collector.
# 0.2 collects with the user mapping of the role that tracked the server
# (for 0.1's servers, the role that ran the update): docs/install.md.
$node->safe_psql('up', 'CREATE USER MAPPING FOR CURRENT_USER SERVER ray');
$node->safe_psql('postgres', q{ALTER SYSTEM SET raydar.collector = on; SELECT pg_reload_conf();});
($ret, $out, $err) = $node->psql('up', 'SELECT count(*) > 0 FROM ray_live.tasks');
is("$out|$err", 't|', 'a scan works after the update');
ok($node->poll_query_until('up', q{SELECT count(*) = 400 FROM raydar.task_history WHERE cluster = 'ray' AND name = 'many_task'}),
   'the collector fills history after the update');
is($node->safe_psql('up', q{SELECT count(*) - count(DISTINCT (cluster, task_id, attempt_number, end_time)) FROM raydar.task_history}),
   '0', 'without duplicates');
is($node->safe_psql('up', q{SELECT count(*) FROM raydar.task_history WHERE name LIKE 'task % ✓'}), '5000',
   "0.1's rows are still there");

# SQL objects newer than the library (an older package reinstalled):
# versions compare as numbers, and the hint says which library to install.
$node->safe_psql('fresh', q{UPDATE pg_extension SET extversion = '0.10' WHERE extname = 'raydar';
	CREATE SERVER ray FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:} . $port . q{');
	CREATE FOREIGN TABLE t (task_id text) SERVER ray OPTIONS (resource 'tasks');});
($ret, $out, $err) = $node->psql('fresh', 'SELECT count(*) FROM t');
like($err, qr/are version 0\.10, but the raydar library is version \Q$current\E.*HINT:\s+The library is older than the SQL objects: install raydar 0\.10/s,
	 'SQL objects of a newer version: the hint says to install that library');

$node->stop;
$sim->stop;
done_testing();

# wait_for_log(node, regex, offset): the server log shows regex after offset (20 s).
sub wait_for_log
{
	my ($n, $re, $from) = @_;
	for (1 .. 200)
	{
		my $log = slurp_file($n->logfile);
		return 1 if substr($log, $from) =~ $re;
		select(undef, undef, undef, 0.1);
	}
	return 0;
}
