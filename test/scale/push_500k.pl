# push_500k.pl
#	Issue 17's scale case: 500,000 task attempts (five times Ray's 100,000
#	GCS cap) pushed by 4 simulated nodes through Ray's FEB26 aggregator
#	policy all end in task_history, each once. In the scale suite
#	(scripts/run-suites.sh): about two minutes here (docs/performance.md
#	"Push receiver" has the times). Run alone:
#	  make installcheck REGRESS= PROVE_TESTS=test/scale/push_500k.pl
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $repo = "$FindBin::RealBin/../..";
my $n = $ENV{PUSH_ATTEMPTS} // 500000;
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $node = PostgreSQL::Test::Cluster->new('push500k');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'raydar'
raydar.database = 'postgres'
raydar.event_receiver_listen = '127.0.0.1:$port'
timezone = 'UTC'
});
$node->start;
$node->safe_psql('postgres', q{CREATE EXTENSION raydar; SELECT raydar.receive_events('big');});
my ($out, $err) = ('', '');
IPC::Run::run([ '/usr/bin/python3', "$repo/test/raysim/push_load.py", '--url', "http://127.0.0.1:$port/events/big",
	'--attempts', $n, '--nodes', 4, '--timeout', 3000 ], '>', \$out, '2>', \$err);
my $r = eval { decode_json((split /\n/, $out)[-1]) } // {};
diag("push: $r->{elapsed_s} s, $r->{attempts_per_s} attempts/s, POST p99 $r->{latency_ms}{p99} ms");
ok($r->{complete} && $r->{acked_events} == $r->{events}, "every one of $r->{events} events acknowledged")
  or diag($err);
# Acknowledged is spooled: until the merger has drained the spool (at most 10 minutes).
my $t0 = time;
for (1 .. 1200)
{
	last if $node->safe_psql('postgres', 'SELECT count(*) FROM raydar.event_spool') eq '0';
	select(undef, undef, undef, 0.5);
}
diag(sprintf('drained %d s after the last acknowledgement', time - $t0));
is($node->safe_psql('postgres', q{SELECT count(*) || ' ' || count(DISTINCT (task_id, attempt_number)) FROM raydar.task_history WHERE cluster = 'big'}),
   "$n $n", "all $n attempts in task_history, each once");
is($node->safe_psql('postgres', q{SELECT count(*) FROM raydar.task_live WHERE cluster = 'big'}), '0', 'none left live');
is($node->safe_psql('postgres', q{SELECT count(*) FROM raydar.event_rejects}), '0', 'nothing rejected');
$node->stop;
done_testing();
