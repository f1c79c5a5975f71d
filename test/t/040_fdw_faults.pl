# 040_fdw_faults.pl
#	What a user sees when Ray misbehaves: an unreachable GCS, a slow one
#	(timeout_ms, statement_timeout, pg_cancel_backend), a token-protected
#	one, a GCS restart (with and without down time), malformed replies and
#	a GCS status error. Every failure is an ERROR with the documented
#	wording (src/connection.c, report_call_error), arrives promptly, and
#	leaves the session usable; no backend ever crashes.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use IO::Socket::INET;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RaySim;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = PostgreSQL::Test::Cluster->new('fdw_faults');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'raydar'\ntimezone = 'UTC'");
$node->start;

# 'many' with 50 tasks: everything already reported and FINISHED.
my $sim = RaySim->new(profile => '2.49', scenario => 'many', scenario_params => { count => 50 },
					  name => 'faults');
my $addr = $sim->address;

# A port nothing listens on: bind one, note it, close it.
my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1)
  or die "socket: $!";
my $closed_port = $sock->sockport;
close $sock;

$node->safe_psql('postgres', qq{
	CREATE EXTENSION raydar;
	CREATE SERVER ray FOREIGN DATA WRAPPER raydar OPTIONS (address '$addr', connect_timeout_ms '1000');
	CREATE SCHEMA live;
	IMPORT FOREIGN SCHEMA ray FROM SERVER ray INTO live;
	CREATE SERVER dead FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:$closed_port');
	CREATE SCHEMA dead;
	IMPORT FOREIGN SCHEMA ray FROM SERVER dead INTO dead;
	CREATE SERVER slow FOREIGN DATA WRAPPER raydar
	  OPTIONS (address '$addr', timeout_ms '500', ray_version '2.49.2');
	CREATE SCHEMA slow;
	IMPORT FOREIGN SCHEMA ray FROM SERVER slow INTO slow;
	CREATE SERVER patient FOREIGN DATA WRAPPER raydar OPTIONS (address '$addr', ray_version '2.49.2');
	CREATE SCHEMA patient;
	IMPORT FOREIGN SCHEMA ray FROM SERVER patient INTO patient;
	CREATE SERVER versionless FOREIGN DATA WRAPPER raydar OPTIONS (address '$addr');
	CREATE SCHEMA versionless;
	IMPORT FOREIGN SCHEMA ray FROM SERVER versionless INTO versionless;});

my $s = $node->background_psql('postgres', on_error_stop => 0);

# Run one statement in the long-lived session: (stdout, stderr, seconds).
sub sq
{
	my ($sql) = @_;
	my $t0 = time();
	my ($out, $err) = RaySim::session_query($s, $sql);
	return ($out, $err, time() - $t0);
}

sub session_usable
{
	my ($label) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($out, $err) = sq('SELECT 42');
	ok($out eq '42' && $err eq '', "$label: the session is still usable");
}

my ($out, $err, $secs);

($out, $err) = sq('SELECT count(*) FROM live.tasks');
is($out, '51', 'healthy: 50 tasks and the driver');

# ---------------------------------------------------------------- unreachable
($out, $err, $secs) = sq('SELECT count(*) FROM dead.tasks');
like($err, qr/ERROR:  could not connect to Ray GCS at 127\.0\.0\.1:$closed_port \(server "dead"\)/,
	 'unreachable: could not connect, with address and server');
like($err, qr/HINT:  .*6379.*dashboard's 8265/, 'unreachable: the hint names the GCS port');
cmp_ok($secs, '<', 5, "unreachable: fails fast (${\ sprintf('%.2f', $secs)} s)");
session_usable('unreachable');

# ---------------------------------------------------------------- slow
$sim->fault(mode => 'slow', delay_ms => 3000);
($out, $err, $secs) = sq('SELECT count(*) FROM slow.tasks');
like($err, qr/ERROR:  Ray GCS at \Q$addr\E did not answer in time \(server "slow"\)/,
	 'slow + timeout_ms 500: a timeout error');
like($err, qr/HINT:  .*timeout_ms \(500\)/, 'slow: the hint names timeout_ms and its value');
cmp_ok($secs, '<', 1.5, sprintf('slow: the error came after the 500 ms deadline (%.2f s)', $secs));
cmp_ok($secs, '>=', 0.45, 'slow: not before the deadline');
session_usable('timeout_ms');

($out, $err, $secs) = sq("SET statement_timeout = '300ms'; SELECT count(*) FROM patient.tasks");
like($err, qr/ERROR:  canceling statement due to statement timeout/, 'statement_timeout cancels a slow call');
cmp_ok($secs, '<', 1.5, sprintf('statement_timeout: promptly (%.2f s for 300 ms)', $secs));
sq('RESET statement_timeout');
session_usable('statement_timeout');

# pg_cancel_backend from a second session during a slow call.
my ($pid) = sq('SELECT pg_backend_pid()');
$s->{stdin} .= "SELECT count(*) FROM patient.tasks;\n\\echo CANCEL_DONE\n\\warn CANCEL_DONE\n";
$s->{run}->pump_nb;
my $seen = $node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE pid = $pid AND state = 'active' AND query LIKE '%patient.tasks%'");
ok($seen, 'cancel: the slow scan is running');
usleep(300_000);
my $t_cancel = time();
is($node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)"), 't', 'cancel: pg_cancel_backend sent');
pump_until($s->{run}, $s->{timeout}, \$s->{stderr}, qr/CANCEL_DONE/);
my $cancel_secs = time() - $t_cancel;
like($s->{stderr}, qr/ERROR:  canceling statement due to user request/, 'cancel: canceling statement due to user request');
cmp_ok($cancel_secs, '<', 1.5, sprintf('cancel: promptly (%.2f s after the cancel)', $cancel_secs));
pump_until($s->{run}, $s->{timeout}, \$s->{stdout}, qr/CANCEL_DONE/);
$s->{stdout} = '';
$s->{stderr} = '';
session_usable('pg_cancel_backend');
$sim->fault('none');
sleep(3);	# let the simulator's sleeping handlers drain

($out, $err) = sq('SELECT count(*) FROM patient.tasks');
is("$out|$err", '51|', 'after the slow fault, the same servers answer again');
($out, $err) = sq('SELECT count(*) FROM slow.tasks');
is("$out|$err", '51|', 'the server whose call timed out answers again');

# ---------------------------------------------------------------- restart
$sim->restart(0);
($out, $err) = sq('SELECT count(*) FROM live.tasks');
is("$out|$err", '0|', 'restart: the next scan succeeds, the task events are gone');

$sim->admin('POST', '/scenario', { name => 'many', params => { count => 50 } });
$sim->restart(3000);
my $t_down = time();
($out, $err) = sq('SELECT count(*) FROM live.tasks');
like($err, qr/ERROR:  could not connect to Ray GCS at \Q$addr\E \(server "ray"\)/,
	 'restart with down time: a scan during it gets the connect error');
ok(time() - $t_down < 3, 'restart: that scan was during the down time');
my $up = 0;
for (1 .. 100)
{
	$up = eval { $sim->state->{grpc_up} } and last;
	usleep(100_000);
}
ok($up, 'restart: the simulator is up again');
($out, $err) = sq('SELECT count(*) FROM live.tasks');
is("$out|$err", '0|', 'restart: the SAME session scans again once the GCS is back (channel rebuilt)');

# ---------------------------------------------------------------- auth
my $asim = RaySim->new(profile => '2.58', scenario => 'many', scenario_params => { count => 5 },
					   token => 's3cret', name => 'faults_auth');
my $aaddr = $asim->address;
sq(qq{CREATE SERVER authsrv FOREIGN DATA WRAPPER raydar OPTIONS (address '$aaddr');
	CREATE SCHEMA auth; IMPORT FOREIGN SCHEMA ray FROM SERVER authsrv INTO auth});
($out, $err) = sq('SELECT count(*) FROM auth.tasks');
like($err, qr/ERROR:  Ray GCS at \Q$aaddr\E refused raydar's credentials: the token is missing/,
	 'auth: no user mapping: the token is missing');
like($err, qr/HINT:  .*CREATE USER MAPPING FOR CURRENT_USER SERVER authsrv OPTIONS \(token '\.\.\.'\)/,
	 'auth: the hint shows the user mapping to create');
like($err, qr/DETAIL:  Ray said: .*InvalidAuthToken/, "auth: Ray's words in the detail");
session_usable('missing token');

sq(q{CREATE USER MAPPING FOR CURRENT_USER SERVER authsrv OPTIONS (token 'wrong')});
($out, $err) = sq('SELECT count(*) FROM auth.tasks');
like($err, qr/ERROR:  Ray GCS at \Q$aaddr\E refused raydar's credentials: the token is wrong/,
	 'auth: a wrong token: the token is wrong');
session_usable('wrong token');

sq(q{ALTER USER MAPPING FOR CURRENT_USER SERVER authsrv OPTIONS (SET token 's3cret')});
$asim->clear_requests;
($out, $err) = sq('SELECT count(*) FROM auth.tasks');
is("$out|$err", '6|', 'auth: the right token gives rows (in the same session)');
my @authreq = @{ $asim->requests };
ok(@authreq && !grep({ ($_->{metadata}{authorization} // '') ne 'Bearer s3cret' } @authreq),
   'auth: every call carried authorization: Bearer s3cret');

sq('CREATE ROLE alice LOGIN');
($out, $err) = sq(q{SET ROLE alice;
	SELECT count(*), count(umoptions) FROM pg_user_mappings WHERE srvname = 'authsrv'});
is("$out|$err", '1|0|', 'auth: a role without USAGE sees the mapping but not its token (umoptions NULL)');
sq('RESET ROLE');
($out) = sq(q{SELECT umoptions FROM pg_user_mappings WHERE srvname = 'authsrv'});
is($out, '{token=s3cret}', 'auth: the owner (superuser) does see it');
$asim->stop;

# ---------------------------------------------------------------- malformed
for my $kind (qw(truncated garbage oversized_length))
{
	$sim->admin('POST', '/scenario', { name => 'many', params => { count => 20 } });
	$sim->fault(mode => 'malformed', kind => $kind, count => 1);
	($out, $err) = sq('SELECT count(*) FROM patient.tasks');
	# Decoding errors are worded by convert.c: "Ray sent a reply raydar
	# cannot read while decoding ..."; transport ones by connection.c.
	like($err, qr/ERROR:  Ray (?:GCS at \Q$addr\E )?sent a reply raydar cannot read/,
		 "malformed $kind: sent a reply raydar cannot read");
	like($err, qr/DETAIL:  .*malformed|DETAIL:  .*not a valid/i, "malformed $kind: the detail says why");
	session_usable("malformed $kind");
	($out, $err) = sq('SELECT count(*) FROM patient.tasks');
	is("$out|$err", '21|', "malformed $kind: the next (good) reply is read");
}
# The same on CheckAlive, where the version is learnt (a fresh session).
$sim->fault(mode => 'malformed', kind => 'garbage', count => 1);
my ($rc, $o2, $e2) = $node->psql('postgres', 'SELECT count(*) FROM versionless.tasks');
like($e2, qr/ERROR:  could not learn the Ray version of \Q$addr\E/,
	 'malformed CheckAlive reply: could not learn the Ray version');
like($e2, qr/HINT:  Set it with ALTER SERVER versionless OPTIONS \(ADD ray_version/,
	 'malformed CheckAlive reply: the hint says how to set ray_version');

# ---------------------------------------------------------------- gcs_status
$sim->fault(mode => 'gcs_status', code => 34, message => 'bad predicate', count => 1);
($out, $err) = sq('SELECT count(*) FROM patient.tasks');
like($err, qr/ERROR:  Ray GCS at \Q$addr\E answered GetTaskEvents with an error\nDETAIL:  Ray said: status 34: bad predicate\nHINT:  The GCS handled the call and refused it itself/,
	 'gcs_status 34: the method, then the status and its message, and what to look at');
session_usable('gcs_status');

$s->quit;
ok($sim->alive, 'the simulator survived');
$sim->stop;
ok(!$node->log_contains(qr/terminated by signal|server process .* was terminated/),
   'no backend was terminated by a signal');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is up');
$node->stop;
done_testing();
