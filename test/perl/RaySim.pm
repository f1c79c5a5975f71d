# RaySim.pm
#	Start and drive the Ray GCS simulator (test/raysim/raysim.py, see
#	docs/simulator.md) from raydar's TAP tests.
#
#	my $sim = RaySim->new(profile => '2.49', scenario => 'mixed', speed => 0);
#	$sim->grpc_port;                       # give this to CREATE SERVER
#	$sim->fault(mode => 'slow', delay_ms => 3000);
#	my $reqs = $sim->requests;             # GET /requests
#	RaySim->new(dashboard => 1, tls => 1)  # + HTTPS State API (see new)
#	$sim->dashboard_url;                   # https://127.0.0.1:PORT
#	$sim->tls_ca;                          # CA file that verifies it
#	$sim->alive;                           # the process still runs
#	$sim->stop;
#
#	Every simulator started here is stopped in an END block, also when a
#	test dies. Session helpers for PostgreSQL::Test::BackgroundPsql are at
#	the bottom (query returning stdout and stderr of that query only).
package RaySim;

use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use JSON::PP;
use POSIX qw(WNOHANG);
use Time::HiRes qw(usleep time);

our $PYTHON = '/usr/bin/python3';
our $SCRIPT = abs_path(dirname(__FILE__) . '/../raysim/raysim.py');

my %running;	# pid => object, for the END block
my $seq = 0;

# Options: profile, scenario, scenario_params (hashref), seed, epoch_ms,
# speed, token, replay, max_tasks, vectors, name (for the log file),
# timeout (s to wait for the port file; 20).
# Dashboard HTTP API: dashboard => 1 (any free port), dashboard_max_requests,
# tls => 1 (HTTPS with certificates made by `raysim.py make-certs` in the
# simulator's temp dir; tls_ca / tls_other_ca give the CA files) or
# tls => { cert => F, key => F } (own files; implies dashboard).
sub new
{
	my ($class, %o) = @_;
	my $dir = tempdir('raysim_XXXXXX', TMPDIR => 1, CLEANUP => 1);
	my $pf = "$dir/ports.json";
	my @cmd = ($PYTHON, $SCRIPT, '--port', '0', '--admin-port', '0', '--port-file', $pf);
	my %flag = (profile => '--profile', scenario => '--scenario', seed => '--seed',
		epoch_ms => '--epoch-ms', speed => '--speed', token => '--token',
		replay => '--replay', max_tasks => '--max-tasks', vectors => '--vectors');
	for my $k (sort keys %flag)
	{
		push @cmd, $flag{$k}, "$o{$k}" if defined $o{$k};
	}
	push @cmd, '--scenario-params', JSON::PP->new->canonical->encode($o{scenario_params})
	  if $o{scenario_params};
	my %tls;
	if (ref $o{tls})
	{
		%tls = %{ $o{tls} };
	}
	elsif ($o{tls})
	{
		my $out = `$PYTHON $SCRIPT make-certs --dir $dir/certs`;
		die "raysim make-certs failed: $out" if $? != 0;
		%tls = %{ decode_json($out) };
	}
	push @cmd, '--dashboard-port', '0' if $o{dashboard} || %tls;
	push @cmd, '--dashboard-max-requests', "$o{dashboard_max_requests}"
	  if defined $o{dashboard_max_requests};
	push @cmd, '--tls-cert', $tls{cert}, '--tls-key', $tls{key} if %tls;
	# metrics => {...}: per-node Prometheus endpoints (raysim/metrics_endpoint.py)
	push @cmd, '--metrics', JSON::PP->new->canonical->encode($o{metrics}) if $o{metrics};
	# aggregator => {...}: push Ray's Event Export (raysim/push_feed.py); {} waits for a url
	push @cmd, '--aggregator', JSON::PP->new->canonical->encode($o{aggregator}) if $o{aggregator};

	my $logdir = do { no warnings 'once'; $PostgreSQL::Test::Utils::log_path } // $dir;
	my $name = $o{name} // 'raysim';
	my $log = sprintf('%s/%s_%d_%d.log', $logdir, $name, $$, ++$seq);

	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		open(STDOUT, '>>', $log) or POSIX::_exit(127);
		open(STDERR, '>>', $log) or POSIX::_exit(127);
		exec(@cmd) or POSIX::_exit(127);
	}
	my $self = bless { pid => $pid, dir => $dir, log => $log, cmd => \@cmd, tls => \%tls,
		http => HTTP::Tiny->new(timeout => 30), exited => undef }, $class;
	$running{$pid} = $self;

	my $deadline = time() + ($o{timeout} // 20);
	while (!-s $pf)
	{
		if (!$self->alive)
		{
			my $out = -r $log ? _slurp($log) : '';
			die "raysim exited before listening (status $self->{exited}): @cmd\n$out";
		}
		if (time() > $deadline)
		{
			$self->stop;
			die "raysim did not write its port file within the timeout: @cmd";
		}
		usleep(50_000);
	}
	my $info = decode_json(_slurp($pf));
	$self->{grpc_port} = $info->{grpc_port};
	$self->{admin_port} = $info->{admin_port};
	$self->{dashboard_port} = $info->{dashboard_port};
	$self->{dashboard_url} = $info->{dashboard_url};
	$self->{metrics_control_port} = $info->{metrics_control_port};
	$self->{aggregator_control_port} = $info->{aggregator_control_port};
	return $self;
}

sub _slurp
{
	my ($f) = @_;
	open(my $fh, '<', $f) or die "open $f: $!";
	local $/;
	my $s = <$fh>;
	close $fh;
	return $s;
}

sub grpc_port { $_[0]->{grpc_port} }
sub admin_port { $_[0]->{admin_port} }
sub pid { $_[0]->{pid} }
sub log_file { $_[0]->{log} }
sub address { '127.0.0.1:' . $_[0]->{grpc_port} }

# Dashboard HTTP State API (undef unless started with dashboard/tls).
sub dashboard_port { $_[0]->{dashboard_port} }
sub dashboard_url { $_[0]->{dashboard_url} }
sub tls_ca { $_[0]->{tls}{ca} }
sub tls_other_ca { $_[0]->{tls}{other_ca} }

# Every dashboard HTTP request received, in order (path, query pairs,
# authorization, status, fault).
sub http_requests { $_[0]->admin('GET', '/http_requests')->{requests} }

# The simulator's own output (stderr), e.g. a "Check failed" before abort.
sub log_content { -r $_[0]->{log} ? _slurp($_[0]->{log}) : '' }

# admin('GET', '/state') or admin('POST', '/fault', {mode => ...}): the
# decoded JSON answer. Dies on a transport error or a non-2xx status.
sub admin
{
	my ($self, $method, $path, $body) = @_;
	my %req = (headers => { 'Content-Type' => 'application/json' });
	$req{content} = encode_json($body // {}) if $method ne 'GET';
	my $r = $self->{http}->request($method, "http://127.0.0.1:$self->{admin_port}$path", \%req);
	die "raysim admin $method $path: $r->{status} $r->{reason} $r->{content}\n"
	  unless $r->{success};
	return decode_json($r->{content});
}

sub state { $_[0]->admin('GET', '/state') }

# Every gRPC request received, in order (arrayref of hashes: method,
# metadata, raw_hex, layout, limit, filters, simple, counters, outcome).
sub requests { $_[0]->admin('GET', '/requests')->{requests} }

# Only the requests to one method, by its short name (GetTaskEvents, CheckAlive).
sub requests_for
{
	my ($self, $short) = @_;
	return [ grep { $_->{method} =~ m{/\Q$short\E$} } @{ $self->requests } ];
}

sub clear_requests { $_[0]->admin('POST', '/requests/clear', {}) }

# fault(mode => 'slow', delay_ms => 3000, count => 1), fault('none').
sub fault
{
	my ($self, @a) = @_;
	my %spec = @a == 1 ? (mode => $a[0]) : @a;
	return $self->admin('POST', '/fault', \%spec);
}

sub restart
{
	my ($self, $down_ms) = @_;
	return $self->admin('POST', '/restart', { down_ms => $down_ms // 0 });
}

# True while the simulator process runs (not reaped, not a zombie).
sub alive
{
	my ($self) = @_;
	return 0 if defined $self->{exited};
	my $r = waitpid($self->{pid}, WNOHANG);
	if ($r == $self->{pid} || $r == -1)
	{
		$self->{exited} = $?;
		delete $running{ $self->{pid} };
		return 0;
	}
	return 1;
}

# Exit status as waitpid gave it (signal in the low 7 bits), or undef.
sub exit_status { $_[0]->alive ? undef : $_[0]->{exited} }

sub stop
{
	my ($self) = @_;
	return unless $self->alive;
	eval {
		local $self->{http} = HTTP::Tiny->new(timeout => 3);
		$self->admin('POST', '/shutdown', {});
	};
	for my $sig (0, 'TERM', 'KILL')
	{
		kill($sig, $self->{pid}) if $sig;
		my $deadline = time() + 3;
		while (time() < $deadline)
		{
			return unless $self->alive;
			usleep(20_000);
		}
	}
}

sub DESTROY
{
	my ($self) = @_;
	local ($?, $@, $!);
	# No HTTP here (global destruction): the END block already asked nicely.
	if ($self->{pid} && !defined $self->{exited} && kill(0, $self->{pid}))
	{
		kill('KILL', $self->{pid});
		waitpid($self->{pid}, 0);
	}
}

END
{
	local $?;
	$_->stop for values %running;
}

# ----------------------------------------------------------------------
# Session helpers (PostgreSQL::Test::BackgroundPsql started with
# on_error_stop => 0): run one statement, return (stdout, stderr) of that
# statement only. The stock query() keeps stderr across statements.
# ----------------------------------------------------------------------
sub session_query
{
	my ($session, $sql) = @_;
	my $out = $session->query($sql);
	my $err = $session->{stderr};
	$session->{stderr} = '';
	return ($out, $err);
}

1;
