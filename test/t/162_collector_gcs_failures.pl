# 162_collector_gcs_failures.pl
#	The collector against the GCS as Ray's source has it (issue 16):
#	- failures the GCS writes itself (GcsTaskManager::OnWorkerDead, 1 s after
#	  a worker dies; OnJobFinished, 15 s after its job ends) land in
#	  raydar.task_history as FAILED / WORKER_DIED with Ray's messages and the
#	  worker's or job's end time, replacing the running row;
#	- under Ray's eviction (FINISHED attempts first, then actor tasks, then
#	  the rest) collector_status.dropped_reported is the GCS's
#	  num_status_task_events_dropped and vanished counts exactly the attempts
#	  it saw unfinished that the GCS evicted.
#	Both simulators keep their clocks frozen and move them by hand.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RaySim;
use Test::More;

my $epoch = 1_800_000_000_000;
my $fail = RaySim->new(profile => 'master', scenario => 'gcs_failures', speed => 0,
					   epoch_ms => $epoch, name => 'gcsfail');
my $evict = RaySim->new(profile => 'master', scenario => 'classic', speed => 0,
						epoch_ms => $epoch, max_tasks => 5, name => 'evict');
my $node = PostgreSQL::Test::Cluster->new('gcsfail');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'raydar'
raydar.database = 'postgres'
raydar.poll_interval = '200ms'
timezone = 'UTC'
});
$node->start;
my ($fa, $ea) = ($fail->address, $evict->address);
$node->safe_psql('postgres', qq{
	CREATE EXTENSION raydar;
	CREATE SERVER f FOREIGN DATA WRAPPER raydar OPTIONS (address '$fa');
	CREATE SERVER e FOREIGN DATA WRAPPER raydar OPTIONS (address '$ea');
	CREATE USER MAPPING FOR CURRENT_USER SERVER f;
	CREATE USER MAPPING FOR CURRENT_USER SERVER e;
	CREATE SCHEMA f; CREATE SCHEMA e;
	IMPORT FOREIGN SCHEMA ray LIMIT TO (tasks) FROM SERVER f INTO f;
	IMPORT FOREIGN SCHEMA ray LIMIT TO (tasks) FROM SERVER e INTO e;});

# ---- failures the GCS writes ------------------------------------------------
$fail->admin('POST', '/advance', { ms => 1500 });    # the worker died at +1 s; not marked yet
is($node->safe_psql('postgres', q{SELECT string_agg(name || ':' || state, ' ' ORDER BY name) FROM f.tasks}),
   '__main__:RUNNING done_first:FINISHED doomed_a:RUNNING doomed_b:RUNNING finished_ok:FINISHED '
   . 'orphan_running:RUNNING queued:PENDING_NODE_ASSIGNMENT',
   '+1.5 s: the dead worker\'s tasks still show RUNNING');
$node->safe_psql('postgres', q{SELECT raydar.track('f')});
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 2 FROM raydar.task_history WHERE cluster = 'f'}),
   'the collector keeps the two finished attempts');
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 5 FROM raydar.task_live WHERE cluster = 'f'}),
   'and holds five live ones');

$fail->admin('POST', '/advance', { ms => 500 });     # +2 s: death + 1000 ms
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 4 FROM raydar.task_history WHERE cluster = 'f'}),
   'the GCS-written failures of the dead worker reached task_history');
my $wid = $node->safe_psql('postgres', q{SELECT worker_id FROM raydar.task_history WHERE name = 'doomed_a'});
like($wid, qr/^[0-9a-f]{56}$/, 'the worker id is recorded');
is($node->safe_psql('postgres', q{
	SELECT string_agg(format('%s|%s|%s|%s|%s', name, state, error_type, error_message,
	                         (extract(epoch FROM end_time) * 1000 - 1800000000000)::bigint), E'\n' ORDER BY name)
	  FROM raydar.task_history WHERE name LIKE 'doomed%'}),
   join("\n", map { "$_|FAILED|WORKER_DIED|Worker running the task ($wid) died with exit_type: 0 with error_message: "
					  . "Worker unexpectedly exits with a connection error code 2.|1000" } qw(doomed_a doomed_b)),
   'FAILED, WORKER_DIED, Ray\'s message, ended when the worker died (not when the GCS wrote it)');

$fail->admin('POST', '/advance', { ms => 14_999 });  # the job ended at +2 s: +17 s is when
$fail->admin('POST', '/advance', { ms => 1 });
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 7 FROM raydar.task_history WHERE cluster = 'f'}),
   'the job-end failures reached task_history');
my $job = $node->safe_psql('postgres', q{SELECT job_id FROM raydar.task_history WHERE name = 'queued'});
is($node->safe_psql('postgres', q{
	SELECT string_agg(format('%s|%s|%s|%s', name, error_type, error_message,
	                         (extract(epoch FROM end_time) * 1000 - 1800000000000)::bigint), E'\n' ORDER BY name)
	  FROM raydar.task_history WHERE name IN ('queued', 'orphan_running', '__main__')}),
   join("\n", map { "$_|WORKER_DIED|Job finishes ($job) as driver exits. Marking all non-terminal tasks as failed.|2000" }
		  qw(__main__ orphan_running queued)),
   'pending, running and driver attempts of the ended job: FAILED with the job-end message at the job\'s end');
is($node->safe_psql('postgres', q{
	SELECT count(*) || ' ' || count(DISTINCT (task_id, attempt_number)) FROM raydar.task_history WHERE cluster = 'f'}),
   '7 7', 'one row per attempt');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM raydar.task_live WHERE cluster = 'f'}),
   'nothing is live any more');
is($node->safe_psql('postgres', q{
	SELECT tasks_ingested || ' ' || vanished || ' ' || dropped_reported FROM raydar.collector_status WHERE server = 'f'}),
   '7 0 0', 'status: 7 attempts ingested, none vanished (the GCS marked them, it did not drop them)');

# ---- eviction: dropped and vanished ----------------------------------------
$evict->admin('POST', '/advance', { ms => 100 });    # the driver and 4 submitted tasks, none finished
my $live = $node->safe_psql('postgres', q{SELECT count(*) FROM e.tasks WHERE state NOT IN ('FINISHED', 'FAILED')});
is($live, '5', '+100 ms: 5 unfinished attempts stored');
$node->safe_psql('postgres', q{CREATE TABLE seen AS SELECT task_id, attempt_number FROM e.tasks;
	SELECT raydar.track('e')});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 5 FROM raydar.task_live WHERE cluster = 'e'}),
   'the collector holds them as live');

# Far ahead: all 101 attempts reported; 96 evicted, FINISHED ones first.
$evict->admin('POST', '/advance', { ms => 3_600_000 });
my $final = $node->safe_psql('postgres', q{
	CREATE TABLE kept AS SELECT task_id, attempt_number, state FROM e.tasks;
	SELECT count(*) || ' ' || count(*) FILTER (WHERE state = 'FINISHED') FROM kept});
is($final, '5 0', 'the GCS keeps 5 attempts, none FINISHED (evicted first)');
my $gone = $node->safe_psql('postgres', q{
	SELECT count(*) FROM seen s WHERE NOT EXISTS (SELECT 1 FROM kept k WHERE (k.task_id, k.attempt_number) = (s.task_id, s.attempt_number))});
ok($node->poll_query_until('postgres', q{SELECT dropped_reported = 96 FROM raydar.collector_status WHERE server = 'e'}),
   'dropped_reported is the GCS\'s 96 evicted attempts');
is($node->safe_psql('postgres', q{SELECT vanished FROM raydar.collector_status WHERE server = 'e'}), $gone,
   "vanished: exactly the $gone attempts seen unfinished that the GCS evicted");
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM raydar.task_history h JOIN kept k USING (task_id, attempt_number) WHERE h.cluster = 'e'}),
   $node->safe_psql('postgres', q{SELECT count(*) FROM kept WHERE state IN ('FINISHED', 'FAILED')}),
   'every terminal attempt still stored reached task_history');
is($node->safe_psql('postgres', q{SELECT tasks_ingested FROM raydar.collector_status WHERE server = 'e'}),
   $node->safe_psql('postgres', q{SELECT count(*) FROM raydar.task_history WHERE cluster = 'e'}),
   'tasks_ingested counts the rows written');

$node->stop;
$fail->stop;
$evict->stop;
done_testing();
