# 174_push_job_ends.pl
#	Attempts a job leaves unfinished, pushed. Ray's GCS marks them FAILED
#	(WORKER_DIED, "Job finishes (<job>) as driver exits. Marking all
#	non-terminal tasks as failed.", at the job's end time) 15 s after the
#	job ends (GcsTaskManager::OnJobFinished) and exports none of it, so no
#	event ever ends them. The merger does the same raydar.event_job_end_wait
#	after the job's FINISHED arrives. The simulated cluster's `gcs_failures`
#	scenario (a worker that dies, a queued task, a task on a worker that
#	outlives the job, the driver) is pushed and polled:
#	- while the wait runs, the five attempts are live and nothing is marked;
#	- then the job's three end as polling shows them, column by column; the
#	  dead worker's two end with the job's message (worker events are not
#	  exported: Ray 2.5x has none, Ray 2026 only if the aggregator exposes
#	  them);
#	- once per job: the job's FINISHED posted again marks nothing, and an
#	  attempt of the job that arrives later stays live;
#	- a backlog in the spool (the merger stopped past the wait, then
#	  draining in small chunks) does not mark an attempt whose FINISHED
#	  arrived within the wait;
#	- raydar.event_job_end_wait = -1 marks nothing;
#	- a job that leaves 100,000 attempts (109,091 with retries; varied
#	  names, some finished, some without their definition), half of them
#	  on a worker that dies: each stored once, the dead worker's unfinished
#	  ones marked with its message, the others with the job's;
#	- pushed with Ray 2026's worker lifecycle events, the dead worker's two
#	  attempts are marked as Ray's GCS marks them (OnWorkerDead, 1 s), before
#	  the job's end, and all seven equal the polled ones in every column.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use File::Temp qw(tempdir);
use IPC::Run;
use JSON::PP;
use MIME::Base64;
use PostgreSQL::Test::Cluster;
use PushFeed;
use PostgreSQL::Test::Utils;
use Test::More;

my $tmp = tempdir(CLEANUP => 1);
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $node = PostgreSQL::Test::Cluster->new('pushjobend');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'raydar'
raydar.database = 'postgres'
raydar.poll_interval = '200ms'
raydar.event_receiver_listen = '127.0.0.1:$port'
raydar.event_job_end_wait = '1h'
timezone = 'UTC'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION raydar');

sub set_wait
{
	my ($v) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM SET raydar.event_job_end_wait = '$v'; SELECT pg_reload_conf();");
}

sub post
{
	my ($cluster, $body) = @_;
	my $f = "$tmp/body.json";
	open(my $fh, '>', $f) or die;
	print $fh $body;
	close $fh;
	my $out = '';
	IPC::Run::run([ 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'POST',
		'-H', 'Content-Type: application/json', '--data-binary', "\@$f",
		"http://127.0.0.1:$port/events/$cluster" ], '>', \$out);
	return $out;
}

# name|state|error_type|error_message|end (ms after the first attempt's creation) of a cluster's rows in table.
sub rows_of
{
	my ($table, $cluster) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT string_agg(format('%s|%s|%s|%s|%s', name, state, error_type, error_message,
		       (extract(epoch FROM end_time - (SELECT min(creation_time) FROM raydar.task_history
		                                       WHERE cluster = '$cluster')) * 1000)::bigint), E'\n' ORDER BY name)
		FROM raydar.$table WHERE cluster = '$cluster'});
}

$node->safe_psql('postgres', "SELECT raydar.receive_events('push_gf')");
my $info = PushFeed::start($tmp, 'gcs_failures', 'gf', { url => "http://127.0.0.1:$port/events/push_gf" });
my $cport = $info->{aggregator_control_port};
my $st = PushFeed::wait_pushed($cport);
ok($st->{idle} && $st->{released} > 0, "every released event acknowledged ($st->{released})")
  or diag(encode_json($st));
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM raydar.event_spool}), 'the spool is drained');

# ---- while the wait runs -----------------------------------------------------
my $job = $node->safe_psql('postgres', q{SELECT job_id FROM raydar.task_live WHERE cluster = 'push_gf' AND name = 'queued'});
like($job, qr/^[0-9a-f]{8}$/, 'the job id');
is($node->safe_psql('postgres', q{
	SELECT string_agg(name || ':' || state, ' ' ORDER BY name) FROM raydar.task_live WHERE cluster = 'push_gf'}),
   '__main__:RUNNING doomed_a:RUNNING doomed_b:RUNNING orphan_running:RUNNING queued:PENDING_NODE_ASSIGNMENT',
   'the attempts no worker ended are live: Ray exports no failure for them');
is($node->safe_psql('postgres', q{SELECT string_agg(name || ':' || state, ' ' ORDER BY name) FROM raydar.task_history WHERE cluster = 'push_gf'}),
   'done_first:FINISHED finished_ok:FINISHED', 'the two finished ones are in history');
is($node->safe_psql('postgres', qq{
	SELECT count(*) FILTER (WHERE marked_at IS NULL) || ' ' || count(*) FILTER (WHERE encode(job_id, 'hex') = '$job'
	       AND end_ns = (SELECT (extract(epoch FROM end_time) * 1e9)::bigint FROM raydar.job_history
	                     WHERE cluster = 'push_gf' AND job_id = '$job'))
	FROM raydar.event_job_ends WHERE cluster = 'push_gf'}),
   '2 1', 'both ended jobs are recorded, unmarked, with the end job_history shows');

# ---- the wait over -----------------------------------------------------------
set_wait('0');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM raydar.task_live WHERE cluster = 'push_gf'}),
   'the job\'s unfinished attempts left task_live');
my $msg = "Job finishes ($job) as driver exits. Marking all non-terminal tasks as failed.";
my $job_end = $node->safe_psql('postgres', qq{
	SELECT (extract(epoch FROM j.end_time - (SELECT min(creation_time) FROM raydar.task_history WHERE cluster = 'push_gf')) * 1000)::bigint
	FROM raydar.job_history j WHERE j.cluster = 'push_gf' AND j.job_id = '$job'});
my $pushed = rows_of('task_history', 'push_gf');
# The dashboard's derivation floors float(ns) / 1e6 (rounded to a double
# first), so a whole millisecond may show as the one before, in Ray too.
my ($end) = $pushed =~ /^__main__\|[^\n]*\|(\d+)$/m;
ok(defined $end && $end >= $job_end - 1 && $end <= $job_end, "the end is the job's ($end, the job's $job_end)");
is($pushed, join("\n",
	"__main__|FAILED|WORKER_DIED|$msg|$end",
	grep({ /^done_first/ } split(/\n/, $pushed)),
	"doomed_a|FAILED|WORKER_DIED|$msg|$end",
	"doomed_b|FAILED|WORKER_DIED|$msg|$end",
	grep({ /^finished_ok/ } split(/\n/, $pushed)),
	"orphan_running|FAILED|WORKER_DIED|$msg|$end",
	"queued|FAILED|WORKER_DIED|$msg|$end"),
   'FAILED, WORKER_DIED, Ray\'s message, at the job\'s end');
is($node->safe_psql('postgres', qq{SELECT marked FROM raydar.event_job_ends WHERE cluster = 'push_gf' AND encode(job_id, 'hex') = '$job'}),
   '5', 'event_job_ends says five were marked');

# ---- the same cluster polled -------------------------------------------------
$node->safe_psql('postgres', qq{CREATE SERVER poll_gf FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:$info->{grpc_port}');
	CREATE USER MAPPING FOR CURRENT_USER SERVER poll_gf; SELECT raydar.track('poll_gf');});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 7 FROM raydar.task_history WHERE cluster = 'poll_gf'}),
   'polling stores the seven (the GCS marked the five)');
my $polled = rows_of('task_history', 'poll_gf');
my %p = map { (split(/\|/, $_))[0] => $_ } split(/\n/, $polled);
my %q = map { (split(/\|/, $_))[0] => $_ } split(/\n/, $pushed);
is(join("\n", map { $q{$_} } qw(__main__ done_first finished_ok orphan_running queued)),
   join("\n", map { $p{$_} } qw(__main__ done_first finished_ok orphan_running queued)),
   'the job\'s attempts end as polling shows them');
my @same = qw(task_id attempt_number state job_id type parent_task_id node_id worker_id worker_pid
	error_type error_message language required_resources creation_time start_time end_time);
my $cols = join(', ', @same);
is($node->safe_psql('postgres', qq{
	SELECT count(*) FROM (SELECT $cols FROM raydar.task_history WHERE cluster = 'poll_gf' AND name NOT LIKE 'doomed%'
	EXCEPT SELECT $cols FROM raydar.task_history WHERE cluster = 'push_gf') d}),
   '0', 'and equal it in every column Ray\'s converter keeps');
like($p{doomed_a}, qr/^doomed_a\|FAILED\|WORKER_DIED\|Worker running the task \([0-9a-f]{56}\) died/,
	'polled, the dead worker\'s attempts carry the worker\'s message, which no pushed event gives');

# ---- once per job ------------------------------------------------------------
my $bodies = PushFeed::control($cport, 'GET', '/bodies');
my @fin = grep { ($_->{eventType} // '') eq 'DRIVER_JOB_LIFECYCLE_EVENT'
	  && grep { $_->{state} eq 'FINISHED' } @{ $_->{driverJobLifecycleEvent}{stateTransitions} } }
  map { @{ $_->{events} } } @$bodies;
is(scalar(@fin), 2, 'the feed sent two job FINISHED events');
my ($tid_hex) = $node->safe_psql('postgres', q{SELECT task_id FROM raydar.task_history WHERE cluster = 'push_gf' AND name = 'queued'});
my $late_tid = substr($tid_hex, 0, 30) . 'ab' . substr($tid_hex, 32);
my $late = {
	eventId => encode_base64('late-attempt-event-1', ''), sourceType => 'CORE_WORKER',
	eventType => 'TASK_LIFECYCLE_EVENT', timestamp => '2026-12-01T00:00:00Z', severity => 'INFO',
	message => '', sessionName => $fin[0]{sessionName}, nodeId => $fin[0]{nodeId},
	taskLifecycleEvent => { taskId => encode_base64(pack('H*', $late_tid), ''), taskAttempt => 0,
		jobId => encode_base64(pack('H*', $job), ''),
		stateTransitions => [ { state => 'RUNNING', timestamp => '2026-12-01T00:00:00Z' } ] } };
# A probe: another job's FINISHED in the same body; once it is marked, the
# merger's pass has run after the body was merged.
my $probe = { %{ $fin[0] }, eventId => encode_base64('probe-job-finished-event', ''),
	driverJobLifecycleEvent => { jobId => encode_base64(pack('H*', '0a000000'), ''),
		stateTransitions => [ { state => 'FINISHED', timestamp => '2026-12-01T00:00:01Z' } ] } };
my $marked_at = $node->safe_psql('postgres', q{SELECT string_agg(marked_at::text, ',' ORDER BY job_id) FROM raydar.event_job_ends});
is(post('push_gf', encode_json([ @fin, $late, $probe ])), '200', 'the FINISHED events again, and a later attempt of the job');
ok($node->poll_query_until('postgres', q{SELECT marked_at IS NOT NULL FROM raydar.event_job_ends WHERE job_id = '\\x0a000000'}),
   'the merger\'s pass ran after that body was merged');
is($node->safe_psql('postgres', qq{SELECT coalesce(name, '') || ':' || state FROM raydar.task_live WHERE cluster = 'push_gf'}),
   ':RUNNING', 'the later attempt stays live: Ray marks a job\'s attempts once');
is($node->safe_psql('postgres', q{SELECT string_agg(marked_at::text, ',' ORDER BY job_id) FROM raydar.event_job_ends
	WHERE job_id <> '\\x0a000000'}),
   $marked_at, 'the resent FINISHED recorded nothing again');

# ---- a backlog in the spool ----------------------------------------------------
# The merger stopped (SIGSTOP) just after it merged a job's FINISHED; then
# bodies of the cluster arrive within the wait, the last one with an
# attempt's FINISHED; the merger is continued only after the wait, and
# drains them in chunks of 64 kB. Ray's GCS would have had that FINISHED
# within its 15 s: the attempt must end FINISHED, not marked between two
# chunks.
set_wait('15s');
$node->safe_psql('postgres', "ALTER SYSTEM SET raydar.event_merge_chunk = '64kB'; SELECT pg_reload_conf();");
my $bgen = "$tmp/gen_backlog.py";
open(my $bg, '>', $bgen) or die;
print $bg <<'PY';
import base64, json, sys
sys.path.insert(0, sys.argv[2])
from raysim import rayevents
from raysim.model import TaskAttempt
out = sys.argv[1]
BASE, MS = 1770890414000 * 1_000_000, 1_000_000
job, other = bytes.fromhex("06000000"), bytes.fromhex("07000000")
node, worker = b"\x11" * 28, b"\x22" * 28
enc = rayevents.Encoder("master", seed=5, session_name="session_backlog", gcs_events=False)
x = TaskAttempt(b"\x0f" * 20 + job, job, "late_finisher", "__main__.f",
                [("PENDING_ARGS_AVAIL", BASE), ("SUBMITTED_TO_WORKER", BASE + MS), ("RUNNING", BASE + 2 * MS),
                 ("FINISHED", BASE + 1500 * MS)], node_id=node, worker_id=worker, worker_pid=7)
evs = []
enc.attempt_events(x, (node, b"\x33" * 28, 77), evs)
a = [e.text for e in evs if '"FINISHED"' not in e.text]
b = [e.text for e in evs if '"FINISHED"' in e.text]
assert len(b) == 1
end = BASE + 2000 * MS
a.append(json.dumps({"eventId": base64.b64encode(b"job-finished-event-backlog").decode(), "sourceType": "GCS",
    "eventType": "DRIVER_JOB_LIFECYCLE_EVENT", "timestamp": rayevents.ts(end), "severity": "INFO", "message": "",
    "sessionName": "session_backlog", "nodeId": base64.b64encode(node).decode(),
    "driverJobLifecycleEvent": {"jobId": base64.b64encode(job).decode(),
                                "stateTransitions": [{"state": "FINISHED", "timestamp": rayevents.ts(end)}]}}))
def write(name, texts):
    with open("%s/%s.json" % (out, name), "w") as f:
        f.write("[" + ", ".join(texts) + "]")
write("a", a)
write("b", b)
for k in range(40):
    fill = []
    for i in range(150):
        t = TaskAttempt((k * 1000 + i).to_bytes(20, "big") + other, other, "filler %d-%d %s" % (k, i, "\u00e9" * (i % 17)),
                        "__main__.g", [("PENDING_ARGS_AVAIL", BASE + i * MS)])
        e = []
        enc.attempt_events(t, (node, b"\x33" * 28, 77), e)
        fill.extend(x.text for x in e)
    write("fill%02d" % k, fill)
PY
close $bg;
my $bdir = "$tmp/backlog";
mkdir $bdir;
my $berr = '';
IPC::Run::run([ '/usr/bin/python3', $bgen, $bdir, "$FindBin::RealBin/../raysim" ], '2>', \$berr) or die $berr;
$node->safe_psql('postgres', "SELECT raydar.receive_events('backlog')");
is(post('backlog', slurp_file("$bdir/a.json")), '200', 'backlog: the attempt running and the job\'s FINISHED');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM raydar.event_job_ends WHERE cluster = 'backlog'}),
   'backlog: the job\'s end is merged');
my $mpid = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'raydar event merger'});
kill 'STOP', $mpid;
my @codes = map { post('backlog', slurp_file("$bdir/fill" . sprintf('%02d', $_) . '.json')) } 0 .. 39;
push @codes, post('backlog', slurp_file("$bdir/b.json"));
is(join(',', sort { $a <=> $b } keys %{ { map { $_ => 1 } @codes } }), '200', 'backlog: 41 bodies spooled while the merger is stopped');
ok($node->poll_query_until('postgres', q{SELECT now() > received_at + interval '16 s' FROM raydar.event_job_ends WHERE cluster = 'backlog'}),
   'backlog: the wait is over');
cmp_ok($node->safe_psql('postgres', q{SELECT count(*) FROM raydar.event_spool WHERE cluster = 'backlog'}), '==', 41,
	'backlog: still spooled');
kill 'CONT', $mpid;
ok($node->poll_query_until('postgres', q{SELECT marked_at IS NOT NULL FROM raydar.event_job_ends WHERE cluster = 'backlog'}),
   'backlog: the job is settled once the spool is drained');
is($node->safe_psql('postgres', q{SELECT name || ':' || state || ':' || coalesce(error_message, '') FROM raydar.task_history WHERE cluster = 'backlog'}),
   'late_finisher:FINISHED:', 'backlog: the attempt ends FINISHED, as its own event says');
is($node->safe_psql('postgres', q{SELECT marked FROM raydar.event_job_ends WHERE cluster = 'backlog'}), '0',
   'backlog: nothing of that job was marked');
$node->safe_psql('postgres', "ALTER SYSTEM RESET raydar.event_merge_chunk; SELECT pg_reload_conf();");

# ---- switched off ------------------------------------------------------------
set_wait('-1');
$node->safe_psql('postgres', "SELECT raydar.receive_events('push_off')");
my $off = PushFeed::start($tmp, 'gcs_failures', 'off', { url => "http://127.0.0.1:$port/events/push_off" });
$st = PushFeed::wait_pushed($off->{aggregator_control_port});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM raydar.event_spool}), 'off: merged');
sleep 11;
is($node->safe_psql('postgres', q{SELECT count(*) || ' ' || count(*) FILTER (WHERE marked_at IS NULL) FROM raydar.event_job_ends WHERE cluster = 'push_off'}),
   '2 2', 'off: the job ends are recorded, none marked');
is($node->safe_psql('postgres', q{SELECT count(*) FROM raydar.task_live WHERE cluster = 'push_off'}),
   '5', 'off: the five stay live');

# ---- a job that leaves 100,000 attempts ------------------------------------
# Varied: names of every width (and 1,001 bytes), every 7th attempt
# FINISHED (kept as it is), every 13th without its definition (stored
# without it once raydar.event_definition_wait passes), every 11th a retry
# whose attempt 0 FAILED on its own; the even ones run on worker A, which
# dies (Ray 2026's worker event, OOM), the odd ones on worker B. Encoded by
# the simulator's Encoder, 1,000 events a body, A's death and the job's
# FINISHED last: both paths of the marking at scale, the worker's first.
set_wait('0');
$node->safe_psql('postgres', "ALTER SYSTEM SET raydar.event_definition_wait = '1s';
	ALTER SYSTEM SET raydar.event_worker_death_wait = 0; SELECT pg_reload_conf();");
my $gen = "$tmp/gen_job.py";
open(my $g, '>', $gen) or die;
print $g <<'PY';
import base64, json, sys, urllib.request
sys.path.insert(0, sys.argv[3])
from raysim import rayevents
from raysim.model import TaskAttempt
url, n = sys.argv[1], int(sys.argv[2])
BASE, MS = 1770890414000 * 1_000_000, 1_000_000
job = bytes.fromhex("05000000")
names = ["plain", "\u00fcn\u00efc\u00f8d\u00e9 \u2713 \u65e5\u672c\u8a9e \U0001f680", "quote \" ' \\ back", "", "x" * 1001]
node, worker_a, worker_b = b"\x11" * 28, b"\x22" * 28, b"\x44" * 28
enc = rayevents.Encoder("master", seed=3, session_name="session_bigjob", gcs_events=False)
out = []
for i in range(n):
    t = BASE + i * MS
    tid = i.to_bytes(20, "big") + job
    attempts = [(0, "RUNNING")] if i % 11 else [(0, "FAILED"), (1, "RUNNING")]
    for att, last in attempts:
        st = [("PENDING_ARGS_AVAIL", t + att * 10 * MS), ("SUBMITTED_TO_WORKER", t + att * 10 * MS + 1000),
              ("RUNNING", t + att * 10 * MS + 2000)]
        if i % 7 == 0 and last == "RUNNING":
            st.append(("FINISHED", t + att * 10 * MS + 5 * MS))
        elif last == "FAILED":
            st.append(("FAILED", t + 3 * MS))
        a = TaskAttempt(tid, job, names[i % len(names)] + str(i), "__main__.f", st, attempt_number=att,
                        node_id=node, worker_id=worker_b if i % 2 else worker_a, worker_pid=1000 + i % 50000,
                        required_resources={"CPU": 1.0} if i % 3 else {"GPU": 0.5, "memory": float(i)},
                        error_type="TASK_EXECUTION_EXCEPTION" if last == "FAILED" else None,
                        error_message="boom %d" % i if last == "FAILED" else None)
        evs = []
        enc.attempt_events(a, (node, b"\x33" * 28, 77), evs)
        out.extend(e for e in evs if not (i % 13 == 0 and e.kind == "definition"))
out.sort(key=lambda e: (e.at_ns, e.seq))
texts = [e.text for e in out]
end = BASE + (n + 100) * MS
jid = base64.b64encode(job).decode()
texts.append(json.dumps({"eventId": base64.b64encode(b"worker-a-dead-event-of-bigjob").decode(), "sourceType": "GCS",
    "eventType": "WORKER_LIFECYCLE_EVENT", "timestamp": rayevents.ts(end - 50 * MS), "severity": "INFO", "message": "",
    "sessionName": "session_bigjob", "nodeId": base64.b64encode(node).decode(),
    "workerLifecycleEvent": {"workerId": base64.b64encode(worker_a).decode(), "jobId": jid, "stateTransitions": [
        {"state": "DEAD", "timestamp": rayevents.ts(end - 50 * MS), "endTimeMs": str((end - 50 * MS) // MS),
         "deathInfo": {"exitType": "NODE_OUT_OF_MEMORY", "exitDetail": "Task was killed due to the node running low on memory."}}]}}))
texts.append(json.dumps({"eventId": base64.b64encode(b"job-finished-event-of-bigjob").decode(), "sourceType": "GCS",
    "eventType": "DRIVER_JOB_LIFECYCLE_EVENT", "timestamp": rayevents.ts(end), "severity": "INFO", "message": "",
    "sessionName": "session_bigjob", "nodeId": base64.b64encode(node).decode(),
    "driverJobLifecycleEvent": {"jobId": jid, "stateTransitions": [{"state": "FINISHED", "timestamp": rayevents.ts(end)}]}}))
for k in range(0, len(texts), 1000):
    body = ("[" + ", ".join(texts[k:k + 1000]) + "]").encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    assert urllib.request.urlopen(req, timeout=60).status == 200
print(len(texts), end // MS)
PY
close $g;
$node->safe_psql('postgres', "SELECT raydar.receive_events('bigjob')");
my $t0 = time;
my ($gout, $gerr) = ('', '');
my $okrun = IPC::Run::run([ '/usr/bin/python3', $gen, "http://127.0.0.1:$port/events/bigjob", '100000',
	"$FindBin::RealBin/../raysim" ], '>', \$gout, '2>', \$gerr);
ok($okrun, "100,000 attempts of one job posted ($gout)") or diag($gerr);
my (undef, $big_end_ms) = split ' ', $gout;
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM raydar.task_live WHERE cluster = 'bigjob'}),
   'every attempt of the job left task_live');
note('100,000 attempts merged and marked in ' . (time - $t0) . ' s');
my $bigmsg = 'Job finishes (05000000) as driver exits. Marking all non-terminal tasks as failed.';
my $wmsg = 'Worker running the task (' . ('22' x 28) . ') died with exit_type: 4 with error_message: '
  . 'Task was killed due to the node running low on memory.';
is($node->safe_psql('postgres', qq{
	SELECT count(*) || ' ' || count(DISTINCT (task_id, attempt_number))
	  || ' finished ' || count(*) FILTER (WHERE state = 'FINISHED' AND error_message IS NULL)
	  || ' retried ' || count(*) FILTER (WHERE state = 'FAILED' AND error_message LIKE 'boom %' AND attempt_number = 0)
	  || ' worker ' || count(*) FILTER (WHERE state = 'FAILED' AND error_type = 'WORKER_DIED' AND error_message = '$wmsg'
	                                    AND worker_id = repeat('22', 28)
	                                    AND abs(extract(epoch FROM end_time) * 1000 - ($big_end_ms - 50)) <= 1)
	  || ' job ' || count(*) FILTER (WHERE state = 'FAILED' AND error_type = 'WORKER_DIED' AND error_message = '$bigmsg'
	                                 AND worker_id = repeat('44', 28)
	                                 AND abs(extract(epoch FROM end_time) * 1000 - $big_end_ms) <= 1)
	  || ' undefined ' || count(*) FILTER (WHERE name IS NULL OR name = '')
	FROM raydar.task_history WHERE cluster = 'bigjob'}),
   '109091 109091 finished 14286 retried 9091 worker 42857 job 42857 undefined 8393',
   'all 109,091 attempts stored once: the finished and the retried ones as they were, the dead worker\'s 42,857 '
   . 'marked with its message at its end, the other 42,857 at the job\'s end');
is($node->safe_psql('postgres', q{SELECT (SELECT marked FROM raydar.event_worker_deaths WHERE cluster = 'bigjob') || ' '
	|| (SELECT marked FROM raydar.event_job_ends WHERE cluster = 'bigjob')}), '42857 42857',
   'event_worker_deaths and event_job_ends say 42,857 each were marked');
is($node->safe_psql('postgres', q{SELECT count(*) FROM raydar.task_history WHERE cluster = 'bigjob'
	AND name LIKE 'xxxxx%' AND length(name) > 1001}), '20140',
   'the 1,001-byte names are whole');

# ---- a worker's death, pushed (Ray 2026) ---------------------------------------
# Ray 2026 exports the GCS's worker lifecycle events when the aggregator
# exposes WORKER_LIFECYCLE_EVENT (not by default). The GCS marks a dead
# worker's unfinished attempts 1 s after the death (OnWorkerDead): the
# merger does the same raydar.event_worker_death_wait (default 1 s) after
# the DEAD event is merged, before and whatever the job's end does. The
# same scenario pushed with those events and polled: all seven attempts
# equal in every column, the dead worker's two with the worker's message.
set_wait('1h');
$node->safe_psql('postgres', "ALTER SYSTEM RESET raydar.event_worker_death_wait; SELECT pg_reload_conf();
	SELECT raydar.receive_events('push_gfw')");
my $w = PushFeed::start($tmp, 'gcs_failures', 'gfw',
	{ url => "http://127.0.0.1:$port/events/push_gfw", worker_events => JSON::PP::true });
$st = PushFeed::wait_pushed($w->{aggregator_control_port});
ok($st->{idle} && $st->{released} > 0, "workers: every released event acknowledged ($st->{released})");
ok($node->poll_query_until('postgres', q{SELECT count(*) = 2 FROM raydar.task_history
	WHERE cluster = 'push_gfw' AND name LIKE 'doomed%' AND state = 'FAILED'}),
   'workers: the dead worker\'s two attempts are marked FAILED while the job\'s wait still runs');
is($node->safe_psql('postgres', q{SELECT string_agg(name || ':' || state, ' ' ORDER BY name) FROM raydar.task_live
	WHERE cluster = 'push_gfw'}),
   '__main__:RUNNING orphan_running:RUNNING queued:PENDING_NODE_ASSIGNMENT',
   'workers: the attempts of live workers stay live');
my $wid = $node->safe_psql('postgres', q{SELECT worker_id FROM raydar.task_history WHERE cluster = 'push_gfw' AND name = 'doomed_a'});
is($node->safe_psql('postgres', qq{SELECT marked || ' ' || exit_type || ' ' || exit_detail FROM raydar.event_worker_deaths
	WHERE cluster = 'push_gfw' AND worker_id = decode('$wid', 'hex')}),
   '2 0 Worker unexpectedly exits with a connection error code 2.',
   'workers: event_worker_deaths holds the death as sent (SYSTEM_ERROR is 0) and says two were marked');
set_wait('0');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM raydar.task_live WHERE cluster = 'push_gfw'}),
   'workers: then the job\'s end marks the rest');
$node->safe_psql('postgres', qq{CREATE SERVER poll_gfw FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:$w->{grpc_port}');
	CREATE USER MAPPING FOR CURRENT_USER SERVER poll_gfw; SELECT raydar.track('poll_gfw');});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 7 FROM raydar.task_history WHERE cluster = 'poll_gfw'}),
   'workers: polling the same cluster stores the seven');
my @all = (@same, 'name');
my $wcols = join(', ', @all);
is($node->safe_psql('postgres', qq{
	SELECT (SELECT count(*) FROM (SELECT $wcols FROM raydar.task_history WHERE cluster = 'poll_gfw'
	        EXCEPT SELECT $wcols FROM raydar.task_history WHERE cluster = 'push_gfw') d) || ' '
	    || (SELECT count(*) FROM (SELECT $wcols FROM raydar.task_history WHERE cluster = 'push_gfw'
	        EXCEPT SELECT $wcols FROM raydar.task_history WHERE cluster = 'poll_gfw') d)}),
   '0 0', 'workers: pushed and polled equal in every column Ray\'s converter keeps, messages and end times included');
like($node->safe_psql('postgres', q{SELECT error_message FROM raydar.task_history WHERE cluster = 'push_gfw' AND name = 'doomed_b'}),
	qr/^Worker running the task \($wid\) died with exit_type: 0 with error_message: Worker unexpectedly exits/,
	'workers: the pushed message is the GCS\'s, naming the worker');

$node->stop;
done_testing();
