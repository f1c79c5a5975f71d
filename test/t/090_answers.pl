# 090_answers.pl
#	The answers of src/sql/80_answers.sql over a fixed history (three
#	simulated clusters, see test/perl/RaydarAnswers.pm), each with its
#	exact output: job progress, the task summary, user-defined metadata,
#	task edges, the DOT graph (and that Graphviz renders it), the critical
#	path, the Chrome trace (valid JSON in the trace event format, as Ray's
#	chrome_tracing_dump writes it) and the SVG timeline (rendered by
#	headless Chromium to a PNG whose lanes show the bars' colours).
use strict;
use warnings;
use File::Temp qw(tempdir);
use FindBin;
use IPC::Run;
use lib "$FindBin::RealBin/../perl";
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RaydarAnswers;
use Test::More;

my ($node, $sims) = RaydarAnswers::populated_node('answers');
my $tmp = tempdir('answers_XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $q = sub { $node->safe_psql('postgres', $_[0]) };

# psql's error for a statement (stderr, first line).
sub psql_error
{
	my ($sql, %o) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', $sql, %o);
	$err =~ s/^psql:<stdin>:\d+: //mg;
	return (split /\n/, $err)[0] // '';
}

# ---------------------------------------------------------------------------
# The data: what each cluster holds (the basis of every number below).
is($q->(q{SELECT cluster, count(*), count(*) FILTER (WHERE live) FROM raydar.tasks GROUP BY 1 ORDER BY 1}),
   "classic|13|7\nnested|8|1\nray|18|4", 'fixture: attempts per cluster, live ones');

# ---------------------------------------------------------------------------
# job_progress_at(as_of): exact at a fixed instant (ray was frozen at +3 s,
# classic at +4 s, nested at +1 s). ray: 16 tasks (flaky's two attempts
# are one task), 9 finished, 4 failed, 2 running, 1 pending; 13 done in
# 3.991 s since the first creation, so 3.257/s and 3 left take 0.921 s.
# nested is done: elapsed stops at its last end, time left is 0.
is($q->(q{SELECT * FROM raydar.job_progress_at('2026-01-01 10:00:04+00')}), <<'EOT' =~ s/\n$//r,
classic||01000000|12|5|1|2|4|50.0|1.511|1.511|2026-01-01 10:00:00.03+00|2026-01-01 10:00:03.124+00|00:00:03.97|00:00:03.97|2026-01-01 10:00:04+00
nested||01000000|7|7|0|0|0|100.0|1.754|13.972|2026-01-01 10:00:00.009+00|2026-01-01 10:00:00.51+00|00:00:00.501|00:00:00|2026-01-01 10:00:04+00
ray||01000000|16|9|4|2|1|81.3|3.257|3.257|2026-01-01 10:00:00.009+00|2026-01-01 10:00:02.009+00|00:00:03.991|00:00:00.921|2026-01-01 10:00:04+00
EOT
   'job_progress_at: counts, percent, rates, elapsed and time left at a fixed instant');
# Two minutes later nothing ended in the last minute: the time left falls
# back to the overall rate (ray: 3 left at 13 / 123.991 s).
is($q->(q{SELECT cluster, tasks_per_second_last_minute, tasks_per_second_overall, elapsed, time_left
            FROM raydar.job_progress_at('2026-01-01 10:02:04+00') ORDER BY 1}),
   "classic|0.000|0.048|00:02:03.97|00:02:03.97\nnested|0.000|13.972|00:00:00.501|00:00:00\nray|0.000|0.105|00:02:03.991|00:00:28.613",
   'job_progress_at: with no recent end, time left comes from the overall rate');
is($q->(q{SELECT count(*) FROM raydar.job_progress_at('2026-01-01 09:00:00+00') WHERE time_left IS NOT NULL AND cluster = 'ray'}),
   '0', 'before any task: time left unknown');

# The view is the function at now(): the same counts, as_of = now().
is($q->(q{SELECT count(*) FROM raydar.job_progress p JOIN raydar.job_progress_at(now()) f USING (cluster, job_id)
           WHERE (p.total, p.finished, p.failed, p.running, p.pending, p.percent_done, p.started_at, p.last_end_time)
               = (f.total, f.finished, f.failed, f.running, f.pending, f.percent_done, f.started_at, f.last_end_time)
             AND p.as_of = now()}), '3', 'job_progress: job_progress_at(now()) for every job');
# job_progress_at is inlined, so a job filter reaches the history scan
# instead of aggregating every job first.
like($q->(q{EXPLAIN (COSTS OFF) SELECT * FROM raydar.job_progress WHERE cluster = 'ray' AND job_id = '01000000'}),
	 qr/Scan using task_history_p20260101_\w+ on task_history_p20260101 task_history\n\s+Index Cond: \(cluster = 'ray'::text\)\n\s+Filter: \(.*job_id = '01000000'::text\)/,
	 'job_progress: WHERE cluster and job_id reach the history scan (the function is inlined)');

# ---------------------------------------------------------------------------
# task_summary: attempts by state per function and type (flaky: 2
# attempts of 1 task), durations of the attempts that ran, in seconds.
is($q->(q{SELECT * FROM raydar.task_summary ORDER BY cluster, job_id, func_or_class_name, type}), <<'EOT' =~ s/\n$//r,
classic||01000000|__main__.example_remote_function|NORMAL_TASK|12|12|5|1|2|4|{"FAILED": 1, "RUNNING": 2, "FINISHED": 5, "PENDING_NODE_ASSIGNMENT": 4}|1.007|1.016|1.067|1.077
nested||01000000|__main__.child|NORMAL_TASK|3|3|3|0|0|0|{"FINISHED": 3}|0.095|0.095|0.096|0.096
nested||01000000|__main__.grandchild|NORMAL_TASK|3|3|3|0|0|0|{"FINISHED": 3}|0.035|0.036|0.036|0.036
nested||01000000|__main__.parent|NORMAL_TASK|1|1|1|0|0|0|{"FINISHED": 1}|0.495|0.495|0.495|0.495
ray||01000000|Counter.increment|ACTOR_TASK|3|3|3|0|0|0|{"FINISHED": 3}|0.028|0.028|0.028|0.028
ray||01000000|__main__.BadConfig.__init__|ACTOR_CREATION_TASK|1|1|0|1|0|0|{"FAILED": 1}|0.009|0.009|0.009|0.009
ray||01000000|__main__.Counter.__init__|ACTOR_CREATION_TASK|1|1|1|0|0|0|{"FINISHED": 1}|0.010|0.010|0.010|0.010
ray||01000000|__main__.Embedder.__init__|ACTOR_CREATION_TASK|1|1|1|0|0|0|{"FINISHED": 1}|0.009|0.009|0.009|0.009
ray||01000000|__main__.Shard.__init__|ACTOR_CREATION_TASK|1|1|1|0|0|0|{"FINISHED": 1}|0.011|0.011|0.011|0.011
ray||01000000|__main__.child|NORMAL_TASK|1|1|1|0|0|0|{"FINISHED": 1}|0.086|0.086|0.086|0.086
ray||01000000|__main__.evaluate|NORMAL_TASK|1|1|0|0|1|0|{"RUNNING": 1}||||
ray||01000000|__main__.flaky|NORMAL_TASK|1|2|1|1|0|0|{"FAILED": 1, "FINISHED": 1}|0.095|0.095|0.095|0.095
ray||01000000|__main__.hog|NORMAL_TASK|1|1|0|1|0|0|{"FAILED": 1}|1.994|1.994|1.994|1.994
ray||01000000|__main__.long_poll|NORMAL_TASK|1|1|0|1|0|0|{"FAILED": 1}|0.495|0.495|0.495|0.495
ray||01000000|__main__.parent|NORMAL_TASK|1|1|1|0|0|0|{"FINISHED": 1}|0.394|0.394|0.394|0.394
ray||01000000|__main__.setup_env|NORMAL_TASK|1|1|0|1|0|0|{"FAILED": 1}||||
ray||01000000|__main__.slow|NORMAL_TASK|1|1|0|0|1|0|{"RUNNING": 1}||||
ray||01000000|__main__.wait_for_gpu|NORMAL_TASK|1|1|0|0|0|1|{"PENDING_NODE_ASSIGNMENT": 1}||||
EOT
   'task_summary: ray summary tasks with durations, every row');
# The percentiles are percentile_cont over the attempts' durations.
is($q->(q{SELECT round((percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM end_time - start_time)))::numeric, 3)
            FROM raydar.tasks WHERE cluster = 'classic' AND type = 'NORMAL_TASK'}),
   '1.067', 'task_summary: p95 is percentile_cont of end_time - start_time');

# ---------------------------------------------------------------------------
# User-defined metadata: drivers (raydar_writer) write it, raydar.tasks
# shows it; ids that could never join and non-objects are refused.
$q->(q{CREATE ROLE driver LOGIN IN ROLE raydar_writer;
       CREATE ROLE dash LOGIN IN ROLE raydar_reader;
       CREATE ROLE nobody LOGIN;});
my $parent = '5f3e0488acbb85d8c7a4c2366e25a4be10a06e4b01000000';   # nested's parent
$node->safe_psql('postgres', qq{
	INSERT INTO raydar.task_metadata (task_id, metadata) VALUES ('$parent', '{"epoch": 3, "dataset": "imagenet"}')
	ON CONFLICT (cluster, incarnation, task_id) DO UPDATE SET metadata = excluded.metadata;
	INSERT INTO raydar.task_metadata (task_id, metadata) VALUES ('$parent', '{"epoch": 4, "dataset": "imagenet"}')
	ON CONFLICT (cluster, incarnation, task_id) DO UPDATE SET metadata = excluded.metadata;}, extra_params => [ '-U', 'driver' ]);
is($q->(qq{SELECT cluster, name, user_defined_metadata FROM raydar.tasks WHERE user_defined_metadata IS NOT NULL}),
   'nested|parent|{"epoch": 4, "dataset": "imagenet"}', 'task_metadata: a driver upserts, raydar.tasks shows it');
like(psql_error(q{INSERT INTO raydar.task_metadata VALUES ('5F3E0488', '{}')}),
	 qr/violates check constraint "task_metadata_task_id_is_hex"/, 'task_metadata: an upper-case id is refused');
like(psql_error(q{INSERT INTO raydar.task_metadata VALUES ('ab', '[1, 2]')}),
	 qr/violates check constraint "task_metadata_is_object"/, 'task_metadata: metadata must be a JSON object');
like(psql_error(q{DELETE FROM raydar.task_metadata}, extra_params => [ '-U', 'driver' ]),
	 qr/permission denied for table task_metadata/, 'task_metadata: deleting is not a writer\'s');
like(psql_error(q{INSERT INTO raydar.task_metadata VALUES ('ab', '{}')}, extra_params => [ '-U', 'dash' ]),
	 qr/permission denied for table task_metadata/, 'task_metadata: readers only read');
# raydar.tasks keeps 70_collector.sql's columns in order and appends one.
is($q->(q{SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute
           WHERE attrelid = 'raydar.tasks'::regclass AND attnum > 0}),
   $q->(q{SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute
           WHERE attrelid = 'raydar.task_history'::regclass AND attnum > 0 AND NOT attisdropped})
   . ',live,user_defined_metadata', 'raydar.tasks: the history columns, live, then user_defined_metadata');
# Not reading the metadata costs nothing: the planner drops the join.
unlike($q->(q{EXPLAIN (COSTS OFF) SELECT count(*) FROM raydar.tasks WHERE job_id = '01000000'}),
	   qr/task_metadata/, 'raydar.tasks: the metadata join is removed when unused');

# ---------------------------------------------------------------------------
# task_edges: parent to child, one row per task; the driver's nil parent
# is no edge.
is($q->(q{SELECT parent_task_id, task_id, name FROM raydar.task_edges WHERE cluster = 'nested' ORDER BY 1, 2}), <<'EOT' =~ s/\n$//r,
5f3e0488acbb85d8c7a4c2366e25a4be10a06e4b01000000|a550b98c0c636b9096713efbf6ccf86d1cdab4ab01000000|child
5f3e0488acbb85d8c7a4c2366e25a4be10a06e4b01000000|ca9e33fe783e9d4625069ad5cbce8e25df54bf1501000000|child
5f3e0488acbb85d8c7a4c2366e25a4be10a06e4b01000000|e3b8bc708b2d44ad8a679cbad0a8827126b8358901000000|child
a550b98c0c636b9096713efbf6ccf86d1cdab4ab01000000|632ad4d1bea13c988fad5acc87b73fa2259a55fc01000000|grandchild
c8c415a48df8e8bbfcc0f72f1ca45521a2b5211201000000|5f3e0488acbb85d8c7a4c2366e25a4be10a06e4b01000000|parent
ca9e33fe783e9d4625069ad5cbce8e25df54bf1501000000|39f2a7be3dd7cf6f01dc06f38fbdb623fb8b34cb01000000|grandchild
e3b8bc708b2d44ad8a679cbad0a8827126b8358901000000|431b9f7554da0243ccf7019b7b09b747c45a506501000000|grandchild
EOT
   'task_edges: the nested tree');
is($q->(q{SELECT cluster, count(*) FROM raydar.task_edges GROUP BY 1 ORDER BY 1}),
   "classic|12\nnested|7\nray|16", 'task_edges: one per task that has a parent (flaky once)');

# ---------------------------------------------------------------------------
# task_graph_dot: exact DOT for nested, coloured and labelled by duration
# (YlOrRd by share of the longest, 0.495 s).
is($q->(q{SELECT raydar.task_graph_dot('01000000', 'duration', 'duration', 'nested')}), <<'EOT',
digraph "job 01000000" {
  graph [rankdir=LR, labelloc=t, fontname="Helvetica", label="job 01000000 on nested; colour: duration (light short to dark long; longest 0.495 s)"];
  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];
  edge [color="#888888"];
  "c8c415a48df8e8bbfcc0f72f1ca45521a2b5211201000000" [label="__main__\nrunning", fillcolor="#eeeeee", tooltip="c8c415a48df8e8bbfcc0f72f1ca45521a2b5211201000000: RUNNING, 1 attempt"];
  "5f3e0488acbb85d8c7a4c2366e25a4be10a06e4b01000000" [label="parent\n0.495 s", fillcolor="#bd0026", fontcolor="white", tooltip="5f3e0488acbb85d8c7a4c2366e25a4be10a06e4b01000000: FINISHED, 1 attempt"];
  "ca9e33fe783e9d4625069ad5cbce8e25df54bf1501000000" [label="child\n0.094 s", fillcolor="#ffffb2", tooltip="ca9e33fe783e9d4625069ad5cbce8e25df54bf1501000000: FINISHED, 1 attempt"];
  "39f2a7be3dd7cf6f01dc06f38fbdb623fb8b34cb01000000" [label="grandchild\n0.036 s", fillcolor="#ffffb2", tooltip="39f2a7be3dd7cf6f01dc06f38fbdb623fb8b34cb01000000: FINISHED, 1 attempt"];
  "a550b98c0c636b9096713efbf6ccf86d1cdab4ab01000000" [label="child\n0.096 s", fillcolor="#ffffb2", tooltip="a550b98c0c636b9096713efbf6ccf86d1cdab4ab01000000: FINISHED, 1 attempt"];
  "632ad4d1bea13c988fad5acc87b73fa2259a55fc01000000" [label="grandchild\n0.034 s", fillcolor="#ffffb2", tooltip="632ad4d1bea13c988fad5acc87b73fa2259a55fc01000000: FINISHED, 1 attempt"];
  "e3b8bc708b2d44ad8a679cbad0a8827126b8358901000000" [label="child\n0.095 s", fillcolor="#ffffb2", tooltip="e3b8bc708b2d44ad8a679cbad0a8827126b8358901000000: FINISHED, 1 attempt"];
  "431b9f7554da0243ccf7019b7b09b747c45a506501000000" [label="grandchild\n0.036 s", fillcolor="#ffffb2", tooltip="431b9f7554da0243ccf7019b7b09b747c45a506501000000: FINISHED, 1 attempt"];
  "c8c415a48df8e8bbfcc0f72f1ca45521a2b5211201000000" -> "5f3e0488acbb85d8c7a4c2366e25a4be10a06e4b01000000";
  "5f3e0488acbb85d8c7a4c2366e25a4be10a06e4b01000000" -> "ca9e33fe783e9d4625069ad5cbce8e25df54bf1501000000";
  "ca9e33fe783e9d4625069ad5cbce8e25df54bf1501000000" -> "39f2a7be3dd7cf6f01dc06f38fbdb623fb8b34cb01000000";
  "5f3e0488acbb85d8c7a4c2366e25a4be10a06e4b01000000" -> "a550b98c0c636b9096713efbf6ccf86d1cdab4ab01000000";
  "a550b98c0c636b9096713efbf6ccf86d1cdab4ab01000000" -> "632ad4d1bea13c988fad5acc87b73fa2259a55fc01000000";
  "5f3e0488acbb85d8c7a4c2366e25a4be10a06e4b01000000" -> "e3b8bc708b2d44ad8a679cbad0a8827126b8358901000000";
  "e3b8bc708b2d44ad8a679cbad0a8827126b8358901000000" -> "431b9f7554da0243ccf7019b7b09b747c45a506501000000";
}
EOT
   'task_graph_dot: nested by duration, exact');
like($q->(q{SELECT raydar.task_graph_dot('01000000', cluster => 'ray')}),
	 qr/"cf92c190237cb11f5d108cf25930263938b370a101000000" \[label="hog", fillcolor="#e15759", fontcolor="white", tooltip="cf92c190237cb11f5d108cf25930263938b370a101000000: FAILED, 1 attempt"\];\n.*"05765ae2c99964615ddf2df5ff87123bbdc0a22601000000" \[label="flaky", fillcolor="#59a14f", tooltip="05765ae2c99964615ddf2df5ff87123bbdc0a22601000000: FINISHED, 2 attempts"\];/s,
	 'task_graph_dot: by state (default), a retried task is one box in its last state');
like($q->(q{SELECT raydar.task_graph_dot('01000000', 'node', 'node', 'ray')}),
	 qr/"1877f8c6eff26b5010af3177d161e79587a766ec01000000" \[label="Shard.__init__\\n10.0.0.2", fillcolor="#f28e2b",/,
	 'task_graph_dot: by node, labelled with the node IP');
like(psql_error(q{SELECT raydar.task_graph_dot('01000000')}),
	 qr/job '01000000' exists in more than one cluster: classic, nested, ray/, 'task_graph_dot: a job id in several clusters needs the cluster');
like(psql_error(q{SELECT raydar.task_graph_dot('01000000', 'colour', cluster => 'ray')}),
	 qr/color_by must be state, duration, node or name, not 'colour'/, 'task_graph_dot: a bad color_by is named');
like(psql_error(q{SELECT raydar.task_graph_dot('01000000', 'state', 'size', 'ray')}),
	 qr/label_by must be state, duration, node or name, not 'size'/, 'task_graph_dot: a bad label_by is named');
like(psql_error(q{SELECT raydar.task_graph_dot('09000000')}), qr/no tasks of job '09000000' are known/,
	 'task_graph_dot: an unknown job');
like(psql_error(q{SELECT raydar.task_graph_dot('01000000', cluster => 'elsewhere')}),
	 qr/cluster 'elsewhere' has no tasks of job '01000000'/, 'task_graph_dot: an unknown cluster');

# A task whose name is hostile to DOT, XML and JSON: quotes, backslash,
# newline, markup, a control character.
my $evil = q{a "quoted" \\ name} . "\n" . q{<b>&amp;</b>} . "\x01";
$q->(qq{INSERT INTO raydar.task_history (task_id, attempt_number, name, state, job_id, type, func_or_class_name,
                                          parent_task_id, node_id, worker_id, worker_pid, start_time, end_time, cluster)
        VALUES ('aa01', 0, } . '$evil$' . $evil . '$evil$' . qq{, 'FAILED', '01000000', 'NORMAL_TASK', 'f', NULL,
                'nn', 'ww', 42, '2026-01-01 10:00:00+00', '2026-01-01 10:00:01+00', 'evil')});

# Every colouring renders with Graphviz: one SVG node per task, one edge
# per parent in the job.
for my $case ([ 'ray', 'state', 'name', 17, 16 ], [ 'ray', 'duration', 'duration', 17, 16 ],
			  [ 'ray', 'node', 'node', 17, 16 ], [ 'classic', 'name', 'state', 13, 12 ],
			  [ 'nested', 'state', 'duration', 8, 7 ], [ 'evil', 'name', 'name', 1, 0 ])
{
	my ($cluster, $color, $label, $nodes, $edges) = @$case;
	my $dot = $q->(qq{SELECT raydar.task_graph_dot('01000000', '$color', '$label', '$cluster')});
	my ($svg, $err) = ('', '');
	my $ok = IPC::Run::run([ 'dot', '-Tsvg' ], '<', \$dot, '>', \$svg, '2>', \$err);
	ok($ok && $err eq '', "dot -Tsvg renders $cluster by $color/$label") or diag($err);
	is(scalar(() = $svg =~ /<g id="node\d+" class="node">/g) . '/' . scalar(() = $svg =~ /<g id="edge\d+" class="edge">/g),
	   "$nodes/$edges", "$cluster by $color/$label: $nodes tasks, $edges edges in the picture");
}
like($q->(q{SELECT raydar.task_graph_dot('01000000', cluster => 'evil')}),
	 qr/\[label="a \\"quoted\\" \\\\ name\\n<b>&amp;amp;<\/b>\xef\xbf\xbd"/,
	 'task_graph_dot: names are DOT-escaped (& as &amp;, a control character as U+FFFD)');

# ---------------------------------------------------------------------------
# critical_path: nested's parent, its last-ending child (ended 0.36 s
# before the parent), that child's grandchild. A running job's path is
# what it still waits for.
is($q->(q{SELECT * FROM raydar.critical_path('01000000', 'nested')}), <<'EOT' =~ s/\n$//r,
1|5f3e0488acbb85d8c7a4c2366e25a4be10a06e4b01000000|parent|FINISHED|1|7b614e428a186f4a4c116daf499fd7e80dfe1faf422d50cd2d186ed9|2026-01-01 10:00:00.015+00|2026-01-01 10:00:00.51+00|00:00:00.495|
2|e3b8bc708b2d44ad8a679cbad0a8827126b8358901000000|child|FINISHED|1|7b614e428a186f4a4c116daf499fd7e80dfe1faf422d50cd2d186ed9|2026-01-01 10:00:00.055+00|2026-01-01 10:00:00.15+00|00:00:00.095|00:00:00.36
3|431b9f7554da0243ccf7019b7b09b747c45a506501000000|grandchild|FINISHED|1|7b614e428a186f4a4c116daf499fd7e80dfe1faf422d50cd2d186ed9|2026-01-01 10:00:00.064+00|2026-01-01 10:00:00.1+00|00:00:00.036|00:00:00.05
EOT
   'critical_path: nested, three steps');
is($q->(q{SELECT step, name, state, start_time, end_time FROM raydar.critical_path('01000000', 'ray')}),
   '1|slow|RUNNING|2026-01-01 10:00:00.055+00|', 'critical_path: a running job waits for its longest-running task');

# ---------------------------------------------------------------------------
# chrome_trace: Ray's chrome_tracing_dump format. nested has 7 tasks with
# 3 profile events each on one node and 7 workers.
my $trace_text = $q->(q{SELECT raydar.chrome_trace('01000000', 'nested')});
my $trace = eval { JSON::PP->new->decode($trace_text) };
ok(ref $trace eq 'ARRAY', 'chrome_trace: valid JSON, an array of events') or diag($@);
$trace = [] unless ref $trace eq 'ARRAY';
my @x = grep { $_->{ph} eq 'X' } @$trace;
my @m = grep { $_->{ph} eq 'M' } @$trace;
is(scalar(@x) . ' ' . scalar(@m), '21 8', 'chrome_trace: 21 complete events, 8 metadata events');
is(scalar(grep { join(',', sort keys %$_) ne 'args,cat,cname,dur,name,ph,pid,tid,ts' } @x), 0,
   'chrome_trace: every complete event has exactly cat, name, pid, tid, ts, dur, cname, args, ph');
is($q->(q{SELECT count(*) FROM json_array_elements(raydar.chrome_trace('01000000', 'nested')) x
           WHERE x->>'ph' = 'X' AND NOT (json_typeof(x->'ts') = 'number' AND json_typeof(x->'dur') = 'number'
                                         AND (x->>'pid') ~ '^\d+$' AND (x->>'tid') ~ '^\d+$')}),
   '0', 'chrome_trace: ts and dur are numbers (microseconds), pid and tid integers');
is(join(' ', map { "$_->{name}:$_->{pid}:" . ($_->{tid} // 'null') . ":$_->{args}{name}" } grep { $_->{name} eq 'process_name' } @m),
   'process_name:0:null:Node 10.0.0.1', 'chrome_trace: a process_name event names the node');
is(scalar(grep { $_->{name} eq 'thread_name' && $_->{args}{name} =~ /^worker:[0-9a-f]{56}$/ } @m), 7,
   'chrome_trace: a thread_name event per worker, named component_type:component_id as Ray does');
my $first2 = <<'EOT' =~ s/\n$//r;
[{"cat" : "task:deserialize_arguments", "name" : "task:deserialize_arguments", "pid" : 0, "tid" : 5, "ts" : 1767261600015000, "dur" : 150.1, "cname" : "rail_load", "args" : {"job_id": "01000000", "task_id": "5f3e0488acbb85d8c7a4c2366e25a4be10a06e4b01000000", "actor_id": null, "attempt_number": 0, "func_or_class_name": "__main__.parent"}, "ph" : "X"}, {"cat" : "task:execute", "name" : "parent", "pid" : 0, "tid" : 5, "ts" : 1767261600015150.1, "dur" : 494759.9, "cname" : "rail_animation", "args" : {"name": "parent", "job_id": "01000000", "task_id": "5f3e0488acbb85d8c7a4c2366e25a4be10a06e4b01000000", "actor_id": null, "attempt_number": 0, "func_or_class_name": "__main__.parent"}, "ph" : "X"}, {
EOT
is(substr($trace_text, 0, length $first2), $first2,
   'chrome_trace: exact first events (times in microseconds, extra_data name shown, Ray colour names)');
# Every profile event of the job is there, at start_time * 1000.
is($q->(q{SELECT count(*) FROM raydar.tasks t, jsonb_array_elements(t.profiling_data->'events') e
           WHERE t.cluster = 'nested' AND NOT EXISTS (
             SELECT 1 FROM json_array_elements(raydar.chrome_trace('01000000', 'nested')) x
              WHERE x->>'ph' = 'X' AND x->'args'->>'task_id' = t.task_id AND x->>'cat' = e->>'event_name'
                AND (x->>'ts')::numeric = (e->>'start_time')::numeric * 1000
                AND (x->>'dur')::numeric = ((e->>'end_time')::numeric - (e->>'start_time')::numeric) * 1000)}),
   '0', 'chrome_trace: every profile event, at its start and duration');
is($q->(q{SELECT json_array_length(raydar.chrome_trace('01000000', 'evil'))}), '0',
   'chrome_trace: a job without profile events is an empty array');
is($q->(q{SELECT json_array_length(raydar.chrome_trace('01000000', 'classic'))}), '32',
   'chrome_trace: classic, 22 events of 8 started tasks + 2 nodes + 8 workers');

# ---------------------------------------------------------------------------
# timeline_svg: well-formed XML, one lane per worker, one bar per started
# attempt; Chromium renders it and every bar shows in its lane in its
# state's colour.
my %fill = (FINISHED => '#59a14f', FAILED => '#e15759', RUNNING => '#4e79a7');
for my $cluster (qw(ray classic nested evil))
{
	my $svg = $q->(qq{SELECT raydar.timeline_svg('01000000', '$cluster')});
	my $file = "$tmp/timeline_$cluster.svg";
	PostgreSQL::Test::Utils::append_to_file($file, $svg);
	my ($ok, $err) = (0, '');
	$ok = IPC::Run::run([ '/usr/bin/python3', '-c', 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])', $file ],
						'>', \my $o, '2>', \$err);
	ok($ok, "timeline_svg $cluster: well-formed XML") or diag($err);

	my $want = $q->(qq{SELECT count(DISTINCT (node_id, worker_id)) || ' ' || count(*) || ' '
	                          || count(*) FILTER (WHERE state = 'FINISHED') || ' ' || count(*) FILTER (WHERE state = 'FAILED')
	                          || ' ' || count(*) FILTER (WHERE state LIKE 'RUNNING%')
	                     FROM raydar.tasks WHERE cluster = '$cluster' AND type <> 'DRIVER_TASK' AND start_time IS NOT NULL});
	my @bars = map {
		my %a = /(\w[\w-]*)="([^"]*)"/g;
		\%a
	} $svg =~ /<rect class="bar" ([^>]*)>/g;
	my %lanes = map { ($_->{'data-lane'} => 1) } @bars;
	my $got = scalar(keys %lanes) . ' ' . scalar(@bars) . ' ' . join(' ', map { my $c = $_; scalar grep { $_->{fill} eq $c } @bars } @fill{qw(FINISHED FAILED RUNNING)});
	is($got, $want, "timeline_svg $cluster: lanes (workers), bars (attempts), green/red/blue bars");

	my ($w, $h) = $svg =~ /^<svg [^>]*width="(\d+)" height="(\d+)"/;
	my $png = "$tmp/timeline_$cluster.png";
	my $chrome_err = '';
	# Chromium's profile goes under HOME (a fresh one per picture): with
	# --user-data-dir instead, small pages were captured before painting.
	mkdir "$tmp/home_$cluster";
	local $ENV{HOME} = "$tmp/home_$cluster";
	IPC::Run::run([ 'chromium', '--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars',
					'--force-device-scale-factor=1', "--screenshot=$png",
					"--window-size=$w,$h", "file://$file" ],
				  '>', \my $cout, '2>', \$chrome_err, IPC::Run::timeout(120));
	ok(-s $png, "timeline_svg $cluster: headless Chromium made a screenshot") or diag($chrome_err);
	my ($pw, $ph, $pixel) = eval { RaydarAnswers::png_read($png) };
	is(($pw // 0) . 'x' . ($ph // 0), "${w}x$h", "timeline_svg $cluster: the picture is the SVG's size");
	next unless $pixel;
	# The middle of every bar (bars are at least 2 px wide) has its colour;
	# 3 px above the bar, between lanes, is background or a grid line: grey.
	my @wrong;
	for my $b (@bars)
	{
		my $cx = int($b->{x} + $b->{width} / 2);
		my $cy = int($b->{y} + $b->{height} / 2);
		my $c = $pixel->($cx, $cy);
		push @wrong, "$b->{'data-task'}: $c at ($cx,$cy), want $b->{fill}" if $c ne $b->{fill};
		my $above = $pixel->($cx, $b->{y} - 3);
		push @wrong, "$b->{'data-task'}: $above above the bar" unless $above =~ /^#(..)\1\1$/;
	}
	is(join("\n", @wrong), '', "timeline_svg $cluster: every bar drawn in its lane, in its state's colour")
	  or PostgreSQL::Test::Utils::system_log('cp', $file, $png, $PostgreSQL::Test::Utils::log_path);
}
like($q->(q{SELECT raydar.timeline_svg('01000000', 'evil')}),
	 qr/<title>a &quot;quoted&quot; \\ name&#10;&lt;b&gt;&amp;amp;&lt;\/b&gt;\xef\xbf\xbd \(attempt 0\) FAILED, 1.000 s<\/title>/,
	 'timeline_svg: names are XML-escaped, a newline as &#10;, a control character as U+FFFD');

# ---------------------------------------------------------------------------
# Privileges: readers read every answer, others nothing.
my $everything = q{SELECT (SELECT count(*) FROM raydar.job_progress) || ' '
	|| (SELECT count(*) FROM raydar.task_summary) || ' ' || (SELECT count(*) FROM raydar.task_edges) || ' '
	|| (SELECT count(*) FROM raydar.critical_path('01000000', 'nested')) || ' '
	|| json_array_length(raydar.chrome_trace('01000000', 'nested')) || ' '
	|| md5(raydar.timeline_svg('01000000', 'nested')) || ' '
	|| md5(raydar.task_graph_dot('01000000', cluster => 'nested'))};
my $as_owner = $q->($everything);
like($as_owner, qr/^4 19 35 3 29 [0-9a-f]{32} [0-9a-f]{32}$/, 'every view and function, as the owner');
is($node->safe_psql('postgres', $everything, extra_params => [ '-U', 'dash' ]), $as_owner,
   'a reader reads every view and calls every function, with the same answers');
like(psql_error(q{SELECT * FROM raydar.job_progress}, extra_params => [ '-U', 'nobody' ]),
	 qr/permission denied/, 'a role outside raydar_reader reads no progress');
like(psql_error(q{SELECT raydar.chrome_trace('01000000', 'nested')}, extra_params => [ '-U', 'nobody' ]),
	 qr/permission denied for function chrome_trace/, 'nor calls the functions');

$node->stop;
done_testing();
