# 150_never_crash.pl
#	Every query and every reply leaves the database healthy (issue 12's
#	repros): keys-only scans no longer read a freed reply, cached replies
#	outlive the scans that read them in place, values out of PostgreSQL's
#	range become NULL with one WARNING (and pg_dump still works), hostile
#	values give readable rows, and cancel stops a scan of a 500 MB reply
#	within 200 ms. test/scale/ runs the same kinds of scans at 100,000 rows
#	under Valgrind.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use File::Temp qw(tempdir);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RaySim;
use Test::More;
use Time::HiRes qw(time usleep);
use Time::Local qw(timegm);

my $MAKE = "$FindBin::RealBin/../scale/make_reply.py";
my $tmp = tempdir('never_crash_XXXXXX', TMPDIR => 1, CLEANUP => 1);

sub make_reply
{
	my ($mode, @args) = @_;
	my $out = `/usr/bin/python3 $MAKE $mode $tmp/$mode @args 2>&1`;
	die "make_reply.py $mode failed: $out" if $? != 0;
	chomp $out;
	return ("$tmp/$mode", $out);
}

my $node = PostgreSQL::Test::Cluster->new('never_crash');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', "timezone = 'UTC'\nlog_timezone = 'UTC'\nraydar.collector = off");
$node->start;
my $pm_pid = $node->safe_psql('postgres', 'SELECT pid FROM pg_stat_activity WHERE backend_type = \'checkpointer\'');

my ($hdir) = make_reply('hostile');
my ($vdir, $vcount) = make_reply('varied', 3000);
my $hsim = RaySim->new(replay => $hdir, name => 'hostile');
my $vsim = RaySim->new(replay => $vdir, name => 'varied');
my ($ha, $va) = ($hsim->address, $vsim->address);
$node->safe_psql('postgres', qq{
	CREATE EXTENSION raydar;
	CREATE SERVER h FOREIGN DATA WRAPPER raydar OPTIONS (address '$ha');
	CREATE SCHEMA h;
	IMPORT FOREIGN SCHEMA ray FROM SERVER h INTO h;
	CREATE SERVER v FOREIGN DATA WRAPPER raydar OPTIONS (address '$va');
	CREATE SCHEMA v;
	IMPORT FOREIGN SCHEMA ray FROM SERVER v INTO v;
	CREATE SERVER c FOREIGN DATA WRAPPER raydar OPTIONS (address '$va', cache_ttl_ms '600000');
	CREATE SCHEMA c;
	IMPORT FOREIGN SCHEMA ray FROM SERVER c INTO c;});

# ---------------------------------------------------------------- keys-only scans
# count(DISTINCT task_id) needs only the keys: the reply is freed right after
# the walk, and the ids must not point into it (they did: garbage ids, then a
# crashed backend at 100,000 rows).
is($node->safe_psql('postgres', 'SELECT count(DISTINCT task_id) FROM v.tasks'), $vcount,
   "count(DISTINCT task_id) over $vcount varied attempts");
is($node->safe_psql('postgres', q{
	SELECT (SELECT md5(string_agg(task_id || ':' || attempt_number || ':' || state, ',' ORDER BY task_id, attempt_number))
	          FROM v.tasks)
	     = (SELECT md5(string_agg(task_id || ':' || attempt_number || ':' || state, ',' ORDER BY task_id, attempt_number))
	          FROM (SELECT task_id, attempt_number, state, name FROM v.tasks) t WHERE name IS NOT NULL)}),
   't', 'keys-only ids and states equal the full decode\'s, attempt by attempt');
is($node->safe_psql('postgres', q{SELECT count(*) FROM v.tasks WHERE task_id !~ '^a5a5a5a5[0-9a-f]{40}$'}),
   '0', 'every keys-only id is the id Ray sent (no bytes from freed memory)');

# ---------------------------------------------------------------- the reply cache
# A cached scan read in place while later scans of the same query fill and
# evict the cache's 4 slots (it crashed in protobuf_c_message_unpack).
my @ids = split /\n/, $node->safe_psql('postgres',
	'SELECT task_id FROM v.tasks WHERE attempt_number = 0 ORDER BY task_id LIMIT 6');
my $union = join ' UNION ALL ', map { "SELECT task_id FROM c.tasks WHERE task_id = '$_'" } @ids;
# Nested loops without materialization read both sides as they go.
my $nl = 'SET enable_hashjoin = off; SET enable_mergejoin = off; SET enable_material = off;';
is($node->safe_psql('postgres', "$nl SELECT count(*) FROM c.tasks t JOIN ($union) u USING (task_id)"),
   '6', 'a cached scan joined to six task_id scans (which evict its slot) gives the right rows');
is($node->safe_psql('postgres', "$nl SELECT count(*) FROM c.tasks t JOIN ($union) u USING (task_id)"),
   '6', 'the same join again, from the cache');

# A connection rebuilt (ALTER SERVER) while a cursor still reads a cached reply.
my ($out, $err);
$node->psql('postgres', qq{
	BEGIN;
	DECLARE cur CURSOR FOR SELECT task_id, name FROM c.tasks ORDER BY task_id;
	FETCH 5 FROM cur;
	ALTER SERVER c OPTIONS (SET cache_ttl_ms '500000');
	SELECT count(*) FROM c.tasks;
	FETCH ALL FROM cur;
	COMMIT;}, stdout => \$out, stderr => \$err);
my @rows = grep { /\|/ } split /\n/, $out;
is(scalar @rows, $vcount, 'a cursor over a cached reply reads every row after the cache was rebuilt');
is($err, '', 'and says nothing');

# ---------------------------------------------------------------- hostile values
($out, $err) = ('', '');
$node->psql('postgres', 'SELECT count(*), count(task_id), count(DISTINCT task_id) FROM h.tasks',
			stdout => \$out, stderr => \$err);
is($out, '17|16|16', 'all 17 hostile attempts are rows; the empty id is NULL');
my %h = map { my @f = split /\|/; ($f[0] => [ @f[1 .. $#f] ]) } split /\n/, $node->safe_psql('postgres', q{
	SELECT split_part(name, ':', 1), length(name), coalesce(length(task_id), -1), job_id,
	       coalesce(creation_time::text, 'null'), coalesce(start_time::text, 'null'),
	       coalesce(end_time::text, 'null'),
	       coalesce(required_resources->>'GPU', 'absent'), jsonb_typeof(required_resources->'GPU'),
	       (SELECT count(*) FROM jsonb_object_keys(required_resources)),
	       position(E'\uFFFD' IN name) > 0
	  FROM h.tasks});
is($h{time_zero}[3], '1970-01-01 00:00:00+00', 'a time of 0 ns is the epoch, as Ray shows it');
is($h{time_negative}[4], '1969-12-31 22:36:40+00', 'a negative time is before the epoch, as Ray shows it');
is($h{time_int64_min}[3], '1677-09-21 00:12:43.145+00', 'the smallest int64 ns is 1677-09-21');
is($h{time_int64_max}[5], '2262-04-11 23:47:16.854+00', 'the largest int64 ns is 2262-04-11');
is("$h{nan_resource}[6]/$h{nan_resource}[7]", 'absent/null', 'a NaN resource is JSON null');
is($h{inf_resource}[7], 'null', 'an infinite resource is JSON null');
is($h{name_1mb}[0], 9 + 512 * 1024, 'a 1 MB name is kept whole');
is($h{invalid_utf8}[9], 't', 'invalid UTF-8 becomes U+FFFD');
is($h{nul_in_name}[0], 13, 'a name is cut at its first NUL (text cannot hold one)');
is($h{map_10000_keys}[8], '10001', 'a map of 10,000 keys is kept whole');
is($h{id_len_0}[1], '-1', 'an empty task id is NULL');
is(join(',', map { $h{"id_len_$_"}[1] } (1, 5, 27, 28, 100)), '2,10,54,56,200',
   'ids of every wrong length are shown whole, in hex');
is($h{job_id_len_3}[2], '010203', 'a 3-byte job id is shown whole');

# Values past PostgreSQL's range: NULL, one WARNING, and the table stays dumpable.
($out, $err) = ('', '');
$node->psql('postgres', q{SELECT name, coalesce(start_time::text, 'null'), coalesce(end_time::text, 'null')
	FROM h.actors ORDER BY name}, stdout => \$out, stderr => \$err);
is($out, "actor_past_294276|null|null\nactor_sane|2026-11-01 12:00:00+00|2026-11-01 12:01:00+00\nactor_uint64_max|null|null",
   'actor times past year 294276 and past INT64_MAX are NULL; a sane one is kept');
like($err, qr/WARNING:  4 values from Ray at \S+ \(server "h"\) were out of range and were read as NULL/,
	 'one WARNING counts the four values');
like($err, qr/DETAIL:  The first was a time in unix milliseconds = 9300000000000000\./,
	 'and names the first');
$node->safe_psql('postgres', q{
	CREATE TABLE actors_copy AS SELECT * FROM h.actors;
	CREATE TABLE tasks_copy AS SELECT * FROM h.tasks;});
is($node->safe_psql('postgres', 'SELECT count(*) FROM actors_copy WHERE start_time IS NULL'), '2',
   'the copied actors are readable');
my $dump = "$tmp/dump.sql";
my $rc = system_log('pg_dump', '-t', 'tasks_copy', '-t', 'actors_copy', '-d', $node->connstr('postgres'),
					'-f', $dump);
is($rc, 0, 'pg_dump succeeds on tables made from hostile rows');
my $restored = PostgreSQL::Test::Cluster->new('restored');
$restored->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$restored->start;
$restored->safe_psql('postgres', 'CREATE DATABASE r');
$restored->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=0', '-d', $restored->connstr('r'), '-f', $dump ],
					  'the dump restores');
is($restored->safe_psql('r', 'SELECT count(*), sum(length(name)) FROM tasks_copy'),
   $node->safe_psql('postgres', 'SELECT count(*), sum(length(name)) FROM tasks_copy'),
   'the restored hostile rows equal the originals');
$restored->stop;

# ---------------------------------------------------------------- cancel a 500 MB reply
# Cancel while the backend copies and walks the reply (after it arrived: the
# backend then holds it twice, grpc's copy and raydar's). Before, the copy and
# the walk never looked at interrupts: 4.5-5.2 s.
my ($bdir, $bcount) = make_reply('huge', 500);
my $bsim = RaySim->new(replay => $bdir, name => 'huge', timeout => 120);
my $ba = $bsim->address;
$node->safe_psql('postgres', qq{
	CREATE SERVER big FOREIGN DATA WRAPPER raydar OPTIONS (address '$ba', timeout_ms '600000');
	CREATE SCHEMA big;
	IMPORT FOREIGN SCHEMA ray FROM SERVER big INTO big;});
my $reply_kb = int(-s "$bdir/get_task_events_reply.bin") / 1024;

# "2026-12-06 21:11:02.123" (UTC) as epoch seconds.
sub log_epoch
{
	my ($d, $t) = split / /, $_[0];
	my ($Y, $M, $D) = split /-/, $d;
	my ($h, $m, $sec) = split /:/, $t;
	return timegm(0, $m, $h, $D, $M - 1, $Y) + $sec;
}

# CPU time of the backend's main thread, the one that runs the query (grpc's
# threads are others), in ms: (user, system).
sub main_thread_cpu_ms
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/task/$pid/stat") or return (0, 0);
	my $line = <$fh>;
	close $fh;
	my @f = split / /, substr($line, rindex($line, ')') + 2);
	return ($f[11] * 10, $f[12] * 10);	# utime, stime in 1/100 s
}

sub vm
{
	my ($pid, $what) = @_;
	open(my $fh, '<', "/proc/$pid/status") or return 0;
	my ($kb) = map { /^$what:\s+(\d+)/ ? $1 : () } <$fh>;
	close $fh;
	return $kb // 0;
}

for my $case ([ 'keys-only', 'SELECT count(DISTINCT task_id) FROM big.tasks' ],
			  [ 'streamed', 'SELECT count(name) FROM big.tasks' ])
{
	my ($label, $sql) = @$case;
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	my $pid = $s->query_safe('SELECT pg_backend_pid()');
	$pid =~ s/\D//g;
	my $base = vm($pid, 'VmRSS');
	$s->query_until(qr/started/, "\\echo started\n$sql;\n\\echo done\n");
	# The reply is in once the backend holds more than 1.6 times its size.
	my $t_end = time() + 300;
	while (vm($pid, 'VmRSS') - $base < 1.6 * $reply_kb && time() < $t_end)
	{
		usleep(2000);
	}
	my $log_at = -s $node->logfile;
	my ($user0, $sys0) = main_thread_cpu_ms($pid);
	my $t0 = time();
	kill 'INT', $pid;
	$s->{timeout}->start(60);
	$s->{stdout} = '';
	$s->{stderr} = '';
	$s->{run}->pump until $s->{stdout} =~ /done/ || $s->{timeout}->is_expired;
	# The latency is the backend's: from the signal to the time it logged the
	# error (log_line_prefix %m), not psql's and this script's turn-around.
	my ($stamp) = slurp_file($node->logfile, $log_at) =~
	  /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) UTC \[$pid\] \S* *ERROR:  canceling statement/m;
	my $ms = defined $stamp ? (log_epoch($stamp) - $t0) * 1000 : 1e9;
	my ($user1, $sys1) = main_thread_cpu_ms($pid);
	my ($user, $sys) = ($user1 - $user0, $sys1 - $sys0);
	note(sprintf('%s: cancel took %.0f ms of wall time, %d ms user and %d ms system CPU of the backend '
				 . '(VmHWM %d MB for a %d MB reply)',
				 $label, $ms, $user, $sys, vm($pid, 'VmHWM') / 1024, $reply_kb / 1024));
	like($s->{stderr}, qr/canceling statement/, "$label: the scan of a 500 MB reply is cancelled");
	# The backend's own work between the signal and the error is its user
	# time, which a busy machine does not inflate (wall time is in the note
	# above); the copy and the walk that once ignored the cancel for 4.5-5.2
	# s were user time. Its system time is the kernel taking back the ~1 GB
	# the backend held (grpc's copy and raydar's), which the check below requires:
	# 40-100 ms on an idle machine, but up to ~250 ms while other tests
	# fault in memory (CI's tap suite runs three at once), so it is bounded
	# loosely, to catch a release that went quadratic, not the load.
	cmp_ok($user, '<', 200, "$label: the backend stops within 200 ms of its own time after the cancel");
	cmp_ok($sys, '<', 1000, "$label: and gives the reply's memory back within 1 s of system time");
	cmp_ok(vm($pid, 'VmHWM'), '<', 3 * $reply_kb + 200 * 1024,
		   "$label: peak memory under three times the reply");
	$s->{stderr} = '';
	$s->query('SELECT 1');
	# Where the cancel lands depends on the machine's load: on an idle one
	# after the copy, under load often while the reply is still arriving
	# or being copied out of grpc's slices, which once kept ~500 MB here
	# (grpc's freed slices stay in glibc's arenas; connection.c now trims
	# after a failed call and after copying a large reply).
	cmp_ok(vm($pid, 'VmRSS') - $base, '<', 100 * 1024, "$label: the memory is given back after the cancel");
	$s->quit;
}
# And a full keys-only scan of it completes, in bounded memory.
{
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	my $pid = $s->query_safe('SELECT pg_backend_pid()');
	$pid =~ s/\D//g;
	my $base = vm($pid, 'VmRSS');
	is($s->query_safe('SELECT count(DISTINCT task_id) FROM big.tasks'), $bcount,
	   "count(DISTINCT task_id) over the 500 MB reply: $bcount");
	cmp_ok(vm($pid, 'VmHWM'), '<', 3 * $reply_kb + 200 * 1024, 'in under three times the reply');
	cmp_ok(vm($pid, 'VmRSS') - $base, '<', 100 * 1024, 'and gives the memory back when the scan ends');
	$s->quit;
}
$bsim->stop;

# ---------------------------------------------------------------- the server survived
is($node->safe_psql('postgres', 'SELECT pid FROM pg_stat_activity WHERE backend_type = \'checkpointer\''),
   $pm_pid, 'no backend crashed (the checkpointer was never restarted)');
unlike(slurp_file($node->logfile), qr/terminated by signal|server process .* was terminated/,
	   'the server log shows no crashed process');

done_testing();
