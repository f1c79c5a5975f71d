# 070_metrics_cron.pl
#	Retention in a real pg_cron: a non-superuser member of raydar_admin
#	schedules raydar.run_maintenance() with Debian's pg_cron, and the
#	expired partitions of a metrics table go while today's rows stay.
#	Also: maintenance never waits long for a lock. With a reader holding
#	the table, run_maintenance() reports 'skipped' within its lock_timeout
#	while writers keep inserting, and the next run does the work. Writers
#	share the partitions' advisory lock (one writer's open transaction
#	holds no other back, also one making a partition), make partitions one
#	at a time under a second lock without ever deadlocking, and
#	maintenance waits for them up to its lock_timeout.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('metrics_cron');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'raydar,pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16
timezone = 'UTC'
});
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION raydar;
	CREATE EXTENSION pg_cron;
	CREATE ROLE maint LOGIN IN ROLE raydar_admin;
	GRANT USAGE ON SCHEMA cron TO maint;
	CREATE ROLE trainer LOGIN IN ROLE raydar_writer;
});
my $cron_version = $node->safe_psql('postgres',
	q{SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'});
note "pg_cron $cron_version";

# As the writer: a table with rows from three days in 2020 (update makes
# their partitions) and one from now.
$node->safe_psql('postgres', q{
	SELECT raydar.create_metrics_table('cron_loss', '{"node": "str", "loss": "float", "ts": "datetime"}');
	SELECT raydar.update('cron_loss', '[
		{"node": "a", "loss": 1.0, "ts": "2020-01-15T10:00:00Z"},
		{"node": "a", "loss": 0.9, "ts": "2020-01-16T10:00:00Z"},
		{"node": "a", "loss": 0.8, "ts": "2020-01-17T10:00:00Z"},
		{"node": "a", "loss": 0.1}]');
}, extra_params => [ '-U', 'trainer' ]);
my $old_parts = q{SELECT count(*) FROM pg_class WHERE relname LIKE 'cron\_loss\_p2020%'};
is($node->safe_psql('postgres', $old_parts), '3', 'update made the three 2020 partitions');

$node->safe_psql('postgres', q{SELECT raydar.set_retention('cron_loss', interval '30 days')},
	extra_params => [ '-U', 'maint' ]);

# --- A reader holds the table: maintenance gives up quickly, writers go on.
my $reader = $node->background_psql('postgres');
$reader->query_safe('BEGIN; SELECT count(*) FROM raydar_metrics.cron_loss;');
my $t0 = time;
my $out = $node->safe_psql('postgres',
	q{SELECT action || ':' || detail FROM raydar.run_maintenance(interval '200 ms') WHERE partition_name LIKE '%p2020%' ORDER BY partition_name},
	extra_params => [ '-U', 'maint' ]);
my $elapsed = time - $t0;
is($out, join("\n", ('skipped:lock timeout, retried by the next run') x 3),
	'run_maintenance skips the drops it cannot lock');
cmp_ok($elapsed, '<', 5, "and returns promptly (${elapsed}s)");
is($node->safe_psql('postgres', $old_parts), '3', 'nothing was dropped');
is($node->safe_psql('postgres', q{SELECT raydar.update('cron_loss', '[{"node": "b", "loss": 0.2}]')},
		extra_params => [ '-U', 'trainer' ]),
	'1', 'a writer inserts while the reader holds the table');
$reader->query_safe('COMMIT;');
$reader->quit;

# --- Writers share the partitions' lock while their partitions exist.
my $writer = $node->background_psql('postgres');
$writer->query_safe(q{BEGIN; SELECT raydar._add_partitions('raydar_metrics', 'cron_loss', ARRAY[now()]);});
is($node->safe_psql('postgres', q{SELECT string_agg(mode || ' ' || granted, ',') FROM pg_locks
	WHERE locktype = 'advisory' AND objid = raydar._partitions_lock('raydar_metrics', 'cron_loss')::oid}),
	'ShareLock true', 'a writer whose partition exists holds the lock shared until it commits');
is($node->safe_psql('postgres', q{SET statement_timeout = '5s';
	SELECT raydar.update('cron_loss', '[{"node": "c", "loss": 0.3}]')}, extra_params => [ '-U', 'trainer' ]),
	'1', 'another writer is not held back by it');
is($node->safe_psql('postgres', q{SET statement_timeout = '5s';
	SELECT raydar._add_partitions('raydar_metrics', 'cron_loss', ARRAY['2030-01-01 00:00+00'::timestamptz])}),
	'cron_loss_p20300101', 'nor is a writer making a new partition');
is($node->safe_psql('postgres',
	q{SELECT action || ':' || detail FROM raydar.run_maintenance(interval '200 ms') WHERE table_name = 'raydar_metrics.cron_loss'},
	extra_params => [ '-U', 'maint' ]),
	'skipped:another session is changing its partitions', 'maintenance waits for the writer, then skips the table');

# Two writers, each holding the lock shared from an earlier call in its
# transaction, then each making a partition: the second waits for the
# first to commit (makers one at a time) and neither asks for the shared
# lock alone, which made them wait for each other (a deadlock, one of
# the two transactions cancelled) before.
my $writer2 = $node->background_psql('postgres');
$writer2->query_safe(q{BEGIN; SELECT raydar._add_partitions('raydar_metrics', 'cron_loss', ARRAY[now()]);});
is($writer->query_safe(q{SET statement_timeout = '5s';
	SELECT raydar._add_partitions('raydar_metrics', 'cron_loss', ARRAY['2031-01-01 00:00+00'::timestamptz]);}),
	'cron_loss_p20310101', 'a writer holding the lock shared makes a partition while another writer holds it too');
$writer2->query_until(qr/making/, qq{\\echo making\nSELECT raydar._add_partitions('raydar_metrics', 'cron_loss', ARRAY['2031-01-02 00:00+00'::timestamptz]);\n});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_locks
	WHERE locktype = 'advisory' AND classid = raydar._partitions_lock('raydar_metrics', 'cron_loss')::oid
	  AND objid = 1 AND objsubid = 2 AND NOT granted}),
	'the second writer making a partition waits for the first maker');
$writer->query_safe('COMMIT;');
$writer2->query_until(qr/cron_loss_p20310102/, '');
$writer2->query_safe('COMMIT;');
is($node->safe_psql('postgres', q{SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_inherits i
	JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'raydar_metrics.cron_loss'::regclass AND c.relname LIKE '%p2031%'}),
	'cron_loss_p20310101,cron_loss_p20310102', 'then makes its own once the first has committed: both made, no deadlock');
unlike(slurp_file($node->logfile), qr/deadlock detected/, 'the server logged no deadlock');
$writer->quit;
$writer2->quit;
is($node->safe_psql('postgres', q{SELECT raydar._add_partitions('raydar_metrics', 'cron_loss', ARRAY['2030-01-01 00:00+00'::timestamptz])}),
	'', 'a partition made is not made again');

# --- pg_cron runs maintenance as the non-superuser admin.
my $schedule = ($cron_version =~ /^1\.[0-4]/) ? '* * * * *' : '1 seconds';
note "schedule '$schedule'";
$node->safe_psql('postgres',
	qq{SELECT cron.schedule('raydar-maintenance', '$schedule', 'SELECT raydar.run_maintenance()')},
	extra_params => [ '-U', 'maint' ]);
ok($node->poll_query_until('postgres', "SELECT ($old_parts) = 0", 't'),
	'pg_cron dropped the expired partitions');
ok($node->poll_query_until('postgres',
		q{SELECT count(*) > 0 FROM cron.job_run_details WHERE status = 'succeeded'}, 't'),
	'the cron job succeeded');
is($node->safe_psql('postgres', q{SELECT DISTINCT username FROM cron.job}), 'maint',
	'the job runs as the raydar_admin member, not a superuser');
is($node->safe_psql('postgres', q{SELECT string_agg(node || '=' || loss, ',' ORDER BY node) FROM raydar_metrics.cron_loss}),
	'a=0.1,b=0.2,c=0.3', "today's rows stay");
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_inherits WHERE inhparent = 'raydar_metrics.cron_loss'::regclass}),
	'9', 'yesterday, today and 7 days ahead remain');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cron.job_run_details WHERE status = 'failed'}),
	'0', 'no cron run failed');

$node->stop;
done_testing();
