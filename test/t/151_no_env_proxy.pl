# 151_no_env_proxy.pl
#	A bearer token never goes to a proxy nobody configured for the server:
#	with http_proxy, https_proxy and all_proxy set in the postmaster's
#	environment, a dashboard scan with a token connects straight to the
#	dashboard and the "proxy" sees nothing; the server option proxy is the
#	one way through a proxy (which then sees the request).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use IO::Select;
use IO::Socket::INET;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RaySim;
use Test::More;

# A listener standing in for a proxy: it records what it is sent and
# answers 502, so a request through it fails visibly.
my $proxy = IO::Socket::INET->new(Listen => 5, LocalAddr => '127.0.0.1', LocalPort => 0,
								  Proto => 'tcp', ReuseAddr => 1) or die "listen: $!";
my $proxy_url = 'http://127.0.0.1:' . $proxy->sockport;

# Drain connections for up to $secs seconds; the bytes received.
sub proxy_saw
{
	my ($secs) = @_;
	my $got = '';
	my $sel = IO::Select->new($proxy);
	my $end = time() + $secs;
	while (time() < $end)
	{
		next unless $sel->can_read(0.2);
		my $c = $proxy->accept or next;
		$c->blocking(0);
		my $csel = IO::Select->new($c);
		while ($csel->can_read(1))
		{
			my $n = sysread($c, my $buf, 65536);
			last unless $n;
			$got .= $buf;
			last if $got =~ /\r\n\r\n/;
		}
		print $c "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
		close $c;
	}
	return $got;
}

my $sim = RaySim->new(profile => 'master', scenario => 'mixed', dashboard => 1, speed => 0,
					  token => 'sekret-token-42', name => 'no_env_proxy');
local $ENV{http_proxy} = $proxy_url;
local $ENV{HTTP_PROXY} = $proxy_url;
local $ENV{https_proxy} = $proxy_url;
local $ENV{all_proxy} = $proxy_url;
local $ENV{no_proxy} = '';
my $node = PostgreSQL::Test::Cluster->new('no_env_proxy');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', "raydar.collector = off");
$node->start;
my $url = $sim->dashboard_url;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION raydar;
	CREATE SERVER dash FOREIGN DATA WRAPPER raydar OPTIONS (dashboard_url '$url');
	CREATE USER MAPPING FOR CURRENT_USER SERVER dash OPTIONS (token 'sekret-token-42');
	CREATE SCHEMA dash;
	IMPORT FOREIGN SCHEMA ray FROM SERVER dash INTO dash;});

my ($ret, $out, $err) = $node->psql('postgres', 'SELECT count(*) > 0 FROM dash.tasks');
is("$ret|$out", '0|t', 'with http_proxy in the postmaster\'s environment the dashboard scan works, directly');
is(proxy_saw(1), '', 'the environment\'s proxy received nothing, so never the token');

# The proxy option is the way through a proxy: this one answers 502.
$node->safe_psql('postgres', "ALTER SERVER dash OPTIONS (ADD proxy '$proxy_url')");
my $bg = $node->background_psql('postgres', on_error_stop => 0);
$bg->query_until(qr/sent/, "\\echo sent\nSELECT count(*) FROM dash.tasks;\n");
my $seen = proxy_saw(3);
like($seen, qr{^GET http://127\.0\.0\.1:\d+/api/}, 'with the proxy option the request goes to that proxy');
$bg->quit;

$node->stop;
$sim->stop;
done_testing();
