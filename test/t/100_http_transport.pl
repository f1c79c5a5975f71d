# 100_http_transport.pl
#	The dashboard HTTP transport (dashboard_url) against the simulator's
#	State API: for every version profile the tasks table gives the same
#	rows as the gRPC transport over the same cluster state, with and
#	without pushed filters and LIMIT; the version comes from /api/version;
#	the 10,000-row cap warns and fills raydar.last_scan(); tokens, TLS
#	verification, timeouts, cancel and every HTTP error class end in the
#	documented ERROR (src/http_client.c), promptly, leaving the session
#	usable.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use IO::Socket::INET;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RaySim;
use Test::More;
use JSON::PP qw(decode_json encode_json);
use Time::HiRes qw(time usleep);

my $node = PostgreSQL::Test::Cluster->new('http_transport');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'raydar'\ntimezone = 'UTC'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION raydar');

# Two servers over one simulator: g (gRPC) and h (HTTP), each imported.
sub make_pair
{
	my ($sim, $tag, $hopts) = @_;
	my $addr = $sim->address;
	my $url = $sim->dashboard_url;
	$hopts //= '';
	$node->safe_psql('postgres', qq{
		SET client_min_messages = warning;
		DROP SERVER IF EXISTS g_$tag, h_$tag CASCADE;
		DROP SCHEMA IF EXISTS g_$tag, h_$tag CASCADE;
		CREATE SERVER g_$tag FOREIGN DATA WRAPPER raydar OPTIONS (address '$addr');
		CREATE SERVER h_$tag FOREIGN DATA WRAPPER raydar OPTIONS (dashboard_url '$url' $hopts);
		CREATE SCHEMA g_$tag; CREATE SCHEMA h_$tag;
		IMPORT FOREIGN SCHEMA ray FROM SERVER g_$tag INTO g_$tag;
		IMPORT FOREIGN SCHEMA ray FROM SERVER h_$tag INTO h_$tag;});
}

# Rows of a query over both transports, as sorted text: (grpc, http).
sub both
{
	my ($tag, $q) = @_;
	my @out;
	for my $s ("g_$tag", "h_$tag")
	{
		(my $sql = $q) =~ s/\b(TASKS|ACTORS|NODES|JOBS|WORKERS|PLACEMENT_GROUPS)\b/$s.\L$1\E/g;
		push @out, scalar $node->safe_psql('postgres',
			"SET client_min_messages = error; SELECT string_agg(r::text, E'\\n' ORDER BY r::text) FROM ($sql) r");
	}
	return @out;
}

# Columns of each cluster table Ray's State API does not carry.
my %MISSING = (
	actors => [qw(worker_id node_ip max_restarts start_time end_time)],
	nodes => [qw(hostname node_manager_port object_manager_port instance_id node_type_name instance_type_name)],
	jobs => [qw(is_running_tasks)],
	workers => [qw(port)],
	placement_groups => [qw(strategy creator_actor_id ray_namespace creation_time final_bundle_placement_time)]);

# ---------------------------------------------------------------------------
# Identical rows, every profile, several scenarios.
# ---------------------------------------------------------------------------
# Every column; actor_repr_name, which the tasks route lacks, comes from
# the actors route when a query shows it.
my $ALL_BUT_REPR = q{SELECT to_jsonb(t) AS j FROM TASKS t};
my @PROTO3_EXTRA = (['2.58', 'vectors'], ['2.58', 'mixed']);

for my $profile ('2.9', '2.35', '2.40', '2.49', 'master', '2.58')
{
	for my $scenario ('vectors', 'mixed')
	{
		# speed 0: the cluster stands still between the two scans.
		my $sim = RaySim->new(profile => $profile, scenario => $scenario, dashboard => 1, speed => 0,
							  name => "same-$profile-$scenario");
		$sim->admin('POST', '/advance', { ms => 600_000 });	# play the scenario out
		my $tag = "p" . ($profile =~ s/\.//gr) . "_$scenario";
		make_pair($sim, $tag);
		my ($g, $h) = both($tag, $ALL_BUT_REPR);
		my $n = () = $g =~ /\n/g;
		ok(length($g) > 0, "$profile/$scenario: gRPC has rows (" . ($n + 1) . ")");
		is($h, $g, "$profile/$scenario: every column is identical");

		# raydar.dashboard_packed, the old pack-then-decode road that
		# bench/http/run.sh compares with: the same rows, streamed in full
		# and keys only.
		is($node->safe_psql('postgres', qq{
			SET client_min_messages = error; SET raydar.dashboard_packed = on;
			SELECT string_agg(r::text, E'\\n' ORDER BY r::text) FROM (SELECT to_jsonb(t) AS j FROM h_$tag.tasks t) r}),
		   $g, "$profile/$scenario: raydar.dashboard_packed gives the same columns");
		is($node->safe_psql('postgres', qq{
			SET client_min_messages = error; SET raydar.dashboard_packed = on;
			SELECT count(*) || '/' || count(DISTINCT (task_id, attempt_number)) FROM h_$tag.tasks}),
		   $node->safe_psql('postgres', qq{
			SET client_min_messages = error;
			SELECT count(*) || '/' || count(DISTINCT (task_id, attempt_number)) FROM h_$tag.tasks}),
		   "$profile/$scenario: raydar.dashboard_packed counts the same keys");
		my (undef, undef, $dbg) = $node->psql('postgres', qq{
			SET raydar.dashboard_packed = on; SET client_min_messages = debug1;
			SELECT count(*) FROM h_$tag.tasks});
		like($dbg, qr/raydar\.dashboard_packed: \d+ task rows read through \d+ packed bytes/,
			 "$profile/$scenario: raydar.dashboard_packed takes the packed road");

		# actor_repr_name: HTTP's is gRPC's or NULL, and never NULL for a renamed task.
		is($node->safe_psql('postgres', qq{
			SET client_min_messages = error;
			SELECT count(*) FROM g_$tag.tasks g JOIN h_$tag.tasks h USING (task_id, attempt_number)
			 WHERE h.actor_repr_name IS DISTINCT FROM g.actor_repr_name
			   AND (h.actor_repr_name IS NOT NULL
			        OR g.name = g.actor_repr_name || '.' || regexp_replace(g.func_or_class_name, '^.*\\.', ''))}),
		   '0', "$profile/$scenario: actor_repr_name agrees wherever Ray renamed the task");

		# Pushed filters and LIMIT give the same rows as over gRPC.
		my $job = $node->safe_psql('postgres', "SELECT min(job_id) FROM g_$tag.tasks");
		my $task = $node->safe_psql('postgres', "SELECT max(task_id) FROM g_$tag.tasks");
		for my $where ("job_id = '$job'", "task_id = '$task'", "state = 'FINISHED'",
					   "state <> 'FINISHED'", "name = 'evaluate'", "job_id = '$job' AND state = 'FAILED'")
		{
			my ($gw, $hw) = both($tag, "SELECT task_id, attempt_number, state, name FROM TASKS WHERE $where");
			is($hw, $gw, "$profile/$scenario: WHERE $where");
		}
		my ($gl, $hl) = both($tag, "SELECT count(*) FROM (SELECT task_id FROM TASKS LIMIT 3) s");
		is($hl, '(3)', "$profile/$scenario: LIMIT 3 gives 3 rows") if $n >= 2;

		# The cluster tables: every column the State API carries is
		# identical; the others are NULL over HTTP (docs/transports.md).
		for my $table ($scenario eq 'mixed' ? sort keys %MISSING : ())
		{
			# Submission jobs' times are compared below.
			my @skip = (@{ $MISSING{$table} }, $table eq 'jobs' ? qw(start_time end_time) : ());
			my $m = join(', ', map { "'$_'" } @skip);
			my ($gc, $hc) = both($tag, "SELECT to_jsonb(t) - ARRAY[$m]::text[] FROM \U$table\E t");
			ok(length($gc) > 0, "$profile/$scenario: $table has rows over gRPC");
			is($hc, $gc, "$profile/$scenario: $table: the State API's columns are identical");
			is($node->safe_psql('postgres', "SELECT count(*) FROM h_$tag.$table t WHERE "
					. join(' OR ', map { "t.$_ IS NOT NULL" } @{ $MISSING{$table} })),
			   '0', "$profile/$scenario: $table: the columns it lacks are NULL");
		}
		# Filters on actors, nodes and jobs go to the dashboard too (as
		# filter_keys, rechecked by PostgreSQL) and give gRPC's rows.
		if ($scenario eq 'mixed')
		{
			my %q = (actors => 'actor_id', nodes => 'node_id', jobs => 'job_id');
			my $ajob = $node->safe_psql('postgres', "SELECT min(job_id) FROM g_$tag.actors");
			my $actor = $node->safe_psql('postgres', "SELECT max(actor_id) FROM g_$tag.actors");
			my $nid = $node->safe_psql('postgres', "SELECT min(node_id) FROM g_$tag.nodes");
			my $jid = $node->safe_psql('postgres', "SELECT min(job_id) FROM g_$tag.jobs");
			$sim->clear_requests;
			for my $c (["actors", "job_id = '$ajob'"], ["actors", "state = 'ALIVE'"],
					   ["actors", "actor_id = '$actor'"], ["actors", "state = 'DEAD' AND job_id = '$ajob'"],
					   ["nodes", "state = 'ALIVE'"], ["nodes", "node_id = '$nid'"],
					   ["jobs", "job_id = '$jid'"], ["workers", "is_alive = 'true'"])
			{
				my ($table, $where) = @$c;
				my $key = $table eq 'workers' ? 'worker_id' : $q{$table};
				my ($gf, $hf) = both($tag, "SELECT $key FROM \U$table\E WHERE $where");
				is($hf, $gf, "$profile/$scenario: $table WHERE $where");
			}
			my @sent = map { join('&', map { "$_->[0]=$_->[1]" } @{ $_->{query} }) }
			  grep { $_->{path} eq '/api/v0/actors' } @{ $sim->http_requests };
			ok((grep { /filter_keys=job_id&filter_predicates==&filter_values=$ajob/ } @sent),
			   "$profile/$scenario: actors WHERE job_id = is sent to the dashboard");
		}

		# Submission jobs: the State API has the submission's times, not the driver's.
		if ($scenario eq 'mixed')
		{
			my ($gj, $hj) = both($tag, "SELECT job_id, start_time, end_time FROM JOBS WHERE status IS NULL");
			ok(length($gj) > 0, "$profile/$scenario: there are driver jobs");
			is($hj, $gj, "$profile/$scenario: driver jobs' times are identical");
			is($node->safe_psql('postgres', "SELECT count(*) FILTER (WHERE start_time IS NULL AND end_time IS NULL)
				|| '/' || count(*) FROM h_$tag.jobs WHERE status IS NOT NULL"),
			   '2/2', "$profile/$scenario: submission jobs' driver times are NULL over HTTP");
		}

		if ($scenario eq 'vectors')
		{
			# The pushed filters travel as the dashboard's query parameters.
			my $log = $sim->http_requests;
			my @q = map { join('&', map { "$_->[0]=$_->[1]" } @{ $_->{query} }) }
			  grep { $_->{path} eq '/api/v0/tasks' } @$log;
			ok((grep { /filter_keys=job_id&filter_predicates==&filter_values=$job/ } @q),
			   "$profile: job_id = is sent as filter_keys/filter_predicates/filter_values");
			ok((grep { /^detail=true&limit=10000&timeout=30&exclude_driver=false$/ } @q),
			   "$profile: an unfiltered scan asks for every detail, the cap, drivers");
			ok((grep { /limit=3&/ } @q), "$profile: LIMIT 3 is pushed as limit=3");
			ok((grep { $_->{path} eq '/api/version' } @$log),
			   "$profile: the version came from /api/version");
			# actor_repr_name costs a request to the actors route, only when shown.
			$sim->clear_requests;
			$node->safe_psql('postgres', "SELECT count(*), max(name) FROM h_$tag.tasks");
			is(scalar(grep { $_->{path} eq '/api/v0/actors' } @{ $sim->http_requests }), 0,
			   "$profile: a scan without actor_repr_name does not ask for the actors");
			$node->safe_psql('postgres', "SELECT count(actor_repr_name) FROM h_$tag.tasks");
			is(scalar(grep { $_->{path} eq '/api/v0/actors' } @{ $sim->http_requests }), 1,
			   "$profile: one that shows it asks once");
		}
		$sim->stop;
	}
}

# ---------------------------------------------------------------------------
# proto3 JSON: the dashboard in the mapping's other forms (integers as
# strings, enums as numbers on every other row, numbers no version declares
# as numbers; test/raysim/raysim/proto3json.py) gives gRPC's rows, with no
# warning. Values no form allows are NULL plus one counted WARNING.
# ---------------------------------------------------------------------------
for my $case (['2.9', 'vectors'], ['2.49', 'mixed'], ['master', 'vectors'], ['master', 'mixed'],
			  @PROTO3_EXTRA)
{
	my ($profile, $scenario) = @$case;
	my $sim = RaySim->new(profile => $profile, scenario => $scenario, dashboard => 1, speed => 0,
						  name => "p3-$profile-$scenario");
	$sim->admin('POST', '/advance', { ms => 600_000 });
	$sim->admin('POST', '/dashboard', { json => 'proto3' });
	my $tag = "q" . ($profile =~ s/\.//gr) . "_$scenario";
	make_pair($sim, $tag);
	my ($g, $h) = both($tag, $ALL_BUT_REPR);
	ok(length($g) > 0, "proto3 $profile/$scenario: gRPC has rows");
	is($h, $g, "proto3 $profile/$scenario: every task column is identical");
	my @tables = $scenario eq 'mixed' ? sort keys %MISSING : ();
	for my $table (@tables)
	{
		my @skip = (@{ $MISSING{$table} }, $table eq 'jobs' ? qw(start_time end_time) : ());
		my $m = join(', ', map { "'$_'" } @skip);
		my ($gc, $hc) = both($tag, "SELECT to_jsonb(t) - ARRAY[$m]::text[] FROM \U$table\E t");
		ok(length($gc) > 0, "proto3 $profile/$scenario: $table has rows over gRPC");
		is($hc, $gc, "proto3 $profile/$scenario: $table: the State API's columns are identical");
	}
	my ($ret, $out, $err) = $node->psql('postgres',
		join('; ', map { "SELECT count(*) FROM h_$tag.$_" } ('tasks', @tables)));
	is($ret, 0, "proto3 $profile/$scenario: every scan succeeds");
	unlike($err, qr/could not read/, "proto3 $profile/$scenario: no value is odd");
	$sim->stop;
}
{
	my $sim = RaySim->new(profile => 'master', scenario => 'mixed', dashboard => 1, speed => 0, name => 'odd');
	$sim->admin('POST', '/advance', { ms => 600_000 });
	make_pair($sim, 'odd');
	$sim->admin('POST', '/dashboard', { odd => [
		{ resource => 'actors', row => 1, key => 'pid', value => 'x' },
		{ resource => 'actors', row => 2, key => 'state', value => 'NAPPING' },
		{ resource => 'tasks', row => 0, key => 'error_type', value => JSON::PP::true } ] });
	my $n = $node->safe_psql('postgres', "SELECT count(*) FROM g_odd.actors");
	my ($ret, $out, $err) = $node->psql('postgres', "SELECT count(*), count(pid), count(state) FROM h_odd.actors");
	is($ret, 0, "odd values: the actors scan succeeds");
	is($out, "$n|" . ($n - 1) . "|" . ($n - 1), "odd values: the two odd fields are NULL, the rest read");
	like($err, qr/WARNING:  the Ray dashboard sent 2 values raydar could not read; they are shown as NULL/,
		 "odd values: one WARNING counts both");
	like($err, qr/DETAIL:  First: row 2: "pid" is not an integer in \[0, 4294967295\]: "x"/,
		 "odd values: it names the first: row, key and value");
	is($node->safe_psql('postgres', qq{
		SET client_min_messages = error;
		SELECT count(*) FROM g_odd.actors g JOIN h_odd.actors h USING (actor_id)
		 WHERE h.pid IS DISTINCT FROM g.pid OR h.state IS DISTINCT FROM g.state}),
	   '2', "odd values: every other actor is gRPC's");
	($ret, $out, $err) = $node->psql('postgres', "SELECT count(*) FROM h_odd.tasks");
	is($ret, 0, "odd values: a task scan with an odd error_type succeeds");
	like($err, qr/sent 1 value raydar could not read; it is shown as NULL.*\n.*"error_type" has an unknown value true/,
		 "odd values: singular message, the task's key");
	# The GCS's worker filter keeps everything for is_alive = false
	# (GcsWorkerManager::HandleGetAllWorkerInfo): the rows must still be the dead ones.
	my $dead = $node->safe_psql('postgres',
		"SELECT count(*) FILTER (WHERE NOT is_alive) || '/' || count(*) FROM (SELECT * FROM g_odd.workers OFFSET 0) w");
	like($dead, qr{^[1-9]\d*/\d+$}, "workers: some are dead ($dead)");
	is($node->safe_psql('postgres', "SELECT count(*) FROM g_odd.workers WHERE is_alive = false"),
	   (split m{/}, $dead)[0], 'workers WHERE is_alive = false: exactly the dead ones over gRPC');
	is($node->safe_psql('postgres', "SELECT count(*) FROM g_odd.workers WHERE NOT is_alive"),
	   (split m{/}, $dead)[0], 'workers WHERE NOT is_alive: the same');
	$sim->stop;
}

# ---------------------------------------------------------------------------
# Ray 2.58's task events out of the GCS (RAY_enable_ray_event=1): the GCS
# holds none, the dashboard still lists them. Over gRPC an unfiltered empty
# scan of a cluster with actors or running jobs warns, with a hint; over
# HTTP the rows are there and nothing warns.
# ---------------------------------------------------------------------------
{
	my $sim = RaySim->new(profile => '2.58', scenario => 'mixed', dashboard => 1, speed => 0, name => 'rayevent');
	$sim->admin('POST', '/advance', { ms => 600_000 });
	make_pair($sim, 're');
	my $n = $node->safe_psql('postgres', "SET client_min_messages = error; SELECT count(*) FROM g_re.tasks");
	cmp_ok($n, '>', 0, "ray_event: gRPC has the tasks before ($n)");
	my ($ret, $out, $err) = $node->psql('postgres', "SELECT count(*) FROM g_re.tasks");
	unlike($err, qr/no task events/, "ray_event: no warning while the GCS has them");
	$sim->admin('POST', '/ray_event', { enabled => JSON::PP::true });
	($ret, $out, $err) = $node->psql('postgres', "SELECT count(*) FROM g_re.tasks");
	is($out, '0', "ray_event: the GCS returns no task events");
	like($err, qr/WARNING:  the Ray cluster behind server "g_re" has (actors|jobs running tasks), but its GCS holds no task events/,
		 "ray_event: gRPC scan warns");
	like($err, qr/DETAIL:  Ray 2.58 and later can send task events to the dashboard's event aggregator/,
		 "ray_event: the detail names the setting");
	like($err, qr/HINT:  Create a server with dashboard_url/, "ray_event: the hint says what to use");
	($ret, $out, $err) = $node->psql('postgres', "SELECT count(*) FROM h_re.tasks");
	is($out, $n, "ray_event: the dashboard still lists every task");
	unlike($err, qr/no task events/, "ray_event: no warning over HTTP");
	($ret, $out, $err) = $node->psql('postgres', "SELECT count(*) FROM g_re.tasks WHERE state = 'FINISHED'");
	unlike($err, qr/no task events/, "ray_event: a filtered scan does not warn (its empty result can be true)");
	# An empty cluster is not this: no actors, no running jobs, no warning.
	$sim->admin('POST', '/scenario', { name => 'empty' });
	($ret, $out, $err) = $node->psql('postgres', "SELECT count(*) FROM g_re.tasks");
	is($out, '0', "ray_event: an empty cluster has no tasks");
	unlike($err, qr/no task events/, "ray_event: and does not warn");
	$sim->stop;
}

# ---------------------------------------------------------------------------
# LIMIT never loses rows the query asked for: the GCS's order is its own
# (GcsTaskManagerStorage::GetTaskEvents walks its eviction tiers), so a
# LIMIT may only be pushed when every condition is. Over gRPC, every
# profile, quals that are and are not pushed: LIMIT n gives min(n, matches).
# ---------------------------------------------------------------------------
for my $profile ('2.9', 'master')
{
	my $sim = RaySim->new(profile => $profile, scenario => 'mixed', speed => 0, name => "limit-$profile");
	$sim->admin('POST', '/advance', { ms => 1_500 });	# mid-run: every state present
	my $addr = $sim->address;
	my $tag = "l" . ($profile =~ s/\.//gr);
	$node->safe_psql('postgres', qq{
		SET client_min_messages = warning;
		DROP SERVER IF EXISTS $tag CASCADE; DROP SCHEMA IF EXISTS $tag CASCADE;
		CREATE SERVER $tag FOREIGN DATA WRAPPER raydar OPTIONS (address '$addr');
		CREATE SCHEMA $tag; IMPORT FOREIGN SCHEMA ray FROM SERVER $tag INTO $tag;});
	my $job = $node->safe_psql('postgres', "SET client_min_messages = error; SELECT min(job_id) FROM $tag.tasks");
	my $bad = 0;
	my $checked = 0;
	for my $where ('true', "state = 'FINISHED'", "state <> 'FINISHED'", "state = 'RUNNING'",
				   "name = 'evaluate'", "func_or_class_name LIKE '%a%'", "error_type IS NOT NULL",
				   "job_id = '$job' AND type = 'ACTOR_TASK'", "attempt_number > 0")
	{
		my $all = $node->safe_psql('postgres',
			"SET client_min_messages = error; SELECT count(*) FROM $tag.tasks WHERE $where");
		for my $n (1, 2, 5)
		{
			my $got = $node->safe_psql('postgres',
				"SET client_min_messages = error; SELECT count(*) FROM (SELECT task_id FROM $tag.tasks WHERE $where LIMIT $n) s");
			my $want = $all < $n ? $all : $n;
			$checked++;
			if ($got != $want)
			{
				$bad++;
				diag("$profile: WHERE $where LIMIT $n gave $got rows, not $want");
			}
		}
	}
	is($bad, 0, "LIMIT: $profile: all $checked (condition, LIMIT) pairs give min(LIMIT, matches) rows");
	$sim->stop;
}

# ---------------------------------------------------------------------------
# EXPLAIN, the cluster tables, and the 10,000-row cap.
# ---------------------------------------------------------------------------
my $sim = RaySim->new(profile => '2.9', scenario => 'many', scenario_params => { count => 10050 },
					  dashboard => 1, name => 'cap');
make_pair($sim, 'cap', ", ray_version '2.9.3'");
my $plan = $node->safe_psql('postgres',
	"EXPLAIN (VERBOSE, COSTS OFF) SELECT task_id FROM h_cap.tasks WHERE job_id = '01000000' AND name = 'f' LIMIT 5");
like($plan, qr/Ray Transport: HTTP/, 'EXPLAIN shows the HTTP transport');
like($plan, qr{Ray Request: GET /api/v0/tasks\?detail=true&limit=10000&timeout=30&exclude_driver=false&filter_keys=job_id&filter_predicates=%3D&filter_values=01000000&filter_keys=name&filter_predicates=%3D&filter_values=f},
	 'EXPLAIN shows the request with its filters (name is rechecked locally, so no LIMIT)');
like($plan, qr/Filter: \(tasks\.name = 'f'::text\)/, 'the name condition is rechecked by PostgreSQL');

# One job of 10,050 tasks: splitting by job cannot help; the scan warns.
my $gcount = $node->safe_psql('postgres', 'SELECT count(*) FROM g_cap.tasks');
cmp_ok($gcount, '>', 10050, "gRPC has every task, no cap ($gcount)");
my ($ret, $out, $err) = $node->psql('postgres',
	'SELECT count(*) FROM h_cap.tasks; SELECT rows, num_total_stored, num_truncated FROM raydar.last_scan()');
my ($n1, $ls) = split /\n/, $out;
is($n1, '10000', 'the cap: the dashboard returns 10,000 rows');
like($err, qr/WARNING:  the Ray dashboard returned 10000 rows, its cap, for 1 of \d+ jobs: their other task attempts are missing/,
	 'the cap: a WARNING with the numbers, after trying to split by job');
like($err, qr/HINT:  Filter such a job by state or task_id/, 'the cap: the hint says how to stay under it');
my ($lrows, $ltotal, $lcut) = split /\|/, $ls;
is($lrows, '10000', 'the cap: raydar.last_scan() has the rows returned');
cmp_ok($ltotal, '>=', 10050, "the cap: and the dashboard's total ($ltotal)");
is($lcut, $ltotal - 10000, 'the cap: and the rows cut');
($ret, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM (SELECT * FROM h_cap.tasks LIMIT 10) s');
is("$out|$err", '10|', 'a pushed LIMIT below the cap neither warns nor splits');
$sim->stop;

# Two jobs of 6,000 tasks: the scan splits by job and returns them all,
# the same rows as gRPC.
my $vdir = PostgreSQL::Test::Utils::tempdir();
{
	my $v249 = ($ENV{RAYDAR_VECTORS} || "$FindBin::RealBin/../fixtures/ray-wire") . "/ray-2.49";
	my $tmpl = decode_json(slurp_file("$v249/expected_tasks.json"));
	my $cl = decode_json(slurp_file("$v249/cluster/expected.json"));
	my ($row) = grep { $_->{type} eq 'NORMAL_TASK' && $_->{state} eq 'FINISHED' } @{ $tmpl->{tasks} };
	my @tasks;
	for my $i (1 .. 12000)
	{
		my $job = $i % 2 ? '01000000' : '02000000';
		push @tasks, { %$row, task_id => sprintf('%040x', $i) . $job, job_id => $job };
	}
	my ($jrow) = @{ $cl->{jobs} };
	mkdir "$vdir/cluster";
	open(my $fh, '>', "$vdir/expected_tasks.json") or die;
	print $fh encode_json({ %$tmpl, tasks => \@tasks, num_profile_task_events_dropped => 0,
							num_status_task_events_dropped => 0, num_truncated => 0 });
	close $fh;
	open($fh, '>', "$vdir/cluster/expected.json") or die;
	print $fh encode_json({ %$cl, jobs => [ map { { %$jrow, job_id => $_ } } '01000000', '02000000' ] });
	close $fh;
}
$sim = RaySim->new(profile => '2.49', scenario => 'vectors', scenario_params => { dir => $vdir },
				   dashboard => 1, name => 'split');
make_pair($sim, 'split', ", ray_version '2.49.2'");
($ret, $out, $err) = $node->psql('postgres',
	"SET client_min_messages = debug1; SELECT count(*) FROM h_split.tasks");
is($out, '12000', 'split by job: all 12,000 rows, over the cap of one request');
like($err, qr/split into 2 requests by job/, 'split by job: two requests, one per job');
unlike($err, qr/WARNING/, 'split by job: no warning, nothing is missing');
my ($gs, $hs) = both('split', $ALL_BUT_REPR);
ok($gs eq $hs && length($gs) > 0, 'split by job: the same 12,000 rows as gRPC');
my @jobreqs = grep { $_->{path} eq '/api/v0/tasks' && grep { $_->[0] eq 'filter_values' } @{ $_->{query} } }
  @{ $sim->http_requests };
is(scalar(@jobreqs), 4, 'split by job: one request per job, per scan (two scans)');
$sim->stop;

$plan = $node->safe_psql('postgres',
	"EXPLAIN (VERBOSE, COSTS OFF) SELECT actor_id FROM h_cap.actors WHERE state = 'ALIVE'");
like($plan, qr{Ray Request: GET /api/v0/actors\?detail=true&limit=10000&timeout=30&filter_keys=state&filter_predicates=%3D&filter_values=ALIVE\n},
	 'EXPLAIN of a cluster table: its route and the filter the dashboard applies');
like($plan, qr{Filter: \(actors\.state = 'ALIVE'::text\)},
	 'EXPLAIN of a cluster table: PostgreSQL rechecks it');
$sim->stop;

# ---------------------------------------------------------------------------
# Tokens: missing (401), wrong (403), right.
# ---------------------------------------------------------------------------
$sim = RaySim->new(profile => 'master', scenario => 'mixed', dashboard => 1, token => 'sekrit', speed => 0,
				   name => 'auth');
$sim->admin('POST', '/advance', { ms => 600_000 });	# play the scenario out
make_pair($sim, 'auth', ", ray_version '3.0.0'");
($ret, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM h_auth.tasks');
like($err, qr/ERROR:  the Ray dashboard at \S+ refused raydar's credentials \(HTTP 401\): the token is missing/,
	 'no token: 401, and it says the token is missing');
like($err, qr/HINT:  Put the cluster's token in a user mapping/, 'no token: the hint says where it goes');
$node->safe_psql('postgres', "CREATE USER MAPPING FOR CURRENT_USER SERVER h_auth OPTIONS (token 'wrong')");
($ret, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM h_auth.tasks');
like($err, qr/ERROR:  the Ray dashboard at \S+ forbids this request \(HTTP 403\)/, 'wrong token: 403');
like($err, qr/HINT:  Ray answers 403 to a token that is not the cluster's: check the token in the user mapping/,
	 'wrong token: the hint says the token is wrong, not that it is valid');
$node->safe_psql('postgres', "ALTER USER MAPPING FOR CURRENT_USER SERVER h_auth OPTIONS (SET token 'sekrit')");
is($node->safe_psql('postgres', 'SELECT count(*) FROM h_auth.tasks'), '18', 'right token: the rows');
my ($last) = grep { $_->{path} eq '/api/v0/tasks' } reverse @{ $sim->http_requests };
is($last->{authorization}, 'Bearer sekrit', 'the token is sent as Authorization: Bearer');

# token_file (a Kubernetes service-account token, RAY_ENABLE_K8S_TOKEN_AUTH):
# read for every call, over both transports, so a rotated file is used
# without touching the mapping; superuser-only, as a path the server reads.
{
	my $tf = $node->basedir . '/sa-token';
	open(my $fh, '>', $tf) or die; print $fh "k8s-token-1\n"; close $fh;
	chmod 0644, $tf;
	$sim->admin('POST', '/token', { token => 'k8s-token-1' });
	for my $s ('g_auth', 'h_auth')
	{
		$node->safe_psql('postgres', "DROP USER MAPPING IF EXISTS FOR CURRENT_USER SERVER $s;
			CREATE USER MAPPING FOR CURRENT_USER SERVER $s OPTIONS (token_file '$tf')");
		is($node->safe_psql('postgres', "SELECT count(*) FROM $s.tasks"), '18', "token_file: $s reads the rows");
	}
	($last) = grep { $_->{path} eq '/api/v0/tasks' } reverse @{ $sim->http_requests };
	is($last->{authorization}, 'Bearer k8s-token-1', 'token_file: its content is the bearer token');
	open($fh, '>', $tf) or die; print $fh "k8s-token-2\n"; close $fh;
	$sim->admin('POST', '/token', { token => 'k8s-token-2' });
	is($node->safe_psql('postgres', "SELECT count(*) FROM g_auth.tasks"), '18', 'token_file: rotated, gRPC');
	is($node->safe_psql('postgres', "SELECT count(*) FROM h_auth.tasks"), '18', 'token_file: rotated, HTTP');
	my @g = grep { $_->{method} =~ /GetTaskEvents$/ } @{ $sim->requests };
	is($g[-1]{metadata}{authorization}, 'Bearer k8s-token-2', 'token_file: the rotated token went over gRPC');
	unlink $tf;
	($ret, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM g_auth.tasks');
	like($err, qr/ERROR:  could not open token file ".*sa-token": No such file/, 'token_file: a missing file is an error');
	like($err, qr/HINT:  .*serviceaccount\/token/, 'token_file: the hint names the usual path');
	$node->safe_psql('postgres', 'CREATE ROLE tf_user');
	($ret, $out, $err) = $node->psql('postgres', "SET ROLE tf_user; CREATE USER MAPPING FOR tf_user SERVER g_auth OPTIONS (token_file '$tf')");
	like($err, qr/permission denied|only superuser can set option "token_file"/, 'token_file: not for ordinary users');
}
$sim->stop;

# ---------------------------------------------------------------------------
# TLS: verified with ca_file; refused without it or with another CA;
# tls_verify 'false' turns verification off.
# ---------------------------------------------------------------------------
$sim = RaySim->new(profile => '2.49', scenario => 'mixed', tls => 1, speed => 0, name => 'tls');
$sim->admin('POST', '/advance', { ms => 600_000 });	# play the scenario out
like($sim->dashboard_url, qr{^https://}, 'the simulator serves HTTPS');
my ($ca, $other) = ($sim->tls_ca, $sim->tls_other_ca);
make_pair($sim, 'tls', ", ca_file '$ca'");
my ($gt, $ht) = both('tls', $ALL_BUT_REPR);
is($ht, $gt, 'HTTPS with ca_file: the same rows as gRPC');
for my $case ([ '', 'the system CAs' ], [ ", ca_file '$other'", 'another CA' ])
{
	make_pair($sim, 'tls', $case->[0]);
	($ret, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM h_tls.tasks');
	like($err, qr/ERROR:  TLS with the Ray dashboard at https:\S+ failed/, "TLS verified against $case->[1]: refused");
	like($err, qr/HINT:  .*ca_file.*tls_verify 'false'/, "TLS refused ($case->[1]): the hint names ca_file and tls_verify");
}
make_pair($sim, 'tls', ", tls_verify 'false'");
is($node->safe_psql('postgres', 'SELECT count(*) FROM h_tls.tasks'), '18', "tls_verify 'false': no verification");
$sim->stop;

# ---------------------------------------------------------------------------
# Connection reuse: three scans in one session use one TCP connection.
# ---------------------------------------------------------------------------
$sim = RaySim->new(profile => 'master', scenario => 'mixed', dashboard => 1, name => 'reuse');
make_pair($sim, 'reuse', ", ray_version '3.0.0'");
{
	my $r = $node->background_psql('postgres');
	RaySim::session_query($r, 'SELECT count(*) FROM h_reuse.tasks') for 1 .. 3;
	# Client sockets to the dashboard's port, by TCP state (01 established, 06 time-wait).
	my $port = sprintf('%04X', $sim->dashboard_port);
	my %st;
	for my $line (split /\n/, slurp_file('/proc/net/tcp'))
	{
		my @f = split ' ', $line;
		$st{ $f[3] }++ if defined $f[2] && $f[2] =~ /:$port$/;
	}
	is(($st{'01'} // 0) . '/' . ($st{'06'} // 0), '1/0',
	   'three scans, one open connection to the dashboard and none closed: the connection is reused');
	$r->quit;
}
$sim->stop;

# ---------------------------------------------------------------------------
# Timeouts, cancel, connection failures, HTTP error classes, bad bodies.
# ---------------------------------------------------------------------------
$sim = RaySim->new(profile => 'master', scenario => 'mixed', dashboard => 1, speed => 0, name => 'faults');
$sim->admin('POST', '/advance', { ms => 600_000 });	# play the scenario out
make_pair($sim, 'f', ", ray_version '3.0.0', timeout_ms '700'");
my $s = $node->background_psql('postgres', on_error_stop => 0);

sub timed
{
	my ($sql) = @_;
	my $t0 = time();
	my ($o, $e) = RaySim::session_query($s, $sql);
	return ($o, $e, time() - $t0);
}

$sim->fault(mode => 'http_slow', delay_ms => 4000);
my ($o, $e, $secs) = timed('SELECT count(*) FROM h_f.tasks');
like($e, qr/ERROR:  the Ray dashboard at \S+ did not answer in time/, 'slow dashboard: timeout_ms ends the request');
like($e, qr/HINT:  The limits are the server options connect_timeout_ms \(5000\) and timeout_ms \(700\)/,
	 'timeout: the hint names both options');
ok($secs < 2.5, sprintf('timeout: after about timeout_ms (%.2f s)', $secs));

$node->safe_psql('postgres', "ALTER SERVER h_f OPTIONS (SET timeout_ms '60000')");
($o, $e, $secs) = timed("SET statement_timeout = '300ms'; SELECT count(*) FROM h_f.tasks");
like($e, qr/ERROR:  canceling statement due to statement timeout/, 'statement_timeout cancels the request');
ok($secs < 1.5, sprintf('statement_timeout: within a tick or so (%.2f s)', $secs));
timed('RESET statement_timeout');

my ($pid) = timed('SELECT pg_backend_pid()');
$s->{stdin} .= "SELECT count(*) FROM h_f.tasks;\n\\echo CANCEL_DONE\n\\warn CANCEL_DONE\n";
$s->{run}->pump_nb;
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE pid = $pid AND state = 'active' AND query LIKE '%h_f.tasks%'"),
   'cancel: the slow scan is running');
usleep(300_000);
my $t0 = time();
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
pump_until($s->{run}, $s->{timeout}, \$s->{stderr}, qr/CANCEL_DONE/);
my $cancel_secs = time() - $t0;
like($s->{stderr}, qr/ERROR:  canceling statement due to user request/, 'pg_cancel_backend cancels the request');
ok($cancel_secs < 1.5, sprintf('cancel: within a tick or so (%.2f s)', $cancel_secs));
pump_until($s->{run}, $s->{timeout}, \$s->{stdout}, qr/CANCEL_DONE/);
$s->{stdout} = '';
$s->{stderr} = '';
$sim->fault(mode => 'none');
($o, $e) = RaySim::session_query($s, 'SELECT count(*) FROM h_f.tasks');
is($o, '18', 'after timeouts and cancel the session and the handle work');

# Nothing listens: connect failure.
my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1) or die;
my $closed = $sock->sockport;
close $sock;
$node->safe_psql('postgres', "CREATE SERVER h_dead FOREIGN DATA WRAPPER raydar OPTIONS (dashboard_url 'http://127.0.0.1:$closed', ray_version '2.49.2');
	CREATE FOREIGN TABLE dead_tasks (task_id text) SERVER h_dead OPTIONS (resource 'tasks')");
($o, $e) = RaySim::session_query($s, 'SELECT * FROM dead_tasks');
like($e, qr/ERROR:  could not connect to the Ray dashboard at http:\/\/127.0.0.1:$closed \(server "h_dead"\)/,
	 'connection refused: could not connect');
like($e, qr/HINT:  .*8265.*--dashboard-host=0.0.0.0/, 'connection refused: the hint names the port and host flag');

# Each HTTP status class says what happened and what to do.
my %status = (
	400 => [ qr/rejected the request as invalid \(HTTP 400\)/, qr/ray_version/ ],
	401 => [ qr/refused raydar's credentials \(HTTP 401\)/, qr/user mapping/ ],
	403 => [ qr/forbids this request \(HTTP 403\)/, qr/read access/ ],
	404 => [ qr/has no \/api\/v0\/tasks\S* \(HTTP 404\)/, qr/port 8265/ ],
	429 => [ qr/is busy \(HTTP 429\)/, qr/at most 100 State API requests/ ],
	500 => [ qr/failed to answer \(HTTP 500\)/, qr/dashboard.log/ ],
	502 => [ qr/answered HTTP 502/, qr/proxy/ ],
	418 => [ qr/answered HTTP 418/, qr/dashboard_url/ ]);
for my $code (sort keys %status)
{
	$sim->fault(mode => 'http_status', code => $code, message => "simulated $code", count => 1);
	($o, $e) = RaySim::session_query($s, 'SELECT count(*) FROM h_f.tasks');
	like($e, qr/ERROR:  the Ray dashboard at \S+ $status{$code}[0]/, "HTTP $code: what happened");
	like($e, qr/simulated $code/, "HTTP $code: Ray's message is shown");
	like($e, qr/HINT:  .*$status{$code}[1]/, "HTTP $code: what to do");
}
# A body that is not Ray's JSON is not echoed (it may be another service's page).
$sim->fault(mode => 'http_status', code => 502, body => "<html>\nBad Gateway secret-in-page</html>",
			content_type => 'text/html', count => 1);
($o, $e) = RaySim::session_query($s, 'SELECT count(*) FROM h_f.tasks');
like($e, qr/DETAIL:  GET \S+: the body \(\d+ bytes\) is not a Ray dashboard's JSON/,
	 'a non-JSON error body: only its size is shown');
unlike($e, qr/secret-in-page|Bad Gateway/, 'a non-JSON error body: none of it is echoed');
$sim->fault(mode => 'http_status', code => 502, body => '{"token": "secret-in-json"}',
			content_type => 'application/json', count => 1);
($o, $e) = RaySim::session_query($s, 'SELECT count(*) FROM h_f.tasks');
unlike($e, qr/secret-in-json/, 'JSON without Ray\'s msg: none of it is echoed');

# The dashboard's real 429: more requests in flight than it serves.
my $busy = RaySim->new(profile => 'master', scenario => 'mixed', dashboard => 1, speed => 0,
					   dashboard_max_requests => 0, name => 'busy');
$busy->admin('POST', '/advance', { ms => 600_000 });	# play the scenario out
make_pair($busy, 'busy', ", ray_version '3.0.0'");
($ret, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM h_busy.tasks');
like($err, qr/is busy \(HTTP 429\).*\n.*Max number of in-progress requests=0 reached/,
	 "the dashboard's own 429 and message");
$busy->stop;

# Bodies that are not a State API answer.
my %bodies = (
	truncated_json => qr/JSON truncated: the body \(\d+ bytes\) ends inside a value/,
	garbage_json => qr/invalid JSON at byte 0|JSON truncated/,
	deep_json => qr/JSON nested deeper than 64 levels/,
	short_body => qr/the request to the Ray dashboard \S+ failed/,
	http_drop => qr/could not connect to the Ray dashboard/);
for my $mode (sort keys %bodies)
{
	# Two: curl retries a request once when a reused connection drops.
	$sim->fault(mode => $mode, count => 2);
	($o, $e) = RaySim::session_query($s, 'SELECT count(*) FROM h_f.tasks');
	like($e, qr/ERROR:  .*\n?.*$bodies{$mode}/, "$mode: a clear error");
}
$sim->fault(mode => 'huge_json', bytes => 300 * 1024 * 1024, count => 1);
($o, $e) = RaySim::session_query($s, 'SELECT count(*) FROM h_f.tasks');
like($e, qr/ERROR:  the response of the Ray dashboard at \S+ is larger than 256 MiB/, 'huge_json: refused at the limit');

# A GCS failure behind the dashboard: HTTP 200, no rows, Ray's warning.
$sim->fault(mode => 'gcs_status', code => 14, message => 'GCS is down', count => 1);
($o, $e) = RaySim::session_query($s, 'SELECT count(*) FROM h_f.tasks');
is($o, '0', 'GCS failure behind the dashboard: no rows');
like($e, qr/WARNING:  the Ray dashboard at \S+ warns: GCS is down/, 'and the warning Ray attached');

$sim->fault(mode => 'none');
($o, $e) = RaySim::session_query($s, 'SELECT count(*) FROM h_f.tasks');
is($o, '18', 'after every fault the session still reads the rows');

# A host name goes through curl's threaded resolver. An HTTP-only backend
# ends the scan with no thread left but its own, and with its signal mask
# restored (curl ran with every signal blocked).
my $lport = $sim->dashboard_port;
$node->safe_psql('postgres', "CREATE SERVER h_local FOREIGN DATA WRAPPER raydar
	OPTIONS (dashboard_url 'http://localhost:$lport', ray_version '3.0.0');
	CREATE FOREIGN TABLE local_tasks (task_id text) SERVER h_local OPTIONS (resource 'tasks')");
my $t = $node->background_psql('postgres');
my ($lo, $le) = RaySim::session_query($t, 'SELECT count(*) FROM local_tasks');
is("$lo|$le", '18|', 'a dashboard_url with a host name works');
my $bpid = $t->query_safe('SELECT pg_backend_pid()');
is($t->query_safe("SELECT count(*) FROM pg_ls_dir('/proc/' || pg_backend_pid() || '/task')"), '1',
   'after HTTP scans the backend has one thread: curl left none behind');
my $mask = $t->query_safe("SELECT substring(pg_read_file('/proc/$bpid/status') FROM 'SigBlk:\\s+([0-9a-f]+)')");
like($mask, qr/^[0-9a-f]{16}$/, "the backend's signal mask is readable ($mask)");
unlike($mask, qr/^f{16}$/, 'the backend does not keep signals blocked after a request');
$t->quit;
$s->quit;
$sim->stop;

unlike(slurp_file($node->logfile), qr/terminated by signal|server process .* was terminated/,
	   'no backend crashed');
$node->stop;
done_testing();
