# 081_collector_outage.pl
#	Ray unreachable for 30 s while its tasks keep finishing: the collector
#	records every failed poll, and once Ray answers again it writes every
#	attempt that finished meanwhile, exactly once, with nothing counted
#	as lost. The simulator's clock is driven by hand (speed 0), so which
#	attempts finish when is fixed, not left to timing.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RaySim;
use Test::More;

my $sim = RaySim->new(scenario => 'classic', speed => 0, name => 'outage');
my $node = PostgreSQL::Test::Cluster->new('outage');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'raydar'
raydar.database = 'postgres'
raydar.poll_interval = '200ms'
timezone = 'UTC'
});
$node->start;
my $port = $sim->grpc_port;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION raydar;
	CREATE SERVER ray FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:$port');
	CREATE USER MAPPING FOR CURRENT_USER SERVER ray;
	CREATE SCHEMA live;
	IMPORT FOREIGN SCHEMA ray LIMIT TO (tasks) FROM SERVER ray INTO live;
	SELECT raydar.track('ray');});

my $terminal_q = q{SELECT count(*) FROM live.tasks WHERE state IN ('FINISHED', 'FAILED')};
my $history_q = 'SELECT count(*) FROM raydar.task_history';
my $dups = q{SELECT count(*) - count(DISTINCT (cluster, task_id, attempt_number)) FROM raydar.task_history};

# Part of the example has run: the collector keeps up.
$sim->admin('POST', '/advance', { ms => 1500 });
my $before = $node->safe_psql('postgres', $terminal_q);
my $total_live = $node->safe_psql('postgres',
	q{SELECT count(*) FROM live.tasks WHERE state NOT IN ('FINISHED', 'FAILED')});
cmp_ok($before, '>', 0, "$before attempts finished before the outage");
cmp_ok($total_live, '>', 1, "$total_live attempts still pending or running");
ok($node->poll_query_until('postgres', "SELECT ($history_q) = $before"),
   'history holds them');
ok($node->poll_query_until('postgres', "SELECT count(*) = $total_live FROM raydar.task_live"),
   'task_live holds the rest');

# Ray goes away; meanwhile the whole example finishes.
$sim->fault(mode => 'unavailable');
ok($node->poll_query_until('postgres',
	q{SELECT consecutive_failures >= 1 FROM raydar.collector_status}),
   'the outage is seen');
$sim->admin('POST', '/advance', { ms => 600000 });
sleep 30;
my $failures = $node->safe_psql('postgres', 'SELECT consecutive_failures FROM raydar.collector_status');
# Backoff: 200 ms doubled per failure (0.4, 0.8, ... 25.6 s), so about 7
# polls in 30 s rather than 150; generous bounds for a loaded machine.
cmp_ok($failures, '>=', 4, "30 s down: $failures failed polls in a row");
cmp_ok($failures, '<=', 12, 'fewer than one per interval: the worker backs off');
cmp_ok($node->safe_psql('postgres', q{SELECT extract(epoch FROM backoff) FROM raydar.collector_status}),
	   '>=', 3.2, 'the backoff is visible in collector_status');
cmp_ok($node->safe_psql('postgres', q{SELECT count(*) FROM raydar.collector_errors}), '<', $failures,
	   'a repeated failure is counted, not written to collector_errors each time');
like($node->safe_psql('postgres', 'SELECT last_error FROM raydar.collector_status'),
	 qr/could not connect to Ray GCS/, 'the status says why');
is($node->safe_psql('postgres', $history_q), $before, 'history unchanged while Ray is down');
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'raydar collector'}), '1',
   'the worker kept running');

# A user's row trigger on task_history: the collector then writes through
# SQL INSERT (not its COPY-like bulk path), so the trigger sees every row.
$node->safe_psql('postgres', q{
	CREATE TABLE seen_by_trigger (task_id text, attempt_number int);
	CREATE FUNCTION note_row() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN INSERT INTO seen_by_trigger VALUES (NEW.task_id, NEW.attempt_number); RETURN NEW; END $$;
	CREATE TRIGGER note_row AFTER INSERT ON raydar.task_history FOR EACH ROW EXECUTE FUNCTION note_row();});

# Ray is back: everything that finished meanwhile is written once.
$sim->fault(mode => 'none');
my $after = $node->safe_psql('postgres', $terminal_q);
cmp_ok($after, '>', $before, "$after attempts finished in all");
ok($node->poll_query_until('postgres', "SELECT ($history_q) = $after"),
   'after the outage history holds every finished attempt');
is($node->safe_psql('postgres', $dups), '0', 'no duplicate');
is($node->safe_psql('postgres', q{SELECT count(*) FROM seen_by_trigger}), $after - $before,
   'the trigger on task_history saw every attempt written after the outage');
my $cols = 'task_id, attempt_number, name, state, error_type, end_time';
is($node->safe_psql('postgres', qq{
	SELECT count(*) FROM (
	  (SELECT $cols FROM raydar.task_history EXCEPT
	   SELECT $cols FROM live.tasks WHERE state IN ('FINISHED', 'FAILED'))
	  UNION ALL
	  (SELECT $cols FROM live.tasks WHERE state IN ('FINISHED', 'FAILED') EXCEPT
	   SELECT $cols FROM raydar.task_history)) d}), '0',
   'exactly the attempts Ray holds');
is($node->safe_psql('postgres', q{
	SELECT consecutive_failures || ' ' || (last_error IS NULL) || ' ' || tasks_ingested || ' ' || vanished
	       || ' ' || (backoff IS NULL)
	  FROM raydar.collector_status}), "0 true $after 0 true",
   'status: recovered, every attempt counted once, nothing vanished');
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM raydar.task_live l JOIN raydar.task_history h USING (cluster, task_id, attempt_number)}),
   '0', 'no attempt is both live and in history');

$node->stop;
$sim->stop;
done_testing();
