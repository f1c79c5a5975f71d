# 030_fdw_pushdown.pl
#	WHERE and LIMIT pushdown (src/pushdown.c's contract), per version
#	profile, against the simulator replaying Ray's vectors: for each query
#	both the SQL result (equal to the same query over a local copy of the
#	table, where nothing can be pushed) and the GetTaskEventsRequest the
#	simulator decoded (layout, filters, limit). Literals that can equal no
#	row must not reach the GCS at all: the real GCS aborts on an ID of the
#	wrong length. The simulator must survive everything.
use strict;
use warnings;
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

my $node = PostgreSQL::Test::Cluster->new('fdw_pushdown');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'raydar'\ntimezone = 'UTC'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION raydar');

my $COLS = 'task_id, attempt_number, name, state, job_id, actor_id';
my %scalar = ('2.9' => 1, '2.35' => 1, '2.40' => 1);

my ($sim, $profile);

sub sorted_rows { join("\n", sort split /\n/, decode('UTF-8', $_[0] // '')) }

# Pushed filters as the simulator decoded them: "field PRED value", sorted.
sub decoded_filters
{
	my ($req) = @_;
	my $f = $req->{filters} && $req->{filters}{filters} or return [];
	my @out;
	for my $field (qw(task job actor name state))
	{
		push @out, "$field $_->{predicate} $_->{value}" for @{ $f->{$field} // [] };
	}
	return [ sort @out ];
}

# run_case(label, where-and-rest, filters => [...] | undef (no request),
#          limit => N, rows => N): the result must equal the local copy's.
sub run_case
{
	my ($label, $rest, %exp) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $sql = "SELECT $COLS FROM live.tasks $rest";
	(my $local = $sql) =~ s/live\.tasks/all_tasks/g;

	$sim->clear_requests;
	my ($rc, $out, $err) = $node->psql('postgres', $sql);
	is($rc, 0, "$profile $label: query succeeds") or diag(decode('UTF-8', $err));
	my $want = $node->safe_psql('postgres', $local);
	if ($exp{subset_of_limit})
	{
		my %all = map { ($_ => 1) } split /\n/, sorted_rows($node->safe_psql('postgres',
			"SELECT $COLS FROM all_tasks $exp{subset_of_limit}"));
		my @got = split /\n/, sorted_rows($out);
		is(scalar @got, $exp{rows}, "$profile $label: the LIMIT's row count");
		is(scalar(grep { !$all{$_} } @got), 0, "$profile $label: rows satisfy the conditions");
	}
	else
	{
		is(sorted_rows($out), sorted_rows($want), "$profile $label: same rows as without pushdown");
		is(scalar(split /\n/, $want), $exp{rows}, "$profile $label: $exp{rows} rows")
		  if defined $exp{rows};
	}

	my @gte = @{ $sim->requests_for('GetTaskEvents') };
	if (!defined $exp{filters})
	{
		is(scalar @gte, 0, "$profile $label: no GetTaskEvents request at all");
		return;
	}
	is(scalar @gte, 1, "$profile $label: one GetTaskEvents request") or return;
	my $r = $gte[0];
	my $layout = @{ $exp{filters} } ? ($scalar{$profile} ? 'legacy' : 'predicate') : 'empty';
	$layout = $exp{layout} if $exp{layout};
	is($r->{layout}, $layout, "$profile $label: layout $layout");
	is_deeply(decoded_filters($r), [ sort @{ $exp{filters} } ], "$profile $label: decoded filters")
	  or diag(explain $r->{filters});
	is($r->{limit}, $exp{limit}, "$profile $label: limit " . ($exp{limit} // 'none'));
	is($r->{outcome}, 'ok', "$profile $label: the simulator served it");
}

sub explain_verbose
{
	my ($sql) = @_;
	return $node->safe_psql('postgres', "EXPLAIN (VERBOSE, COSTS OFF) $sql");
}

for my $p (qw(2.9 2.35 2.40 2.49 master 2.58))
{
	$profile = $p;
	my $pred = !$scalar{$p};
	$sim = RaySim->new(replay => "$vectors/ray-$p", name => "pushdown_$p");
	my $port = $sim->grpc_port;
	$node->safe_psql('postgres', qq{
		DROP SCHEMA IF EXISTS live CASCADE;
		DROP SERVER IF EXISTS ray CASCADE;
		DROP TABLE IF EXISTS all_tasks;
		CREATE SERVER ray FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:$port');
		CREATE SCHEMA live;
		IMPORT FOREIGN SCHEMA ray FROM SERVER ray INTO live;
		CREATE TABLE all_tasks AS SELECT * FROM live.tasks;});
	my $n = $node->safe_psql('postgres', 'SELECT count(*) FROM all_tasks');
	ok($n > 10, "$p: local copy has the vector's $n rows");
	my $job = $node->safe_psql('postgres', 'SELECT min(job_id) FROM all_tasks');
	my $tid = $node->safe_psql('postgres', "SELECT min(task_id) FROM all_tasks WHERE name = 'train_shard'");
	my $actor = $node->safe_psql('postgres', 'SELECT min(actor_id) FROM all_tasks');
	my $dotted = $node->safe_psql('postgres', "SELECT min(name) FROM all_tasks WHERE name LIKE '%(%).%'");
	is($dotted, 'Counter(3).increment', "$p: the vector has a renamed actor task");

	run_case('job_id =', "WHERE job_id = '$job'", filters => ["job EQUAL $job"], rows => $n);
	run_case('job_id = other job', "WHERE job_id = '02000000'", filters => ['job EQUAL 02000000'], rows => 0);
	run_case('task_id =', "WHERE task_id = '$tid'", filters => ["task EQUAL $tid"], rows => 2);
	run_case('actor_id =', "WHERE actor_id = '$actor'", filters => ["actor EQUAL $actor"]);
	run_case("state = 'FINISHED'", "WHERE state = 'FINISHED'",
			 filters => $p eq '2.9' ? [] : ['state EQUAL FINISHED']);
	run_case("state <> 'RUNNING'", "WHERE state <> 'RUNNING'",
			 filters => $pred ? ['state NOT_EQUAL RUNNING'] : []);
	run_case("name = 'train_shard'", "WHERE name = 'train_shard'",
			 filters => ['name EQUAL train_shard'], rows => 2);
	run_case("name = 'TRAIN_SHARD' (GCS ignores case from 2.32: rechecked)",
			 "WHERE name = 'TRAIN_SHARD'", filters => ['name EQUAL TRAIN_SHARD'], rows => 0);
	run_case("name <> 'train_shard' (local)", "WHERE name <> 'train_shard'", filters => [],
			 rows => $n - 2);
	run_case('name with a dot (renamed actor task)', "WHERE name = 'Counter(3).increment'",
			 filters => [], rows => 1);
	run_case("state = 'finished' (lower case, local)", "WHERE state = 'finished'",
			 filters => [], rows => 0);
	run_case('job_id = and state = together', "WHERE job_id = '$job' AND state = 'FAILED'",
			 filters => [ "job EQUAL $job", ($p eq '2.9' ? () : 'state EQUAL FAILED') ]);
	run_case('task_id <> ', "WHERE task_id <> '$tid'",
			 filters => $pred ? ["task NOT_EQUAL $tid"] : [], rows => $n - 2);

	# Literals that can equal no row: no call at all.
	my %nothing = (
		'uppercase hex task_id' => "task_id = '" . uc($tid) . "'",
		'short task_id' => "task_id = 'abcdef'",
		'long task_id' => "task_id = '${tid}00'",
		'non-hex task_id' => "task_id = '" . ('z' x length $tid) . "'",
		'short job_id' => "job_id = '0100'",
		'non-hex job_id' => "job_id = 'zz000000'",
		'empty job_id' => "job_id = ''",
		'short actor_id' => "actor_id = 'abcd'");
	for my $label (sort keys %nothing)
	{
		run_case("$label (=)", "WHERE $nothing{$label}", filters => undef, rows => 0);
		like(explain_verbose("SELECT * FROM live.tasks WHERE $nothing{$label}"),
			 qr/Ray Request: none/, "$p $label: EXPLAIN VERBOSE says Ray Request: none");
	}
	# Such a literal with <> is not pushed (true for every row with an ID).
	run_case('short job_id (<>)', "WHERE job_id <> '0100'", filters => [], rows => $n);
	run_case('uppercase task_id (<>)', "WHERE task_id <> '" . uc($tid) . "'", filters => [], rows => $n);

	# Two different values for one scalar slot match nothing. PostgreSQL
	# itself folds "x = 'a' AND x = 'b'" to false through an equivalence
	# class (One-Time Filter: false) before the FDW sees it; a COLLATE on
	# one constant (deterministic "C", still pushable) keeps the two
	# conditions apart so the FDW's own slot logic is what is tested.
	my $ab = "job_id = '$job' AND job_id = '02000000' COLLATE \"C\"";
	my $aa = "job_id = '$job' AND job_id = '$job' COLLATE \"C\"";
	unlike(explain_verbose("SELECT * FROM live.tasks WHERE $ab"), qr/One-Time Filter/,
		   "$p: the two job_id conditions reach the FDW");
	if ($scalar{$p})
	{
		run_case('job_id = a AND job_id = b', "WHERE $ab", filters => undef, rows => 0);
		like(explain_verbose("SELECT * FROM live.tasks WHERE $ab"),
			 qr/Ray Request: none/, "$p job_id = a AND job_id = b: EXPLAIN says Ray Request: none");
		run_case('job_id = a AND job_id = a', "WHERE $aa", filters => ["job EQUAL $job"], rows => $n);
	}
	else
	{
		run_case('job_id = a AND job_id = b', "WHERE $ab",
				 filters => [ "job EQUAL $job", 'job EQUAL 02000000' ], rows => 0);
		run_case('job_id = a AND job_id = a', "WHERE $aa",
				 filters => [ "job EQUAL $job", "job EQUAL $job" ], rows => $n);
	}
	# The planner's own folding gives the same answer without a call.
	run_case('job_id = a AND job_id = b (folded by PostgreSQL)',
			 "WHERE job_id = '$job' AND job_id = '02000000'", filters => undef, rows => 0);

	# LIMIT: pushed only when every condition is Ray's and nothing stands
	# between the scan and the LIMIT.
	run_case('LIMIT 3 with job_id =', "WHERE job_id = '$job' LIMIT 3",
			 filters => ["job EQUAL $job"], limit => 3, rows => 3,
			 subset_of_limit => "WHERE job_id = '$job'");
	like(explain_verbose("SELECT * FROM live.tasks WHERE job_id = '$job' LIMIT 3"),
		 qr/Ray Limit: 3\b/, "$p: EXPLAIN VERBOSE shows Ray Limit: 3");
	run_case('LIMIT 2 OFFSET 3', "LIMIT 2 OFFSET 3", filters => [], limit => 5, rows => 2,
			 subset_of_limit => '');
	run_case('LIMIT 4 with state = FINISHED', "WHERE state = 'FINISHED' LIMIT 4",
			 filters => $p eq '2.9' ? [] : ['state EQUAL FINISHED'],
			 limit => $p eq '2.9' ? undef : 4, rows => 4,
			 subset_of_limit => "WHERE state = 'FINISHED'");
	run_case('LIMIT with ORDER BY', "WHERE job_id = '$job' ORDER BY task_id, attempt_number LIMIT 3",
			 filters => ["job EQUAL $job"], limit => undef);
	like(explain_verbose("SELECT * FROM live.tasks WHERE job_id = '$job' ORDER BY task_id LIMIT 3"),
		 qr/Ray Limit: none/, "$p: no Ray Limit under ORDER BY");
	run_case('LIMIT with a local condition', "WHERE worker_pid > 0 LIMIT 3",
			 filters => [], limit => undef);
	like(explain_verbose('SELECT * FROM live.tasks WHERE worker_pid > 0 LIMIT 3'),
		 qr/Ray Limit: none/, "$p: no Ray Limit with a local condition");
	run_case("LIMIT with a rechecked name", "WHERE name = 'train_shard' LIMIT 1",
			 filters => ['name EQUAL train_shard'],
			 limit => ($p eq '2.9' ? 1 : undef), rows => 1,
			 subset_of_limit => "WHERE name = 'train_shard'");

	# A join and an aggregate keep the LIMIT local.
	for my $q ([ 'join', "SELECT t.task_id, a.name FROM live.tasks t JOIN all_tasks a USING (task_id, attempt_number) ORDER BY 1, 2 LIMIT 3",
				 "SELECT t.task_id, a.name FROM live.tasks t JOIN all_tasks a USING (task_id, attempt_number) LIMIT 3" ],
			   [ 'aggregate', 'SELECT count(*) FROM live.tasks LIMIT 3', 'SELECT count(*) FROM live.tasks LIMIT 3' ])
	{
		my ($label, $checked, $plain) = @$q;
		$sim->clear_requests;
		my ($rc, $out) = $node->psql('postgres', $checked);
		(my $local = $checked) =~ s/live\.tasks/all_tasks/g;
		is($rc, 0, "$p LIMIT with a $label: succeeds");
		is($out, $node->safe_psql('postgres', $local), "$p LIMIT with a $label: same result");
		$node->psql('postgres', $plain);
		my @gte = @{ $sim->requests_for('GetTaskEvents') };
		is_deeply([ map { $_->{limit} } @gte ], [ undef, undef ], "$p LIMIT with a $label: no limit sent");
		like(explain_verbose($plain), qr/Ray Limit: none/, "$p LIMIT with a $label: EXPLAIN says Ray Limit: none");
	}

	# EXPLAIN shows what goes to Ray.
	my $ex = explain_verbose("SELECT * FROM live.tasks WHERE job_id = '$job' AND name = 'train_shard' AND worker_pid > 0");
	like($ex, qr/Ray Filters: job_id = '$job' AND name = 'train_shard'/, "$p: EXPLAIN lists the Ray filters");
	like($ex, qr/Filter: .*worker_pid > 0/, "$p: and the local filter");

	ok($sim->alive, "$p: the simulator is still alive");
	my $st = eval { $sim->state };
	ok($st && $st->{grpc_up}, "$p: GET /state answers and gRPC is up");
	unlike($sim->log_content, qr/Check failed|SIGABRT/, "$p: no RAY_CHECK failed in the simulator");
	$sim->stop;
}

ok(!$node->log_contains(qr/terminated by signal|was terminated/), 'no backend crashed');
$node->stop;
done_testing();
