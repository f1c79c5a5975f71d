# 110_backup_restore.pl
#	pg_dump carries every row of user data, and a restore into a fresh
#	database (the extension made by the restore) is a working raydar:
#	history from today and from weeks ago, live tasks, status, errors,
#	entity history, metrics tables, task metadata, the registry's
#	settings, tracked servers; the restored collector resumes without
#	writing anything twice. The restore follows docs/operations.md.
use strict;
use warnings;
use FindBin;
use IPC::Run ();
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RaySim;
use Test::More;

my $n = 6000;	# finished attempts per cluster
my $day_ms = 86_400_000;
# Two clusters: one whose tasks ended three weeks ago, one today.
my $old = RaySim->new(scenario => 'many', scenario_params => { count => $n }, speed => 0,
	epoch_ms => int(time() * 1000) - 21 * $day_ms, name => 'backup_old');
my $new = RaySim->new(scenario => 'many', scenario_params => { count => $n }, speed => 0,
	name => 'backup_new');

my $node = PostgreSQL::Test::Cluster->new('backup');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'raydar'
raydar.database = 'postgres'
raydar.poll_interval = '200ms'
timezone = 'UTC'
});
$node->start;
my ($op, $np) = ($old->grpc_port, $new->grpc_port);
$node->safe_psql('postgres', qq{
	CREATE EXTENSION raydar;
	CREATE SERVER ray_old FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:$op');
	CREATE SERVER ray_new FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:$np');
	CREATE USER MAPPING FOR CURRENT_USER SERVER ray_old;
	CREATE USER MAPPING FOR CURRENT_USER SERVER ray_new;
	SELECT raydar.track('ray_old');
	SELECT raydar.track('ray_new');});
ok($node->poll_query_until('postgres', "SELECT count(*) = 2 * $n FROM raydar.task_history", 't'),
   'the collector filled history from both clusters');
ok($node->poll_query_until('postgres', q{
	SELECT (SELECT count(*) FROM raydar.node_history) > 0 AND (SELECT count(*) FROM raydar.job_history) > 0
	   AND (SELECT count(*) FROM raydar.task_live) > 0}), 'entity history and live tasks too');
is($node->safe_psql('postgres', q{
	SELECT count(DISTINCT (end_time AT TIME ZONE 'UTC')::date) >= 2
	   AND min(end_time) < now() - interval '14 days' AND max(end_time) > now() - interval '2 days'
	  FROM raydar.task_history}), 't', 'history holds tasks that ended today and weeks ago');

# Metrics (partitions of several days), metadata, settings, an error row.
$node->safe_psql('postgres', q{
	SELECT raydar.create_metrics_table('loss', '{"run": "str", "step": "int", "value": "float", "ts": "datetime"}');
	SELECT raydar.update('loss', jsonb_agg(jsonb_build_object(
	           'run', 'r' || (i % 3) || ' ü', 'step', i, 'value', i / 7.0,
	           'ts', to_char(now() - make_interval(days => i % 30), 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))))
	  FROM generate_series(1, 3000) i;
	-- Metadata names its run: the same task id can be in both clusters.
	INSERT INTO raydar.task_metadata (cluster, incarnation, task_id, metadata)
	SELECT cluster, incarnation, task_id,
	       jsonb_build_object('owner', 'team-' || (row_number() OVER ()) % 5, 'tags', jsonb_build_array('a', 'ß'))
	  FROM (SELECT DISTINCT cluster, incarnation, task_id FROM raydar.task_history ORDER BY 3, 1, 2 LIMIT 500) t;
	SELECT raydar.set_retention('raydar.task_history', interval '400 days');
	SELECT raydar.set_retention('loss', interval '90 days');
	INSERT INTO raydar.collector_errors (server, message) VALUES ('ray_old', 'an old error'), ('ray_new', 'another');});

# Stop writing so that both databases can be compared row for row.
$node->safe_psql('postgres', q{ALTER SYSTEM SET raydar.collector = off; SELECT pg_reload_conf();});
sleep 1;

# Every ordinary table of the extension is dumped with its rows, and no
# partition is a member (a member's rows are never dumped).
is($node->safe_psql('postgres', q{
	SELECT coalesce(string_agg(c.oid::regclass::text, ', ' ORDER BY 1), 'none')
	  FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
	  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'raydar'
	 WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e'
	   AND ((c.relkind IN ('r', 'S') AND NOT c.oid = ANY (e.extconfig)) OR c.relispartition)}),
   'none', 'every table of the extension is marked for pg_dump; no partition is a member');

# What each table holds: row count and a digest of the rows.
my $digest_sql = q{
	SELECT string_agg(format('%s %s', c.oid::regclass,
	                         (xpath('/row/x/text()', query_to_xml(format(
	                             'SELECT count(*) || '' '' || coalesce(md5(string_agg(t::text, ''|'' ORDER BY t::text)), '''') AS x FROM %s t',
	                             c.oid::regclass), false, true, '')))[1]::text), E'\n' ORDER BY c.oid::regclass::text)
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE n.nspname IN ('raydar', 'raydar_metrics') AND c.relkind IN ('r', 'p')};
my $before = $node->safe_psql('postgres', $digest_sql);
like($before, qr/^raydar\.task_history_p\d{8} \d+ /m, 'the digest lists history partitions');

my $dump = $node->basedir . '/raydar.dump';
my $list = $node->basedir . '/restore.list';
my ($out, $err);
ok(run_log([ 'pg_dump', '-Fc', '-d', $node->connstr('postgres'), '-f', $dump ]), 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
# docs/operations.md: leave out the indexes of history partitions, which
# attaching them to the extension's table has already made.
IPC::Run::run([ 'pg_restore', '-l', $dump ], '|',
	[ 'grep', '-v', '-E', ' (INDEX|CONSTRAINT) raydar [a-z0-9_]+_p[0-9]{8}[ _]' ], '>', $list)
  or die 'pg_restore -l failed';
ok(IPC::Run::run([ 'pg_restore', '-L', $list, '-d', $node->connstr('restored'), $dump ], '>', \$out, '2>', \$err),
   'pg_restore exits 0');
is($err, '', 'pg_restore reports no error');

is($node->safe_psql('restored', $digest_sql), $before, 'every table has the same rows after the restore');
is($node->safe_psql('restored', q{SELECT retention FROM raydar.partitioned_tables WHERE table_name = 'task_history'}),
   '400 days', "the registry keeps the user's retention for history");
my $attached = q{
	SELECT count(*) FROM pg_inherits i
	 WHERE i.inhparent IN ('raydar.task_history_pkey'::regclass, 'raydar.task_history_cluster_job_id_end_time_idx'::regclass)};
my $attached_before = $node->safe_psql('postgres', $attached);
cmp_ok($attached_before, '>=', 4, "$attached_before partition indexes in the dumped database");
is($node->safe_psql('restored', $attached), $attached_before, 'every history partition has its key and index again');
is($node->safe_psql('restored', q{INSERT INTO raydar.collector_errors (server, message) VALUES ('x', 'y')
	RETURNING id > (SELECT max(id) FROM raydar.collector_errors WHERE message <> 'y')}), 't',
   'the error id sequence continues after the restored rows');
is($node->safe_psql('restored', q{SELECT raydar.update('loss', '[{"run": "after", "step": 1, "value": 0.5}]')}), '1',
   'a restored metrics table takes new rows');

# The collector, pointed at the restored database, resumes: it polls both
# clusters (which still hold every attempt) and writes nothing twice.
my $ingested = $node->safe_psql('restored', q{SELECT sum(tasks_ingested) FROM raydar.collector_status});
$node->safe_psql('postgres', q{ALTER SYSTEM SET raydar.database = 'restored'; ALTER SYSTEM SET raydar.collector = on;});
$node->restart;
my $t0 = $node->safe_psql('restored', 'SELECT now()');
ok($node->poll_query_until('restored', qq{
	SELECT count(*) = 2 FROM raydar.collector_status
	 WHERE last_success_at > '$t0' AND consecutive_failures = 0}), 'the restored collector polls both clusters');
ok($node->poll_query_until('restored', qq{
	SELECT count(*) = 2 FROM raydar.collector_status WHERE last_success_at > '$t0'::timestamptz + interval '1 s'}),
   'and keeps polling');
is($node->safe_psql('restored', q{
	SELECT count(*) - count(DISTINCT (cluster, task_id, attempt_number)) FROM raydar.task_history}), '0',
   '0 duplicates after the restored collector resumed');
is($node->safe_psql('restored', 'SELECT count(*) FROM raydar.task_history'), 2 * $n, 'no attempt lost or added');
is($node->safe_psql('restored', q{SELECT sum(tasks_ingested) FROM raydar.collector_status}), $ingested,
   'the status counts nothing twice');

# And it keeps new work: a third cluster tracked in the restored database.
my $third = RaySim->new(scenario => 'many', scenario_params => { count => 300 }, speed => 0, seed => 7,
	name => 'backup_third');
my $tp = $third->grpc_port;
$node->safe_psql('restored', qq{
	CREATE SERVER ray_third FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:$tp');
	CREATE USER MAPPING FOR CURRENT_USER SERVER ray_third;
	SELECT raydar.track('ray_third');});
ok($node->poll_query_until('restored', q{SELECT count(*) = 300 FROM raydar.task_history WHERE cluster = 'ray_third'}),
   'the restored collector keeps a newly tracked cluster');

$node->stop;
$_->stop for ($old, $new, $third);
done_testing();
