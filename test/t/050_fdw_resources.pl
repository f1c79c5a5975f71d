# 050_fdw_resources.pl
#	What raydar costs the server: failing scans do not leak memory, grpc's
#	threads never take PostgreSQL's signals, the postmaster stays
#	single-threaded, backends exit cleanly, the reply cache answers within
#	its TTL (and only then), and plans estimate from the last scan.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RaySim;
use Test::More;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('fdw_resources');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'raydar'\ntimezone = 'UTC'");
$node->start;

my $sim = RaySim->new(profile => '2.49', scenario => 'many', scenario_params => { count => 20 },
					  name => 'resources');
my $addr = $sim->address;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION raydar;
	CREATE SERVER ray FOREIGN DATA WRAPPER raydar OPTIONS (address '$addr');
	CREATE SCHEMA live;
	IMPORT FOREIGN SCHEMA ray FROM SERVER ray INTO live;
	CREATE SERVER cached FOREIGN DATA WRAPPER raydar OPTIONS (address '$addr', cache_ttl_ms '5000');
	CREATE SCHEMA cached;
	IMPORT FOREIGN SCHEMA ray FROM SERVER cached INTO cached;});

my $s = $node->background_psql('postgres', on_error_stop => 0);
sub sq { my ($out, $err) = RaySim::session_query($s, $_[0]); return wantarray ? ($out, $err) : $out; }

sub proc_status
{
	my ($path) = @_;
	open(my $fh, '<', $path) or return {};
	my %h = map { /^(\w+):\s*(.*)$/ ? ($1 => $2) : () } <$fh>;
	close $fh;
	return \%h;
}

# ---------------------------------------------------------------- memory
my $MEASURE = q{SELECT (SELECT sum(total_bytes) FROM pg_backend_memory_contexts) || ' ' ||
	substring(pg_read_file('/proc/' || pg_backend_pid() || '/status') FROM 'VmRSS:\s+(\d+) kB')};

sub failing_scans
{
	my ($n, $table) = @_;
	$table //= 'live.tasks';
	my $t0 = time();
	my ($out, $err) = sq(qq{DO \$\$
		DECLARE failed int := 0;
		BEGIN
		  FOR i IN 1..$n LOOP
		    BEGIN
		      PERFORM count(*) FROM $table;
		    EXCEPTION WHEN OTHERS THEN failed := failed + 1;
		    END;
		  END LOOP;
		  RAISE NOTICE 'failed % of %', failed, $n;
		END \$\$});
	return ($err, time() - $t0);
}

sq('SELECT count(*) FROM live.tasks');	# connect and learn the version first
for my $f ([ 'gcs_status', { mode => 'gcs_status', code => 13, message => 'simulated' } ],
		   [ 'malformed', { mode => 'malformed', kind => 'truncated' } ])
{
	my ($label, $spec) = @$f;
	$sim->fault(%$spec);
	my ($err) = failing_scans(50);
	like($err, qr/NOTICE:  failed 50 of 50/, "$label: warm-up scans all failed");
	my ($ctx0, $rss0) = split / /, sq($MEASURE);
	$sim->clear_requests;
	my ($err2, $secs) = failing_scans(1000);
	my $calls = scalar @{ $sim->requests_for('GetTaskEvents') };
	is($calls, 1000, "$label: each of the 1000 scans called GetTaskEvents");
	like($err2, qr/NOTICE:  failed 1000 of 1000/, "$label: 1000 scans all failed");
	my ($ctx1, $rss1) = split / /, sq($MEASURE);
	note(sprintf('%s: 1000 failing scans in %.1f s; context bytes %d -> %d (%+d), VmRSS %d -> %d kB (%+d)',
				 $label, $secs, $ctx0, $ctx1, $ctx1 - $ctx0, $rss0, $rss1, $rss1 - $rss0));
	cmp_ok($ctx1 - $ctx0, '<', 1024 * 1024, "$label: memory contexts flat after 1000 failing scans");
	cmp_ok($rss1 - $rss0, '<', 8 * 1024, "$label: VmRSS flat after 1000 failing scans");
	$sim->fault('none');
	is(sq('SELECT count(*) FROM live.tasks'), '21', "$label: the session scans again");
}

# Every other way a call fails, 1,000 times each: an address nobody listens
# on, a GCS slower than timeout_ms, a cluster that refuses the (missing)
# token. Each class must leave the backend's memory as it found it.
my $tsim = RaySim->new(profile => 'master', scenario => 'many', scenario_params => { count => 20 },
					   token => 'sekret', name => 'resources_token');
my $taddr = $tsim->address;
$node->safe_psql('postgres', qq{
	CREATE SERVER nobody FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:1', connect_timeout_ms '1000', ray_version '2.49.0');
	CREATE SCHEMA nobody;
	IMPORT FOREIGN SCHEMA ray FROM SERVER nobody INTO nobody;
	CREATE SERVER slow FOREIGN DATA WRAPPER raydar OPTIONS (address '$addr', timeout_ms '20');
	CREATE SCHEMA slow;
	IMPORT FOREIGN SCHEMA ray FROM SERVER slow INTO slow;
	CREATE SERVER refused FOREIGN DATA WRAPPER raydar OPTIONS (address '$taddr', ray_version '2.49.0');
	CREATE SCHEMA refused;
	IMPORT FOREIGN SCHEMA ray FROM SERVER refused INTO refused;});
for my $f ([ 'unreachable', 'nobody.tasks', undef ],
		   [ 'slow', 'slow.tasks', { mode => 'slow', delay_ms => 100 } ],
		   [ 'refused', 'refused.tasks', undef ])
{
	my ($label, $table, $spec) = @$f;
	$sim->fault(%$spec) if $spec;
	my ($err) = failing_scans(50, $table);
	like($err, qr/NOTICE:  failed 50 of 50/, "$label: warm-up scans all failed");
	my ($ctx0, $rss0) = split / /, sq($MEASURE);
	my ($err2, $secs) = failing_scans(1000, $table);
	like($err2, qr/NOTICE:  failed 1000 of 1000/, "$label: 1000 scans all failed");
	my ($ctx1, $rss1) = split / /, sq($MEASURE);
	note(sprintf('%s: 1000 failing scans in %.1f s; context bytes %d -> %d (%+d), VmRSS %d -> %d kB (%+d)',
				 $label, $secs, $ctx0, $ctx1, $ctx1 - $ctx0, $rss0, $rss1, $rss1 - $rss0));
	cmp_ok($ctx1 - $ctx0, '<', 1024 * 1024, "$label: memory contexts flat after 1000 failing scans");
	cmp_ok($rss1 - $rss0, '<', 8 * 1024, "$label: VmRSS flat after 1000 failing scans");
	$sim->fault('none') if $spec;
}
$tsim->stop;
is(sq('SELECT count(*) FROM live.tasks'), '21', 'after every failure class the session scans again');

# ---------------------------------------------------------------- threads and signals
my ($bpid) = sq('SELECT pg_backend_pid()');
sq('SELECT count(*) FROM live.tasks');
my @tids = grep { /^\d+$/ && $_ != $bpid } split /\n/,
  sq("SELECT pg_ls_dir('/proc/' || pg_backend_pid() || '/task')");
cmp_ok(scalar @tids, '>', 0, 'after a scan the backend runs grpc threads (' . scalar(@tids) . ')');

my %sig = (SIGHUP => 1, SIGINT => 2, SIGQUIT => 3, SIGUSR1 => 10, SIGUSR2 => 12,
		   SIGALRM => 14, SIGTERM => 15);
my @unblocked;
for my $tid (@tids)
{
	my $mask = sq("SELECT substring(pg_read_file('/proc/$bpid/task/$tid/status') FROM 'SigBlk:\\s+([0-9a-f]+)')");
	note("thread $tid SigBlk $mask");
	my ($hi, $lo) = (hex(substr($mask, 0, 8)), hex(substr($mask, 8, 8)));
	for my $name (sort keys %sig)
	{
		my $bit = $sig{$name} - 1;
		my $set = $bit < 32 ? ($lo >> $bit) & 1 : ($hi >> ($bit - 32)) & 1;
		push @unblocked, "$tid:$name" unless $set;
	}
}
is_deeply(\@unblocked, [], "every grpc thread blocks @{[ join ', ', sort keys %sig ]}");
my $main = proc_status("/proc/$bpid/task/$bpid/status");
note("main thread SigBlk $main->{SigBlk}");
unlike($main->{SigBlk} // '', qr/^f{16}$/, 'the main thread does not block everything');

my ($pm_pid) = split /\n/, slurp_file($node->data_dir . '/postmaster.pid');
is(proc_status("/proc/$pm_pid/status")->{Threads}, '1',
   'the postmaster has one thread (raydar preloaded, scans ran)');
is(proc_status("/proc/$bpid/status")->{Threads}, scalar(@tids) + 1, 'the scanning backend is multi-threaded');

my $fresh = $node->background_psql('postgres');
my ($fpid) = $fresh->query_safe('SELECT pg_backend_pid()');
is(proc_status("/proc/$fpid/status")->{Threads}, '1', 'a backend that never scanned has one thread');
$fresh->quit;

# ---------------------------------------------------------------- clean exit
my $log_offset = -s $node->logfile;
my $ok = 0;
for my $i (1 .. 20)
{
	my ($rc, $out) = $node->psql('postgres', 'SELECT count(*) FROM live.tasks');
	$ok++ if $rc == 0 && $out eq '21';
}
is($ok, 20, '20 sessions scanned and disconnected');
$node->safe_psql('postgres', 'SELECT 1');	# one more round trip: their exits are logged by now
ok(!$node->log_contains(qr/terminated by signal|server process .* was terminated|PANIC|TRAP/, $log_offset),
   'no backend was terminated abnormally');
is($node->safe_psql('postgres', 'SELECT count(*) > 0 FROM pg_stat_activity'), 't', 'the server is up');

# ---------------------------------------------------------------- reply cache
# Unfiltered scans (an empty GetTaskEventsRequest, like CheckAlive's) and
# filtered ones (a non-empty request), each in a fresh session.
for my $c ([ 'cached', 1, '' ], [ 'live', 2, '' ],
		   [ 'cached', 1, "WHERE state = 'FINISHED'" ], [ 'live', 2, "WHERE state = 'FINISHED'" ])
{
	my ($schema, $calls, $where) = @$c;
	my $label = "$schema" . ($where ? ' (filtered)' : ' (unfiltered)');
	my $n = $where ? 20 : 21;
	$sim->clear_requests;
	my ($rc, $out, $err) = $node->psql('postgres', qq{
		SELECT count(*) FROM $schema.tasks $where;
		SELECT from_cache FROM raydar.last_scan();
		SELECT count(*) FROM $schema.tasks $where;
		SELECT from_cache FROM raydar.last_scan();});
	is($rc, 0, "$label: two scans in one session") or diag($err);
	is($out, "$n\nf\n$n\n" . ($calls == 1 ? 't' : 'f'),
	   "$label: right counts, from_cache " . ($calls == 1 ? 'true' : 'false') . ' for the second scan');
	is(scalar @{ $sim->requests_for('GetTaskEvents') }, $calls,
	   "$label: $calls GetTaskEvents request(s) for two identical scans");
}

# ---------------------------------------------------------------- row estimates
my $csim = RaySim->new(profile => '2.40', scenario => 'classic', speed => 0, name => 'resources_classic');
$csim->admin('POST', '/advance', { ms => 120000 });
my $caddr = $csim->address;
$node->safe_psql('postgres', qq{
	CREATE SERVER est FOREIGN DATA WRAPPER raydar OPTIONS (address '$caddr');
	CREATE SCHEMA est;
	IMPORT FOREIGN SCHEMA ray FROM SERVER est INTO est;});
my (undef, $plans) = $node->psql('postgres', q{
	EXPLAIN SELECT * FROM est.tasks;
	\echo ==
	SELECT count(*) FROM est.tasks;
	\echo ==
	EXPLAIN SELECT * FROM est.tasks;});
my ($before, $count, $after) = split /^==\n/m, $plans;
my ($rows_before) = ($before // '') =~ /rows=(\d+)/;
my ($rows_after) = ($after // '') =~ /rows=(\d+)/;
chomp($count);
cmp_ok($count, '>', 100, "classic: $count task attempts");
is($rows_before, 1000, 'a never-scanned server is estimated at the default 1000 rows');
is($rows_after, $count, 'after a full scan the estimate is the count just returned');

$s->quit;
ok($sim->alive && $csim->alive, 'the simulators survived');
$csim->stop;
$sim->stop;
$node->stop;
ok(!$node->log_contains(qr/terminated by signal|server process .* was terminated/),
   'no backend crashed, also at shutdown');
done_testing();
