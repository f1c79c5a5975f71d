# PushFeed.pm
#	The simulator with its aggregator agents (test/raysim/raysim.py
#	--aggregator: Ray's Event Export, test/raysim/raysim/push_feed.py)
#	pushing to raydar's receiver, for the push TAP tests.
#
#	my $info = PushFeed::start($tmp, 'classic', 'tag', { url => $url });
#	my $cport = $info->{aggregator_control_port};
#	my $st = PushFeed::wait_pushed($cport);    # every event acknowledged
#	my $exp = PushFeed::control($cport, 'GET', '/expected');
#
#	Every simulator started here is stopped in an END block.
package PushFeed;

use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Utils qw(slurp_file);

my $script = abs_path(dirname(__FILE__) . '/../raysim/raysim.py');
my @sims;
END { kill 'TERM', $_ for @sims; }

# The simulator playing scenario, its aggregator configured by agg (url,
# keys, ...); logs and port file under dir/tag.*. Returns its ports.
sub start
{
	my ($dir, $scenario, $tag, $agg) = @_;
	my $pf = "$dir/$tag.ports";
	my $h = IPC::Run::start([ '/usr/bin/python3', $script, '--port', '0',
		'--admin-port', '0', '--port-file', $pf, '--scenario', $scenario, '--speed', '20',
		'--aggregator', encode_json($agg) ], '>', "$dir/$tag.log", '2>&1');
	push @sims, $h->{KIDS}[0]{PID};
	for (1 .. 300) { last if -s $pf; select(undef, undef, undef, 0.1); }
	die "the simulator for $tag did not start (see $dir/$tag.log)" unless -s $pf;
	return decode_json(slurp_file($pf));
}

# A request to the aggregator's control port; its JSON answer.
sub control
{
	my ($cport, $method, $path, $body) = @_;
	my $out = '';
	my @cmd = ('curl', '-s', '-X', $method, "http://127.0.0.1:$cport$path");
	push @cmd, '-d', encode_json($body) if $body;
	IPC::Run::run(\@cmd, '>', \$out);
	return decode_json($out);
}

# Until the feed has released events and every one is acknowledged (at
# most 5 minutes); its last /stats.
sub wait_pushed
{
	my ($cport) = @_;
	my $st = {};
	for (1 .. 1500)
	{
		$st = control($cport, 'GET', '/stats');
		last if $st->{idle} && $st->{released} > 0 && $st->{pending} == 0;
		select(undef, undef, undef, 0.2);
	}
	return $st;
}

1;
