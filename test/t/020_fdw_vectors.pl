# 020_fdw_vectors.pl
#	The foreign table against Ray's own bytes: for every version profile
#	the simulator replays the vector folder (check_alive_reply.bin and
#	get_task_events_reply.bin verbatim), and every column of every row of
#	live.tasks must equal expected_tasks.json. Also: the version is learnt
#	with exactly one CheckAlive, the unfiltered scan sends no Filters,
#	raydar.last_scan() carries the reply's counters, and the dropped
#	counters raise a WARNING.
use strict;
use warnings;
use B;
use Encode qw(decode);
use FindBin;
use lib "$FindBin::RealBin/../perl";
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RaySim;
use Test::More;

# The wire vectors are fixtures in the repository; RAYDAR_VECTORS overrides.
my $vectors = $ENV{RAYDAR_VECTORS} || "$FindBin::RealBin/../fixtures/ray-wire";

my $node = PostgreSQL::Test::Cluster->new('fdw_vectors');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'raydar'\ntimezone = 'UTC'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION raydar');

my %versions = ('2.9' => '2.9.3', '2.35' => '2.35.0', '2.40' => '2.40.0',
				'2.49' => '2.49.2', 'master' => '3.0.0.dev0', '2.58' => '2.58.0');
my %predicate_layout = ('2.49' => 1, 'master' => 1, '2.58' => 1);
my $canon = JSON::PP->new->canonical->allow_nonref;

# JSON values equal, objects by key, numbers numerically.
sub is_num
{
	my $f = B::svref_2object(\$_[0])->FLAGS;
	return ($f & (B::SVp_IOK | B::SVp_NOK)) && !($f & B::SVp_POK);
}

sub json_eq
{
	my ($a, $b) = @_;
	return !defined $b if !defined $a;
	return 0 if !defined $b;
	if (ref $a eq 'HASH')
	{
		return 0 unless ref $b eq 'HASH';
		my @ka = sort keys %$a;
		my @kb = sort keys %$b;
		return 0 unless "@ka" eq "@kb";
		for (@ka) { return 0 unless json_eq($a->{$_}, $b->{$_}); }
		return 1;
	}
	if (ref $a eq 'ARRAY')
	{
		return 0 unless ref $b eq 'ARRAY' && @$a == @$b;
		for (0 .. $#$a) { return 0 unless json_eq($a->[$_], $b->[$_]); }
		return 1;
	}
	if (JSON::PP::is_bool($a) || JSON::PP::is_bool($b))
	{
		return JSON::PP::is_bool($a) && JSON::PP::is_bool($b) && (!!$a == !!$b);
	}
	return 0 if ref $a || ref $b;
	if (is_num($a) || is_num($b))
	{
		return is_num($a) && is_num($b) && $a == $b;
	}
	return $a eq $b;
}

for my $profile (sort keys %versions)
{
	my $dir = "$vectors/ray-$profile";
	my $expected = decode_json(slurp_file("$dir/expected_tasks.json"));
	my %want = map { ("$_->{task_id}/$_->{attempt_number}" => $_) } @{ $expected->{tasks} };

	my $sim = RaySim->new(replay => $dir, name => "vectors_$profile");
	my $port = $sim->grpc_port;
	$node->safe_psql('postgres', qq{
		DROP SCHEMA IF EXISTS live CASCADE;
		DROP SERVER IF EXISTS ray CASCADE;
		CREATE SERVER ray FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:$port');
		CREATE SCHEMA live;
		IMPORT FOREIGN SCHEMA ray FROM SERVER ray INTO live;});
	$sim->clear_requests;

	# One session: the scan, then what it left behind. Every column is read
	# (to_jsonb(t) builds all of them); times are added as epoch ms.
	my ($rc, $out, $err) = $node->psql('postgres', q{
		SELECT to_jsonb(t) || jsonb_build_object(
				 'creation_time_ms', extract(epoch FROM t.creation_time) * 1000,
				 'start_time_ms', extract(epoch FROM t.start_time) * 1000,
				 'end_time_ms', extract(epoch FROM t.end_time) * 1000,
				 'serialized_runtime_env', t.runtime_env_info->>'serialized_runtime_env')
		  FROM live.tasks t;
		\echo ==LAST_SCAN==
		SELECT to_jsonb(s) FROM raydar.last_scan() s;
		\echo ==EXPLAIN==
		EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM live.tasks;});
	$out = decode('UTF-8', $out);
	$err = decode('UTF-8', $err);
	is($rc, 0, "$profile: SELECT * FROM live.tasks succeeds") or diag($err);
	my ($rows_text, $last_text, $explain) = split /^==(?:LAST_SCAN|EXPLAIN)==\n/m, $out;
	$rows_text //= '';
	$last_text //= '{}';
	$explain //= '';
	my @rows = map { decode_json(Encode::encode('UTF-8', $_)) } grep { /\S/ } split /\n/, $rows_text;
	is(scalar @rows, scalar @{ $expected->{tasks} }, "$profile: one row per task attempt");

	my ($bad, %seen) = (0);
	for my $r (@rows)
	{
		my $key = "$r->{task_id}/$r->{attempt_number}";
		my $w = $want{$key};
		if (!$w || $seen{$key}++)
		{
			diag("$profile: unexpected or repeated attempt $key");
			$bad++;
			next;
		}
		# profiling_data -> 'events', times renamed to the *_ms of the vectors.
		my $pd = $r->{profiling_data};
		my $prof = defined $pd ? $pd->{events} : [];
		$prof = [ map { { event_name => $_->{event_name},
						  start_time_ms => $_->{start_time},
						  end_time_ms => $_->{end_time} } } @{ $prof // [] } ];
		my %got = (%$r, profiling_events => $prof);
		for my $k (sort keys %$w)
		{
			next if json_eq($got{$k}, $w->{$k});
			diag("$profile $key $k: got " . $canon->encode($got{$k})
				  . ", want " . $canon->encode($w->{$k}));
			$bad++;
		}
	}
	is($bad, 0, "$profile: every column of every row equals expected_tasks.json");

	# Columns without a vector key exist and were built (present in the row).
	ok(@rows && (grep { exists $rows[0]{$_} } qw(task_log_info is_debugger_paused runtime_env_info)) == 3,
	   "$profile: the remaining columns are present");

	my $last = decode_json($last_text);
	is_deeply(
		[ map { $last->{$_} } qw(rows num_status_task_events_dropped num_profile_task_events_dropped num_truncated from_cache) ],
		[ scalar @{ $expected->{tasks} }, $expected->{num_status_task_events_dropped},
		  $expected->{num_profile_task_events_dropped}, $expected->{num_truncated}, JSON::PP::false ],
		"$profile: raydar.last_scan() reports the reply's counters");
	is($last->{server}, 'ray', "$profile: raydar.last_scan() names the server");
	is($last->{reply_bytes}, -s "$dir/get_task_events_reply.bin",
	   "$profile: raydar.last_scan() reply_bytes is the reply's size");

	like($err,
		 qr/WARNING:  Ray reports incomplete task data: $expected->{num_status_task_events_dropped} task attempts dropped, $expected->{num_profile_task_events_dropped} profile events dropped, $expected->{num_truncated} attempts truncated/,
		 "$profile: a WARNING reports the dropped task events");

	my $layout = $predicate_layout{$profile} ? '\{predicate, value\} filters' : 'scalar filters';
	like($explain, qr/Ray Version: \Q$versions{$profile}\E \($layout\)/,
		 "$profile: EXPLAIN shows the detected version and its filter layout");

	my $reqs = $sim->requests;
	my @alive = grep { $_->{method} =~ /CheckAlive$/ } @$reqs;
	my @gte = grep { $_->{method} =~ /GetTaskEvents$/ } @$reqs;
	is(scalar @alive, 1, "$profile: the version was learnt with one CheckAlive");
	ok(@alive && @gte && $alive[0]{time} <= $gte[0]{time}, "$profile: CheckAlive came before GetTaskEvents");
	is(scalar @gte, 1, "$profile: one GetTaskEvents for one scan");
	is_deeply([ map { [ $_->{layout}, $_->{limit} ] } @gte ], [ [ 'empty', undef ] ],
			  "$profile: the unfiltered scan sent no Filters and no limit");

	# task_log_info is not in expected_tasks.json: check it against the
	# vector's TaskLogInfo (read with protoc --decode_raw).
	my $w = 'worker-8514c183c5d21df48e929fed79f8daf345e050358972873bd530c8aa-01000000-17982';
	is_deeply(decode_json($node->safe_psql('postgres',
		q{SELECT task_log_info FROM live.tasks WHERE task_id LIKE 'a30fb233%'})),
		{ stdout_file => "/tmp/ray/session_latest/logs/$w.out",
		  stderr_file => "/tmp/ray/session_latest/logs/$w.err",
		  stdout_start => 0, stdout_end => 118, stderr_start => 0, stderr_end => 0 },
		"$profile: task_log_info as Ray sent it");

	# The keys-only decode (a query needing only ids, states and times)
	# gives exactly the rows the full decode gives.
	my $cols = 'task_id, attempt_number, job_id, state, events, creation_time, start_time, end_time';
	like($node->safe_psql('postgres', "EXPLAIN (VERBOSE) SELECT $cols FROM live.tasks"),
		 qr/Ray Decode: keys and states only/, "$profile: id/state query uses the keys-only decode");
	my $keys = $node->safe_psql('postgres', "SELECT $cols FROM live.tasks ORDER BY 1, 2");
	my $full = $node->safe_psql('postgres',
		"SELECT $cols FROM (SELECT $cols, name FROM live.tasks) t ORDER BY 1, 2");
	is($keys, $full, "$profile: keys-only rows equal the full decode's");

	ok($sim->alive, "$profile: the simulator is alive");
	$sim->stop;
}

$node->safe_psql('postgres', 'DROP SCHEMA live CASCADE; DROP SERVER ray CASCADE');
ok(!$node->log_contains(qr/terminated by signal|was terminated/), 'no backend crashed');
$node->stop;
done_testing();
