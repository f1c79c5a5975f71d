# 170_push.pl
#	The push receiver (src/event_receiver.c): Ray's Event Export pushed by the
#	simulator's aggregator (test/raysim/push_load.py) lands in task_history
#	exactly as Ray's own merge of the same events gives it, column by column,
#	for both payload shapes and both key styles; duplicates, a kill -9 of the
#	receiver mid-push and a PostgreSQL restart lose and duplicate nothing;
#	bad events land in event_rejects and are answered 200; an unknown
#	cluster is 404, a wrong token 403; a new session binds as Ray restarts
#	require, and ends what its cluster's earlier sessions left live.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use File::Temp qw(tempdir);
use JSON::PP;
use MIME::Base64;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $repo = "$FindBin::RealBin/../..";
my $tmp = tempdir(CLEANUP => 1);
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $node = PostgreSQL::Test::Cluster->new('push');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'raydar'
raydar.database = 'push'
raydar.event_receiver_listen = '127.0.0.1:$port'
timezone = 'UTC'
restart_after_crash = on
});
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE push');
$node->safe_psql('push', q{CREATE EXTENSION raydar;
	SELECT raydar.receive_events('c1', token => 'tok-0123456789abcdef');
	SELECT raydar.receive_events('c2', token => 'tok-0123456789abcdef');
	SELECT raydar.receive_events('c3');
	SELECT raydar.receive_events('c4', token => 'tok-0123456789abcdef');});
my $base = "http://127.0.0.1:$port/events";

# Acknowledged is not yet merged: until the merger has drained the spool.
sub drained
{
	$node->poll_query_until('push', 'SELECT count(*) = 0 FROM raydar.event_spool')
	  or diag('the merger did not drain the spool');
}

sub push_load
{
	my (%o) = @_;
	my @cmd = ('/usr/bin/python3', "$repo/test/raysim/push_load.py", '--url', $o{url},
		'--attempts', $o{attempts}, '--nodes', $o{nodes} // 4, '--seed', $o{seed} // 0,
		'--timeout', $o{timeout} // 120);
	push @cmd, '--shape', $o{shape} if $o{shape};
	push @cmd, '--keys', $o{keys} if $o{keys};
	push @cmd, '--expected-out', $o{expected} if $o{expected};
	push @cmd, '--time-scale', $o{time_scale} if $o{time_scale};
	my ($out, $err) = ('', '');
	IPC::Run::run(\@cmd, '>', \$out, '2>', \$err);
	my $res = eval { decode_json((split /\n/, $out)[-1] // '{}') } // {};
	diag($err) if !$res->{complete};
	return $res;
}

# Rows as the simulator's merge shows them (the dashboard's dict), from SQL.
my $rows_sql = q{
	SELECT jsonb_build_object('task_id', task_id, 'attempt_number', attempt_number, 'name', name,
		'state', state, 'job_id', job_id, 'actor_id', actor_id, 'type', type,
		'func_or_class_name', func_or_class_name, 'parent_task_id', parent_task_id,
		'node_id', node_id, 'worker_id', worker_id, 'worker_pid', worker_pid,
		'error_type', error_type, 'error_message', error_message, 'language', language,
		'required_resources', required_resources, 'placement_group_id', placement_group_id,
		'creation_time_ms', (extract(epoch FROM creation_time) * 1000)::bigint,
		'start_time_ms', (extract(epoch FROM start_time) * 1000)::bigint,
		'end_time_ms', (extract(epoch FROM end_time) * 1000)::bigint,
		'actor_repr_name', actor_repr_name, 'call_site', call_site)::text
	FROM raydar.task_history WHERE cluster = '%s' ORDER BY task_id, attempt_number};
my @cols = qw(task_id attempt_number name state job_id actor_id type func_or_class_name
	parent_task_id node_id worker_id worker_pid error_type error_message language
	required_resources placement_group_id creation_time_ms start_time_ms end_time_ms
	actor_repr_name call_site);

sub compare_rows
{
	my ($cluster, $expected_file, $what) = @_;
	# CSV with quote and delimiter that JSON never holds: each line as it is.
	$node->safe_psql('push', qq{
		CREATE TABLE exp_$cluster (j jsonb);
		COPY exp_$cluster FROM '$expected_file' WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02');
		CREATE TABLE got_$cluster AS } . sprintf($rows_sql =~ s/::text//r =~ s/ORDER BY.*//sr, $cluster) . ';');
	my ($nw, $ng) = split /\|/, $node->safe_psql('push',
		"SELECT (SELECT count(*) FROM exp_$cluster), (SELECT count(*) FROM got_$cluster)");
	is($ng, $nw, "$what: as many rows as Ray's merge ($nw)");
	my $cols = join(', ', map { "'$_'" } @cols);
	my $diff = $node->safe_psql('push', qq{
		SELECT string_agg(format('%s/%s %s: got %s, want %s', e.j->>'task_id', e.j->>'attempt_number', c,
		                         left(coalesce(g.jsonb_build_object->c, 'null')::text, 80),
		                         left(coalesce(e.j->c, 'null')::text, 80)), E'\\n')
		FROM exp_$cluster e
		LEFT JOIN got_$cluster g ON g.jsonb_build_object->>'task_id' = e.j->>'task_id'
		     AND (g.jsonb_build_object->>'attempt_number')::int = (e.j->>'attempt_number')::int
		CROSS JOIN unnest(ARRAY[$cols]) AS c
		WHERE coalesce(g.jsonb_build_object->c, 'null') IS DISTINCT FROM coalesce(e.j->c, 'null')});
	is($diff, '', "$what: every column of every row equals Ray's merge");
}

# 1. Both shapes, both key styles: identical to Ray's merge.
my %cases = (c1 => [ 'feb26', 'camel' ], c2 => [ '2.49', 'camel' ], c4 => [ 'feb26', 'snake' ]);
for my $c (sort keys %cases)
{
	my ($shape, $keys) = @{ $cases{$c} };
	my $r = push_load(url => "$base/$c/tok-0123456789abcdef", attempts => 2000, shape => $shape,
		keys => $keys, expected => "$tmp/$c.jsonl", seed => 7);
	diag("$c: $r->{elapsed_s} s, $r->{attempts_per_s} attempts/s, p99 $r->{latency_ms}{p99} ms");
	ok($r->{complete} && $r->{acked_events} == $r->{events}, "$c ($shape, $keys): every batch acknowledged");
	drained();
	compare_rows($c, "$tmp/$c.jsonl", "$c ($shape, $keys)");
}
is($node->safe_psql('push', q{SELECT count(*) FROM raydar.task_live WHERE cluster IN ('c1', 'c2', 'c4')}), '0',
   'nothing left live once every attempt finished');

# 2. Delivered again (Ray's at-least-once): the same load again changes no
# row; the same body twice is counted as duplicates and merged once.
my $before = $node->safe_psql('push', q{SELECT count(*), sum(hashtext(t::text)) FROM raydar.task_history t WHERE cluster = 'c1'});
my $r = push_load(url => "$base/c1/tok-0123456789abcdef", attempts => 2000, shape => 'feb26', keys => 'camel', seed => 7);
ok($r->{complete}, 'a second delivery of the same attempts is acknowledged');
drained();
is($node->safe_psql('push', q{SELECT count(*), sum(hashtext(t::text)) FROM raydar.task_history t WHERE cluster = 'c1'}),
   $before, 'and changes no row');
# 3. Bad input: 200, kept in event_rejects with the reason; misconfigurations 404/403.
sub post
{
	my ($url, $body) = @_;
	my $out = '';
	IPC::Run::run([ 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'POST',
		'-H', 'Content-Type: application/json', '--data-binary', $body, $url ], '>', \$out);
	return $out;
}
my $dup = '[{"eventId": "ZHVwLTE=", "eventType": "TASK_DEFINITION_EVENT", "sessionName": "s1", "taskDefinitionEvent": {"taskId": "AQIDBAUGBwgJCgsMDQ4PEBESExQBAAAA", "taskAttempt": 0, "taskType": "NORMAL_TASK", "language": "PYTHON", "taskName": "dup", "jobId": "AQAAAA=="}}, {"eventId": "ZHVwLTI=", "eventType": "TASK_LIFECYCLE_EVENT", "sessionName": "s1", "taskLifecycleEvent": {"taskId": "AQIDBAUGBwgJCgsMDQ4PEBESExQBAAAA", "taskAttempt": 0, "stateTransitions": [{"state": "RUNNING", "timestamp": "2026-01-02T00:00:00Z"}, {"state": "FINISHED", "timestamp": "2026-01-02T00:00:01.5Z"}]}}]';
is(post("$base/c3", $dup), '200', 'a body is stored');
is(post("$base/c3", $dup), '200', 'and the same body again');
drained();
is($node->safe_psql('push', q{SELECT count(*) || ' ' || min(name) || ' ' || min(end_time)::text || ' ' || min(incarnation) FROM raydar.task_history WHERE cluster = 'c3'}),
   '1 dup 2026-01-02 00:00:01.5+00 s1', 'one row, under the session name as incarnation');
is($node->safe_psql('push', q{SELECT duplicates || ' ' || events FROM raydar.event_receiver_status WHERE cluster = 'c3'}),
   '2 4', 'the second delivery counted as 2 duplicates');
is(post("$base/c3", 'this is not json'), '200', 'a body that is not JSON is answered 200');
is(post("$base/c3", '[{"eventId": "AAAA", "eventType": "TASK_LIFECYCLE_EVENT", "taskLifecycleEvent": {"taskId": "AAAA", "taskAttempt": -4}}, {"eventId": "AAAB", "eventType": "WORKER_DEFINITION_EVENT", "workerDefinitionEvent": {}}]'),
   '200', 'a body with a bad event is answered 200');
drained();
is($node->safe_psql('push', q{SELECT string_agg(reason, ' | ' ORDER BY id) FROM raydar.event_rejects WHERE cluster = 'c3'}),
   'invalid JSON at byte 0 of 16 | "taskAttempt" is not an integer in [0, 2147483647]',
   'both are in event_rejects with their reasons');
is($node->safe_psql('push', q{SELECT events || ' ' || rejected || ' ' || other_events FROM raydar.event_receiver_status WHERE cluster = 'c3'}),
   '6 2 1', 'status counts events, rejects and events of other types');
# A body over the receiver's 256 MB is spooled without its bytes (a NULL
# body, written here as the receiver writes it) and rejected by the merger.
$node->safe_psql('push', q{INSERT INTO raydar.event_spool (cluster, node, body) VALUES ('c3', '127.0.0.1', NULL)});
drained();
is($node->safe_psql('push', q{SELECT count(*) FROM raydar.event_rejects WHERE cluster = 'c3' AND reason LIKE 'body larger than % bytes'}),
   '1', 'a body too large to read is kept in event_rejects by the merger');
my $log_from = -s $node->logfile;
is(post("$base/nosuch", '[]'), '404', 'an unregistered cluster is 404');
is(post("$base/c1/wrong-token-0123456789", '[]'), '403', 'a wrong token is 403');
is(post("$base/c1", '[]'), '403', 'a missing token is 403');
is(post("$base/c1/wrong-token-0123456789", '[]'), '403', 'again 403');
my $log = substr(slurp_file($node->logfile), $log_from);
my $n403 = () = $log =~ /cluster "c1" with a wrong or missing token/g;
is($n403, 1, 'a wrong token is logged once');
like($log, qr/unregistered cluster "nosuch" answered 404/, 'an unknown cluster is logged');

# 4. kill -9 of the receiver mid-push, then a PostgreSQL restart mid-push: 0 lost, 0 duplicated.
for my $fault ('kill', 'restart')
{
	my $c = "f$fault";
	$node->safe_psql('push', "SELECT raydar.receive_events('$c')");
	my $pidfile = "$tmp/$c.out";
	my $h = IPC::Run::start([ '/usr/bin/python3', "$repo/test/raysim/push_load.py", '--url', "$base/$c",
		'--attempts', 10000, '--nodes', 4, '--seed', 3, '--timeout', 150, '--time-scale', '0.2' ],
		'>', $pidfile, '2>', "$tmp/$c.err");
	# Wait until some rows are in, then strike.
	$node->poll_query_until('push', "SELECT count(*) > 0 FROM raydar.task_history WHERE cluster = '$c'");
	if ($fault eq 'kill')
	{
		my $pid = $node->safe_psql('push', q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'raydar event receiver'});
		ok($pid =~ /^\d+$/, 'the receiver runs');
		kill 'KILL', $pid;
	}
	else
	{
		$node->restart(mode => 'immediate');
	}
	$h->finish;
	my $res = eval { decode_json((split /\n/, slurp_file($pidfile))[-1]) } // {};
	ok($res->{complete} && $res->{acked_events} == $res->{events}, "$fault: the push completes")
	  or diag(slurp_file("$tmp/$c.err"));
	$node->poll_query_until('push', "SELECT count(*) = 10000 FROM raydar.task_history WHERE cluster = '$c'");
	is($node->safe_psql('push', "SELECT count(*) || ' ' || count(DISTINCT (task_id, attempt_number)) FROM raydar.task_history WHERE cluster = '$c'"),
	   '10000 10000', "$fault: all 10,000 attempts stored, each once");
}

# 5. The spool: a body acknowledged is on disk before it is merged. With
# merging blocked (a lock on event_receiver_nodes, which only the merger
# writes, for every body),
# POSTs are still answered 200 and wait in the spool; a kill -9 of either
# worker there loses and repeats nothing; over raydar.event_spool_max the
# answer is 503 with Retry-After.
sub block_merging
{
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ 'psql', '-X', '-d', $node->connstr('push'), '-c',
		'BEGIN; LOCK TABLE raydar.event_receiver_nodes IN EXCLUSIVE MODE; SELECT pg_sleep(300);' ],
		'>', \$out, '2>', \$err);
	$node->poll_query_until('push', q{SELECT count(*) > 0 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
		WHERE c.relname = 'event_receiver_nodes' AND l.mode = 'ExclusiveLock' AND l.granted});
	return $h;
}

sub unblock_merging
{
	my ($h) = @_;
	$node->safe_psql('push', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE query LIKE 'BEGIN; LOCK TABLE raydar.event_receiver_nodes%' AND pid <> pg_backend_pid()});
	eval { $h->finish; };
}
for my $who ('receiver', 'merger')
{
	my $c = "s$who";
	$node->safe_psql('push', "SELECT raydar.receive_events('$c')");
	my $lock = block_merging();
	my $r = push_load(url => "$base/$c", attempts => 1000, nodes => 2, seed => 11);
	ok($r->{complete} && $r->{acked_events} == $r->{events}, "$who: acknowledged while merging is blocked");
	is($node->safe_psql('push', "SELECT count(*) > 0 FROM raydar.event_spool WHERE cluster = '$c'") . ' '
	   . $node->safe_psql('push', "SELECT count(*) FROM raydar.task_history WHERE cluster = '$c'"),
	   't 0', "$who: the bodies wait in the spool, not yet in history");
	# The receiver's threads compress each body into the varlena of
	# PostgreSQL's lz4 column compression (pack_body): stored as such, a
	# fraction of Ray's JSON, and read back whole (the merge below).
	is($node->safe_psql('push', "SELECT bool_and(pg_column_compression(body) = 'lz4') || ' '
		|| (sum(pg_column_size(body)) * 3 < sum(octet_length(body))) FROM raydar.event_spool WHERE cluster = '$c'"),
	   'true true', "$who: the spooled bodies are lz4, under a third of their JSON");
	like($node->safe_psql('push', "SELECT spooled_bodies || ' ' || (spooled_since IS NOT NULL) FROM raydar.event_receiver_status WHERE cluster = '$c'"),
	   qr/^[1-9]\d* true$/, "$who: event_receiver_status shows the backlog");
	my $pid = $node->safe_psql('push', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'raydar event $who'");
	ok($pid =~ /^\d+$/, "the $who runs");
	kill 'KILL', $pid;
	eval { $lock->finish; };
	$node->poll_query_until('push', "SELECT count(*) = 1000 FROM raydar.task_history WHERE cluster = '$c'");
	drained();
	is($node->safe_psql('push', "SELECT count(*) || ' ' || count(DISTINCT (task_id, attempt_number)) FROM raydar.task_history WHERE cluster = '$c'"),
	   '1000 1000', "kill -9 of the $who between acknowledgement and merge: all 1,000 attempts stored, each once");
	# History rows over 2 kB (the load's 10 kB names) are TOAST-compressed
	# by the merger with lz4 (raydar_worker_prefer_lz4), not pglz.
	is($node->safe_psql('push', "SELECT string_agg(DISTINCT pg_column_compression(name), ',') FROM raydar.task_history
		WHERE cluster = '$c' AND pg_column_compression(name) IS NOT NULL"), 'lz4', "$who: the merger compresses history rows with lz4");
}
{
	$node->safe_psql('push', "SELECT raydar.receive_events('big')");
	$node->safe_psql('postgres', "ALTER SYSTEM SET raydar.event_spool_max = '1MB'; SELECT pg_reload_conf();");
	my $lock = block_merging();
	open(my $jf, '>', "$tmp/junk") or die;
	print $jf 'x' x (1100 * 1024);
	close $jf;
	is(post("$base/big", "\@$tmp/junk"), '200', 'a body larger than the spool limit is taken when the spool is empty');
	my $hdr = '';
	IPC::Run::run([ 'curl', '-s', '-D', '-', '-o', '/dev/null', '-X', 'POST', '--data-binary', '[]', "$base/big" ],
		'>', \$hdr);
	like($hdr, qr/^HTTP\/1\.1 503.*^Retry-After: 1\r?$/ms, 'over raydar.event_spool_max: 503 with Retry-After');
	unblock_merging($lock);
	drained();
	is(post("$base/big", '[]'), '200', 'drained: 200 again');
	$node->safe_psql('postgres', "ALTER SYSTEM RESET raydar.event_spool_max; SELECT pg_reload_conf();");
	drained();
	is($node->safe_psql('push', q{SELECT count(*) FROM raydar.event_rejects WHERE cluster = 'big' AND reason LIKE 'invalid JSON%'}),
	   '1', 'the spooled body that is not JSON is kept in event_rejects by the merger');
}

# 5b. Bodies parsed ahead (src/ray/ray_parse_ahead.c): while the merger
# writes one chunk, a thread parses the next chunk's bodies. With one body
# per chunk (210 kB bodies, 64 kB chunks) and the merger held inside its
# first chunk (the lock of section 5), the second body is parsed ahead for
# the cluster's Ray version then (2.35: FINISHED is TaskStatus 9). The
# version changes to 2.58 (FINISHED is 11, 9 RUNNING_IN_RAY_GET) before
# that body is merged, so it must be parsed again: a stale parse would
# leave the attempt live as RUNNING_IN_RAY_GET. The third body is parsed
# ahead for 2.58 and used as it is.
{
	$node->safe_psql('push', "SELECT raydar.receive_events('cv', ray_version => '2.35')");
	$node->safe_psql('postgres', "ALTER SYSTEM SET raydar.event_merge_chunk = '64kB';
		ALTER SYSTEM SET log_min_messages = debug1; SELECT pg_reload_conf();");
	my $mpid = $node->safe_psql('push', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'raydar event merger'");
	# the merger reloads its settings at the top of its loop, then sleeps
	sleep 2;
	kill 'STOP', $mpid;
	my $lock = block_merging();
	my $log_from = -s $node->logfile;
	for my $i (1 .. 3)
	{
		my $tid = encode_base64(pack('C*', (0xa0 + $i) x 20, 1, 0, 0, 0), '');
		my $name = "ahead-$i-" . ('\u00e9' x 35000);
		my ($def, $life) = map { encode_base64("ahead-$_-$i", '') } 'def', 'life';
		open(my $bf, '>', "$tmp/ahead$i.json") or die;
		print $bf qq{[{"eventId": "$def", "eventType": "TASK_DEFINITION_EVENT", "sessionName": "sv",
			"taskDefinitionEvent": {"taskId": "$tid", "taskAttempt": 0, "taskType": "NORMAL_TASK", "language": "PYTHON",
			"taskName": "$name", "jobId": "AQAAAA=="}},
			{"eventId": "$life", "eventType": "TASK_LIFECYCLE_EVENT", "sessionName": "sv",
			"taskLifecycleEvent": {"taskId": "$tid", "taskAttempt": 0, "stateTransitions": [
			{"state": "RUNNING", "timestamp": "2026-01-03T00:00:0${i}Z"}, {"state": "FINISHED", "timestamp": "2026-01-03T00:00:1${i}Z"}]}}]};
		close $bf;
		is(post("$base/cv", "\@$tmp/ahead$i.json"), '200', "parse ahead: body $i of 210 kB spooled while the merger is stopped");
	}
	kill 'CONT', $mpid;
	ok($node->poll_query_until('push', "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $mpid"),
	   'parse ahead: the merger waits inside its first chunk');
	$node->safe_psql('push', "SELECT raydar.receive_events('cv', ray_version => '2.58')");
	unblock_merging($lock);
	drained();
	is($node->safe_psql('push', q{SELECT string_agg(split_part(name, '-', 2) || ' ' || state || ' ' || length(name), ', ' ORDER BY name)
		FROM raydar.task_history WHERE cluster = 'cv'}),
	   '1 FINISHED 35008, 2 FINISHED 35008, 3 FINISHED 35008',
	   'parse ahead: all three attempts FINISHED, the one parsed ahead for the old version parsed again');
	is($node->safe_psql('push', q{SELECT (SELECT count(*) FROM raydar.task_live WHERE cluster = 'cv') || ' '
		|| (SELECT count(*) FROM raydar.event_rejects WHERE cluster = 'cv')}), '0 0',
	   'parse ahead: none left live, none rejected');
	my $log = substr(slurp_file($node->logfile), $log_from);
	my $ahead = () = $log =~ /raydar event merger: merged 1 bodies, 1 of them parsed ahead/g;
	is($ahead, 2, 'parse ahead: the second and third bodies were parsed ahead (the log at debug1)');
	my @tids = grep { $_ != $mpid } map { m{/(\d+)$} ? $1 : () } glob("/proc/$mpid/task/*");
	is(scalar @tids, 1, 'parse ahead: the merger runs one thread besides its own');
	# PostgreSQL's signals (SIGHUP 1, SIGINT 2, SIGUSR1 10, SIGTERM 15,
	# SIGURG 23 for latches) must reach the merger's own thread only.
	my ($blk) = (slurp_file("/proc/$mpid/task/$tids[0]/status") =~ /^SigBlk:\s*([0-9a-f]+)/m);
	my $mask = do { no warnings "portable"; hex($blk // "0") };
	is(join(',', grep { !($mask & (1 << ($_ - 1))) } 1, 2, 10, 12, 14, 15, 17, 23), '',
	   'parse ahead: that thread blocks every signal PostgreSQL handles');
	$node->safe_psql('postgres', "ALTER SYSTEM RESET raydar.event_merge_chunk;
		ALTER SYSTEM RESET log_min_messages; SELECT pg_reload_conf();");
}

# 5c. Bodies that arrive while the merger keeps up: a drain merges the
# bodies parsed ahead at the front of what it reads and hands the rest to
# the thread (bodies_to_merge in event_merge.c); holding none, it merges
# the first half and hands over the other. Three bodies spooled while the
# merger is stopped: the first drain merges two, parsed in its own thread,
# the next the third, parsed ahead. Attempt 2's definition is in the
# second body and its lifecycle in the third: an attempt merged across the
# split comes out whole.
sub task_body
{
	my (@ev) = @_;
	my @out;
	for my $e (@ev)
	{
		my ($kind, $i) = @$e;
		my $tid = encode_base64(pack('C*', (0xc0 + $i) x 20, 1, 0, 0, 0), '');
		my $eid = encode_base64("split-$kind-$i", '');
		push @out, $kind eq 'def'
		  ? qq{{"eventId": "$eid", "eventType": "TASK_DEFINITION_EVENT", "sessionName": "ss",
			"taskDefinitionEvent": {"taskId": "$tid", "taskAttempt": 0, "taskType": "NORMAL_TASK",
			"language": "PYTHON", "taskName": "split-$i-\\u00e9t\\u00e9", "jobId": "AQAAAA=="}}}
		  : qq{{"eventId": "$eid", "eventType": "TASK_LIFECYCLE_EVENT", "sessionName": "ss",
			"taskLifecycleEvent": {"taskId": "$tid", "taskAttempt": 0, "stateTransitions": [
			{"state": "RUNNING", "timestamp": "2026-01-04T00:00:0${i}Z"},
			{"state": "FINISHED", "timestamp": "2026-01-04T00:00:1${i}.5Z"}]}}};
	}
	return '[' . join(', ', @out) . ']';
}
{
	$node->safe_psql('push', "SELECT raydar.receive_events('split')");
	$node->safe_psql('postgres', "ALTER SYSTEM SET log_min_messages = debug1; SELECT pg_reload_conf();");
	my $mpid = $node->safe_psql('push', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'raydar event merger'");
	sleep 2;
	kill 'STOP', $mpid;
	my $log_from = -s $node->logfile;
	my @bodies = (task_body([ 'def', 1 ], [ 'life', 1 ]), task_body([ 'def', 2 ], [ 'def', 3 ]),
		task_body([ 'life', 2 ], [ 'life', 3 ]));
	is(join(' ', map { post("$base/split", $_) } @bodies), '200 200 200', 'split: three bodies spooled while the merger is stopped');
	kill 'CONT', $mpid;
	drained();
	is($node->safe_psql('push', q{SELECT string_agg(name || ' ' || state || ' ' || end_time::text, ', ' ORDER BY name)
		|| ' / ' || (SELECT count(*) FROM raydar.task_live WHERE cluster = 'split')
		|| ' ' || (SELECT count(*) FROM raydar.event_rejects WHERE cluster = 'split')
		FROM raydar.task_history WHERE cluster = 'split'}),
	   "split-1-\xc3\xa9t\xc3\xa9 FINISHED 2026-01-04 00:00:11.5+00, split-2-\xc3\xa9t\xc3\xa9 FINISHED 2026-01-04 00:00:12.5+00, "
	   . "split-3-\xc3\xa9t\xc3\xa9 FINISHED 2026-01-04 00:00:13.5+00 / 0 0",
	   'split: all three attempts FINISHED with their names, none live, none rejected');
	my $log = substr(slurp_file($node->logfile), $log_from);
	my @drains = ($log =~ /raydar event merger: merged (\d+ bodies, \d+) of them parsed ahead/g);
	is(join('; ', @drains), '2 bodies, 0; 1 bodies, 1',
	   'split: the first drain merged two bodies it parsed, the next the third, parsed ahead meanwhile');
}

# 5d. raydar.event_merge_delay: under a steady load a drain starts at
# most once per delay, so that bodies are merged together; a spool
# holding a chunk's worth is drained at once.
{
	use Time::HiRes qw(time sleep);
	$node->safe_psql('push', "SELECT raydar.receive_events('delay')");
	$node->safe_psql('postgres', "ALTER SYSTEM SET raydar.event_merge_delay = '4s'; SELECT pg_reload_conf();");
	sleep 5;		# the merger reloads at the top of its loop; the last drain is older than the delay
	is(post("$base/delay", task_body([ 'def', 4 ], [ 'life', 4 ])), '200', 'delay: a body');
	my $t0 = time;
	$node->poll_query_until('push', q{SELECT count(*) = 1 FROM raydar.task_history WHERE cluster = 'delay'});
	is(post("$base/delay", task_body([ 'def', 5 ], [ 'life', 5 ])), '200', 'delay: a second body at once');
	$node->poll_query_until('push', q{SELECT count(*) = 2 FROM raydar.task_history WHERE cluster = 'delay'});
	my $waited = time - $t0;
	ok($waited >= 3.5, "delay: the second body was merged about 4 s after the first drain began (after ${waited}s)");
	$node->safe_psql('postgres', "ALTER SYSTEM SET raydar.event_merge_delay = '600s';
		ALTER SYSTEM SET raydar.event_merge_chunk = '64kB'; SELECT pg_reload_conf();");
	sleep 2;
	is(post("$base/delay", task_body([ 'def', 6 ], [ 'life', 6 ])), '200', 'delay: a third body, the delay now 10 minutes');
	my $big = task_body(map { ([ 'def', $_ ], [ 'life', $_ ]) } 7 .. 9);
	$big =~ s/"taskName": "split-(\d)-/"taskName": "split-$1-@{[ 'x' x 30000 ]}-/g;
	is(post("$base/delay", $big), '200', 'delay: then a body larger than the chunk');
	# poll_query_until gives up long before 10 minutes
	ok($node->poll_query_until('push', q{SELECT count(*) = 6 FROM raydar.task_history WHERE cluster = 'delay'}),
	   'delay: a chunk\'s worth spooled is drained without waiting out the delay');
	$node->safe_psql('postgres', "ALTER SYSTEM RESET raydar.event_merge_delay; ALTER SYSTEM RESET raydar.event_merge_chunk;
		ALTER SYSTEM RESET log_min_messages; SELECT pg_reload_conf();");
}

# 6. A finished attempt whose definition never comes: after
# raydar.event_definition_wait it is stored as Ray shows it (no name);
# the definition arriving later replaces the row.
{
	$node->safe_psql('postgres', "ALTER SYSTEM SET raydar.event_definition_wait = '1s'; SELECT pg_reload_conf();");
	$node->safe_psql('push', "SELECT raydar.receive_events('nodef')");
	my $life = '[{"eventId": "bm9kZWYtMQ==", "eventType": "TASK_LIFECYCLE_EVENT", "sessionName": "s1", "taskLifecycleEvent": {"taskId": "CQIDBAUGBwgJCgsMDQ4PEBESExQBAAAA", "taskAttempt": 0, "jobId": "AQAAAA==", "stateTransitions": [{"state": "RUNNING", "timestamp": "2026-01-02T00:00:00Z"}, {"state": "FINISHED", "timestamp": "2026-01-02T00:00:02Z"}]}}]';
	is(post("$base/nodef", $life), '200', 'a lifecycle event without its definition');
	drained();
	is($node->safe_psql('push', q{SELECT count(*) FROM raydar.task_live WHERE cluster = 'nodef'}), '1',
	   'waits in task_live at first');
	ok($node->poll_query_until('push', q{SELECT count(*) = 1 FROM raydar.task_history WHERE cluster = 'nodef'}),
	   'then is stored in task_history without its definition');
	is($node->safe_psql('push', q{SELECT coalesce(name, 'null') || ' ' || state || ' ' || end_time::text || ' ' ||
		(SELECT count(*) FROM raydar.task_live WHERE cluster = 'nodef') FROM raydar.task_history WHERE cluster = 'nodef'}),
	   'null FINISHED 2026-01-02 00:00:02+00 0', 'with its state and times, no name, and no longer live');
	my $def = '[{"eventId": "bm9kZWYtMg==", "eventType": "TASK_DEFINITION_EVENT", "sessionName": "s1", "taskDefinitionEvent": {"taskId": "CQIDBAUGBwgJCgsMDQ4PEBESExQBAAAA", "taskAttempt": 0, "taskType": "NORMAL_TASK", "language": "PYTHON", "taskName": "späte Definition", "jobId": "AQAAAA=="}}]';
	is(post("$base/nodef", $def), '200', 'the definition, late');
	drained();
	is($node->safe_psql('push', q{SELECT count(*) || ' ' || min(name) FROM raydar.task_history WHERE cluster = 'nodef'}),
	   '1 späte Definition', 'replaces the row: still one, now named');
	$node->safe_psql('postgres', "ALTER SYSTEM RESET raydar.event_definition_wait; SELECT pg_reload_conf();");
}

# 6b. The merger writes new attempts into event_attempts as COPY does
# (bulk_insert.c), which fires no trigger: a table with a trigger (a
# user's audit, say) is written through SQL instead, so the trigger sees
# every attempt, and the rows are the same.
{
	$node->safe_psql('push', q{
		CREATE TABLE attempt_audit (op text, task_id bytea, attempt_number int);
		CREATE FUNCTION audit_attempt() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN INSERT INTO attempt_audit VALUES (TG_OP, NEW.task_id, NEW.attempt_number); RETURN NEW; END $$;
		CREATE TRIGGER audit AFTER INSERT OR UPDATE ON raydar.event_attempts FOR EACH ROW EXECUTE FUNCTION audit_attempt();
		SELECT raydar.receive_events('trig');});
	my $r = push_load(url => "$base/trig", attempts => 500, expected => "$tmp/trig.jsonl", seed => 5);
	ok($r->{complete} && $r->{acked_events} == $r->{events}, 'trigger: every batch acknowledged');
	drained();
	compare_rows('trig', "$tmp/trig.jsonl", 'trigger on event_attempts');
	is($node->safe_psql('push', q{SELECT count(DISTINCT (task_id, attempt_number)) || ' ' || count(*) FILTER (WHERE op = 'INSERT')
		FROM attempt_audit}), '500 500', 'the trigger saw each of the 500 attempts inserted once');
	$node->safe_psql('push', 'DROP TRIGGER audit ON raydar.event_attempts');
}

# 7. A new session of a polled cluster is bound to the poller's incarnation
# only when no other session holds it: whichever comes first after a Ray
# restart (a body of the new session, or the poll that sees the new run),
# the binding is the same.
{
	$node->safe_psql('push', q{CREATE SERVER pc FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:9');
		CREATE USER MAPPING FOR CURRENT_USER SERVER pc; SELECT raydar.track('pc'); SELECT raydar.receive_events('pc');});
	$node->poll_query_until('push', q{SELECT count(*) = 1 FROM raydar.collector_status WHERE server::text = 'pc'});
	# The first run: polled as I1, pushed as session s-old.
	$node->safe_psql('push', q{UPDATE raydar.collector_status SET incarnation = 'I1' WHERE server::text = 'pc';
		INSERT INTO raydar.event_sessions (cluster, session_name, incarnation) VALUES ('pc', 's-old', 'I1');});
	(my $new = $dup) =~ s/"s1"/"s-new"/g;
	is(post("$base/pc", $new), '200', 'a body of a new session, before the poller has seen the new run');
	sleep 2;
	is($node->safe_psql('push', q{SELECT count(*) FROM raydar.event_spool WHERE cluster = 'pc'}) . ' '
	   . $node->safe_psql('push', q{SELECT count(*) FROM raydar.event_sessions WHERE session_name = 's-new'}),
	   '1 0', 'waits in the spool, unbound, while the poller\'s incarnation is the old run\'s');
	$node->safe_psql('push', q{UPDATE raydar.collector_status SET incarnation = 'I2' WHERE server::text = 'pc'});
	drained();
	is($node->safe_psql('push', q{SELECT incarnation FROM raydar.event_sessions WHERE cluster = 'pc' AND session_name = 's-new'}),
	   'I2', 'bound to the new run once the poller sees it');
	is($node->safe_psql('push', q{SELECT count(*) || ' ' || min(incarnation) FROM raydar.task_history WHERE cluster = 'pc'}),
	   '1 I2', 'and its attempt stored under it');
	# A run the poller never sees: after raydar.event_session_wait, its own name.
	$node->safe_psql('postgres', "ALTER SYSTEM SET raydar.event_session_wait = '1s'; SELECT pg_reload_conf();");
	(my $lost = $dup) =~ s/"s1"/"s-unseen"/g;
	$lost =~ s/ZHVwLT/dW5zZWVuLT/g;
	is(post("$base/pc", $lost), '200', 'a body of a session the poller never sees');
	drained();
	is($node->safe_psql('push', q{SELECT incarnation FROM raydar.event_sessions WHERE cluster = 'pc' AND session_name = 's-unseen'}),
	   's-unseen', 'bound to its own name after raydar.event_session_wait');
	$node->safe_psql('postgres', "ALTER SYSTEM RESET raydar.event_session_wait; SELECT pg_reload_conf();");
}

# 7b. A new session of a push-only cluster: Ray runs one session at a time,
# so the attempts an earlier session left pending or running leave task_live
# (as the poller drops them on a new incarnation), except those of a job
# whose end awaits its marking; a late body of the old session reaches
# history but never task_live, and never touches the new session's row of
# the same task id (a job's driver task has the same id in every session).
{
	$node->safe_psql('push', q{SELECT raydar.receive_events('rs')});
	$node->safe_psql('postgres', "ALTER SYSTEM SET raydar.event_job_end_wait = -1;
		ALTER SYSTEM SET raydar.event_worker_death_wait = -1; SELECT pg_reload_conf();");
	my $n = 0;
	my $ev = sub {
		my ($session, $type, $key, $payload) = @_;
		return { eventId => encode_base64('restart-' . $n++, ''), sourceType => 'CORE_WORKER', eventType => $type,
			timestamp => '2026-12-01T00:00:00Z', severity => 'INFO', message => '', sessionName => $session,
			$key => $payload };
	};
	my $b64 = sub { encode_base64(pack('H*', $_[0]), '') };
	my $tid = sub { $b64->(($_[0] x 20) . $_[1]) };    # 20 bytes, then the job's 4
	my $task = sub {
		my ($session, $t, $job, $name, @states) = @_;
		my $ts = 0;
		return ($ev->($session, 'TASK_DEFINITION_EVENT', 'taskDefinitionEvent',
				{ taskId => $tid->($t, $job), taskAttempt => 0, taskType => 'NORMAL_TASK', language => 'PYTHON',
				  taskName => $name, jobId => $b64->($job) }),
			$ev->($session, 'TASK_LIFECYCLE_EVENT', 'taskLifecycleEvent',
				{ taskId => $tid->($t, $job), taskAttempt => 0, jobId => $b64->($job),
				  stateTransitions => [ map { { state => $_, timestamp => '2026-12-01T00:00:0' . $ts++ . 'Z' } } @states ] }));
	};
	my $job_end = $ev->('sa', 'DRIVER_JOB_LIFECYCLE_EVENT', 'driverJobLifecycleEvent',
		{ jobId => $b64->('02000000'), stateTransitions => [ { state => 'FINISHED', timestamp => '2026-12-01T00:00:09Z' } ] });
	# x7 runs on worker W, whose death (Ray 2026's worker event) is merged
	# before sb starts and marked after.
	my $w_b64 = $b64->('77' x 28);
	my @x7 = $task->('sa', 'a7', '01000000', 'x7 dead worker', 'RUNNING');
	$x7[1]{taskLifecycleEvent}{workerId} = $w_b64;
	my $w_dead = $ev->('sa', 'WORKER_LIFECYCLE_EVENT', 'workerLifecycleEvent',
		{ workerId => $w_b64, stateTransitions => [ { state => 'DEAD', timestamp => '2026-12-01T00:00:08Z',
			endTimeMs => '1764547208000', deathInfo => { exitType => 'NODE_OUT_OF_MEMORY', exitDetail => 'OOM' } } ] });
	my $live = sub {
		$node->safe_psql('push', q{SELECT string_agg(name || '@' || incarnation || ':' || state, ' ' ORDER BY name, incarnation)
			FROM raydar.task_live WHERE cluster = 'rs'});
	};
	is(post("$base/rs", encode_json([ $task->('sa', 'a1', '01000000', 'x1 old', 'RUNNING'),
		$task->('sa', 'a2', '02000000', 'x2 ended job', 'RUNNING'),
		$task->('sa', 'a6', '01000000', 'x6 pending', 'PENDING_ARGS_AVAIL'),
		$task->('sa', 'a3', '01000000', 'x3 done', 'RUNNING', 'FINISHED'), $job_end, @x7, $w_dead ])), '200',
	   'session sa: running attempts, a pending one, a finished one, the end of one running attempt\'s job, '
	   . 'the death of another one\'s worker');
	drained();
	is($live->(), 'x1 old@sa:RUNNING x2 ended job@sa:RUNNING x6 pending@sa:PENDING_ARGS_AVAIL x7 dead worker@sa:RUNNING',
	   'the running and pending attempts are live');
	my $logpos = -s $node->logfile;
	is(post("$base/rs", encode_json([ $task->('sb', 'a1', '01000000', 'x1 new', 'RUNNING'),
		$task->('sb', 'a4', '01000000', 'x4', 'RUNNING') ])), '200',
	   'session sb: the same task id as a running attempt of sa, and another');
	drained();
	is($live->(), 'x1 new@sb:RUNNING x2 ended job@sa:RUNNING x4@sb:RUNNING x7 dead worker@sa:RUNNING',
	   'sa\'s running and pending attempts left task_live; those whose job ended or worker died stay for their marking');
	like(substr(slurp_file($node->logfile), $logpos),
		 qr/cluster "rs" started session "sb"; 2 attempts its earlier sessions left pending or running were removed/,
		 'the server log says how many attempts left');
	$node->safe_psql('postgres', "ALTER SYSTEM SET raydar.event_job_end_wait = '1s';
		ALTER SYSTEM SET raydar.event_worker_death_wait = '1s'; SELECT pg_reload_conf();");
	ok($node->poll_query_until('push', q{SELECT count(*) = 1 FROM raydar.task_history
		WHERE cluster = 'rs' AND incarnation = 'sa' AND name = 'x2 ended job' AND state = 'FAILED'}),
	   'the ended job\'s attempt is marked FAILED in sa\'s history, as Ray\'s GCS marks it');
	ok($node->poll_query_until('push', q{SELECT count(*) = 1 FROM raydar.task_history
		WHERE cluster = 'rs' AND incarnation = 'sa' AND name = 'x7 dead worker' AND state = 'FAILED'
		AND error_message = 'Worker running the task (' || repeat('77', 28) || ') died with exit_type: 4 with error_message: OOM'
		AND end_time = to_timestamp(1764547208)}),
	   'the dead worker\'s attempt is marked FAILED in sa\'s history, with the worker\'s message and end');
	is($live->(), 'x1 new@sb:RUNNING x4@sb:RUNNING', 'and leaves task_live; sb\'s attempts stay');
	# A late body of sa: x1 finishes, x5 starts.
	my @late = $task->('sa', 'a1', '01000000', 'x1 old', 'RUNNING', 'FINISHED');
	is(post("$base/rs", encode_json([ $late[1], $task->('sa', 'a5', '01000000', 'x5 late', 'RUNNING') ])), '200',
	   'a late body of sa');
	drained();
	is($node->safe_psql('push', q{SELECT string_agg(name || '@' || incarnation || ':' || state, ' ' ORDER BY name)
		FROM raydar.task_history WHERE cluster = 'rs'}),
	   'x1 old@sa:FINISHED x2 ended job@sa:FAILED x3 done@sa:FINISHED x7 dead worker@sa:FAILED',
	   'its finished attempt is in sa\'s history');
	is($live->(), 'x1 new@sb:RUNNING x4@sb:RUNNING', 'its running one is not live, and sb\'s row of the same task id is untouched');
	$node->safe_psql('postgres', "ALTER SYSTEM RESET raydar.event_job_end_wait;
		ALTER SYSTEM RESET raydar.event_worker_death_wait; SELECT pg_reload_conf();");

	# raydar_admin's functions work for a member of raydar_admin (they
	# write tables it has no privileges on); stop_receiving() empties the
	# cluster's task_live (no event will end those attempts), as untrack()
	# does, and keeps its history.
	$node->safe_psql('push', q{CREATE ROLE push_admin LOGIN IN ROLE raydar_admin});
	is($node->safe_psql('push', q{SELECT raydar.receive_events('rs2', token => 'tok-abcdefghijklmnop')},
		extra_params => [ '-U', 'push_admin' ]), '/events/rs2/tok-abcdefghijklmnop',
	   'a member of raydar_admin registers a cluster');
	is($node->safe_psql('push', q{SELECT registered_by FROM raydar.event_clusters WHERE cluster = 'rs2'}),
	   'push_admin', 'registered_by names the caller, not the function\'s owner');
	is($node->safe_psql('push', q{SELECT raydar.stop_receiving('rs') || ' ' || raydar.stop_receiving('rs2') || ' '
		|| raydar.stop_receiving('no-such-cluster')}, extra_params => [ '-U', 'push_admin' ]),
	   'true true false', 'and stops receiving clusters; an unknown one is false');
	is($node->safe_psql('push', q{SELECT (SELECT count(*) FROM raydar.task_live WHERE cluster = 'rs') || ' '
		|| (SELECT count(*) FROM raydar.task_history WHERE cluster = 'rs')}),
	   '0 4', 'the stopped cluster\'s live attempts left task_live; its history stays');
	# The receiver keeps registrations for 2 s.
	my $code = '';
	for (1 .. 50) { $code = post("$base/rs", '[]'); last if $code eq '404'; select(undef, undef, undef, 0.2); }
	is($code, '404', 'its events are refused from then on');
}

# 8. TLS: the same receiver over HTTPS with a certificate (superuser settings).
my $certs = decode_json(`/usr/bin/python3 $repo/test/raysim/raysim.py make-certs --dir $tmp/certs`);
$node->append_conf('postgresql.conf', qq{
raydar.event_receiver_tls_cert = '$certs->{cert}'
raydar.event_receiver_tls_key = '$certs->{key}'
});
$node->restart;
$node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'raydar event receiver'});
sub post_tls
{
	my ($url, $ca) = @_;
	my $out = '';
	IPC::Run::run([ 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', $ca, '-X', 'POST',
		'--data-binary', '[]', $url ], '>', \$out);
	return $out;
}
my $https = "https://localhost:$port/events/c3";
my $ok = '';
for (1 .. 50) { $ok = post_tls($https, $certs->{ca}); last if $ok eq '200'; select(undef, undef, undef, 0.2); }
is($ok, '200', 'HTTPS with the configured certificate is answered 200');
is(post_tls($https, $certs->{other_ca}), '000', 'a client trusting another CA refuses the certificate');
isnt(post("http://127.0.0.1:$port/events/c3", '[]'), '200', 'plain HTTP is not served when TLS is on');

$node->stop;
done_testing();
