# memcheck.pl
#	The scale suite: PostgreSQL runs under Valgrind's Memcheck (every
#	backend and the collector: --trace-children) while raydar's FDW and
#	collector read a 100,000-attempt reply of varied values
#	(test/scale/make_reply.py varied) with every query shape the planner
#	sends an FDW: keys-only and full scans, projections, GROUP BY,
#	count(DISTINCT), joins, LIMIT, a cursor fetched in part, rescans, and a
#	cached reply read by several scans. Passing means the answers are the
#	expected ones AND Memcheck reports 0 errors (test/scale/valgrind.supp
#	holds PostgreSQL's own known reports). Run by scripts/run-suites.sh
#	(suite "scale"); alone: see docs/development.md.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use File::Temp qw(tempdir);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RaySim;
use Test::More;
use POSIX qw(WNOHANG);
use Time::HiRes qw(usleep time);

my $COUNT = 100_000;
my $SUPP = "$FindBin::RealBin/valgrind.supp";
my $tmp = tempdir('memcheck_XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $vgdir = "$PostgreSQL::Test::Utils::log_path/valgrind";
mkdir $vgdir;

my $out = `/usr/bin/python3 $FindBin::RealBin/make_reply.py varied $tmp/varied $COUNT 2>&1`;
die "make_reply.py failed: $out" if $? != 0;
my $sim = RaySim->new(replay => "$tmp/varied", name => 'varied', timeout => 120);
my $addr = $sim->address;

my $node = PostgreSQL::Test::Cluster->new('memcheck');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'raydar'
timezone = 'UTC'
raydar.poll_interval = '2s'
max_worker_processes = 8
# Memcheck makes everything ~30x slower; nothing here may time out.
statement_timeout = 0
});

# Started by hand, under valgrind: PostgreSQL::Test::Cluster::start runs
# pg_ctl, which would start the postgres binary directly.
my $pg = $node->config_data('--bindir') . '/postgres';
my @vg = ('valgrind', '--quiet', '--trace-children=yes', '--error-limit=no',
		  '--leak-check=no', '--num-callers=30', "--suppressions=$SUPP",
		  "--log-file=$vgdir/vg.%p.log");
my $vg_pid = fork();
die "fork: $!" unless defined $vg_pid;
if ($vg_pid == 0)
{
	open(STDOUT, '>>', $node->logfile);
	open(STDERR, '>&', \*STDOUT);
	exec(@vg, $pg, '-D', $node->data_dir) or die "exec valgrind: $!";
}
my $ready = 0;
for (1 .. 240)
{
	if (system('pg_isready', '-q', '-h', $node->host, '-p', $node->port) == 0) { $ready = 1; last; }
	last if waitpid($vg_pid, WNOHANG) == $vg_pid;	# valgrind or postgres gave up
	sleep 1;
}
BAIL_OUT('PostgreSQL under valgrind did not start') unless $ready;
# Let the framework stop it (pg_ctl reads postmaster.pid).
$node->_update_pid(1) if $node->can('_update_pid');

sub sq { return $node->safe_psql('postgres', $_[0]); }

sq(qq{
	CREATE EXTENSION raydar;
	CREATE SERVER v FOREIGN DATA WRAPPER raydar OPTIONS (address '$addr', timeout_ms '600000');
	CREATE SCHEMA v;
	IMPORT FOREIGN SCHEMA ray FROM SERVER v INTO v;
	CREATE SERVER c FOREIGN DATA WRAPPER raydar OPTIONS (address '$addr', timeout_ms '600000',
	                                                     cache_ttl_ms '3600000');
	CREATE SCHEMA c;
	IMPORT FOREIGN SCHEMA ray FROM SERVER c INTO c;});

# What make_reply.py's rules give (fate = i % 10: 0 pending args, 1 pending
# node, 2-3 running, 4-8 finished, 9 failed).
my $finished = $COUNT / 10 * 5;
my $failed = $COUNT / 10;
my $t0 = time();

# keys-only: count(DISTINCT) and GROUP BY
is(sq('SELECT count(DISTINCT task_id), count(*) FROM v.tasks'), "$COUNT|$COUNT",
   'keys-only count(DISTINCT task_id) over 100,000 varied attempts');
is(sq('SELECT state, count(*) FROM v.tasks GROUP BY state ORDER BY state'),
   join("\n", "FAILED|$failed", "FINISHED|$finished", 'PENDING_ARGS_AVAIL|' . ($COUNT / 10),
		'PENDING_NODE_ASSIGNMENT|' . ($COUNT / 10), 'RUNNING|' . ($COUNT / 10 * 2)),
   'keys-only GROUP BY state');

# full scan, every kind of column
my ($n, $names, $events, $errors, $keys, $actors) = split /\|/, sq(q{
	SELECT count(*), sum(length(name)), sum(jsonb_array_length(events)), count(error_message),
	       sum((SELECT count(*) FROM jsonb_object_keys(required_resources))), count(actor_id)
	  FROM v.tasks});
is($n, $COUNT, 'full scan: every attempt');
is($errors, $failed, 'full scan: an error message on every FAILED attempt');
my ($exp_keys, $exp_actors) = (0, 0);
for my $i (0 .. $COUNT - 1)
{
	my $k = $i % 13;
	$k++ if $i % 11 == 0;
	$exp_keys += $k;
	$exp_actors++ if $i % 17 <= 1;
}
is($keys, $exp_keys, 'full scan: the resource maps have their keys');
is($actors, $exp_actors, 'full scan: actor ids on actor tasks');

# LIMIT, a cursor fetched in part, a self-join, rescans
is(sq('SELECT count(*) FROM (SELECT task_id FROM v.tasks LIMIT 10) t'), '10', 'LIMIT 10');
is(sq(q{BEGIN; DECLARE cur CURSOR FOR SELECT task_id, name, required_resources FROM v.tasks;
	   FETCH 100 FROM cur; CLOSE cur; COMMIT; SELECT 'closed'}) =~ /closed$/ ? 1 : 0, 1,
   'a cursor fetched in part and closed');
is(sq(q{SELECT count(*) FROM v.tasks a JOIN v.tasks b USING (task_id, attempt_number)
	   WHERE a.state = 'FAILED' AND b.state = a.state}), $failed, 'a self-join on the key');
is(sq(q{SET enable_hashjoin = off; SET enable_mergejoin = off; SET enable_material = off;
	   SELECT sum(s.n) FROM (VALUES (0), (1), (2)) x(a),
	          LATERAL (SELECT count(*) AS n FROM v.tasks t WHERE t.attempt_number = x.a) s}),
   $COUNT - int(($COUNT + 19) / 20), 'rescans of the foreign scan (attempts 0, 1 and 2)');

# the reply cache: one cached reply read by several scans of one query
is(sq(q{SELECT count(*) FROM c.tasks a JOIN c.tasks b USING (task_id, attempt_number)
	   WHERE a.state = 'FAILED'}), $failed, 'a cached reply read by two scans of one query');
note(sprintf('FDW shapes under memcheck: %.0f s', time() - $t0));

# ---------------------------------------------------------------- the collector
$t0 = time();
sq(q{CREATE USER MAPPING FOR CURRENT_USER SERVER v; SELECT raydar.track('v')});
my $done = 0;
for (1 .. 1200)
{
	my $h = sq('SELECT count(*) FROM raydar.task_history');
	if ($h >= $finished + $failed) { $done = 1; last; }
	sleep 1;
}
ok($done, 'the collector took every finished attempt');
is(sq('SELECT count(*), count(DISTINCT (task_id, attempt_number)) FROM raydar.task_history'),
   ($finished + $failed) . '|' . ($finished + $failed), 'exactly once');
my $H = q{sum(hashtextextended(task_id || attempt_number || state || name || required_resources::text
	                || coalesce(error_message, ''), 0)::numeric)};
is(sq(qq{SELECT (SELECT $H FROM raydar.task_history)
	          = (SELECT $H FROM v.tasks WHERE state IN ('FINISHED', 'FAILED'))}),
   't', 'history holds what the FDW shows, value for value');
note(sprintf('collector first track under memcheck: %.0f s', time() - $t0));
sq(q{SELECT raydar.untrack('v')});

# ---------------------------------------------------------------- Memcheck's verdict
$node->stop('fast');
waitpid($vg_pid, 0);
my @errors;
opendir(my $dh, $vgdir) or die "$vgdir: $!";
for my $f (sort grep { /^vg\.\d+\.log$/ } readdir $dh)
{
	my $text = slurp_file("$vgdir/$f");
	push @errors, "$f:\n$text" if $text =~ /\S/;
}
closedir $dh;
is(scalar @errors, 0, 'Memcheck reports 0 errors in every process')
  or diag(substr(join("\n", @errors), 0, 20000));
unlike(slurp_file($node->logfile), qr/terminated by signal/, 'no process crashed');

done_testing();
