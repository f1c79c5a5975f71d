# 173_push_maintenance.pl
#	The merger's own periodic maintenance (maintain() in event_merge.c,
#	once a minute), not the SQL function that shares its code: an attempt
#	stored in history and quiet for raydar.event_receiver_retention keeps
#	only its key, a resend of its events is then skipped and counted as
#	duplicates (history untouched), and raydar.event_rejects keeps only the
#	newest raydar.event_rejects_max rejects. Waits for the minute once.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $repo = "$FindBin::RealBin/../..";
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $node = PostgreSQL::Test::Cluster->new('push_maint');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'raydar'
raydar.database = 'push'
raydar.event_receiver_listen = '127.0.0.1:$port'
raydar.event_receiver_retention = '60s'
raydar.event_rejects_max = 3
timezone = 'UTC'
});
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE push');
$node->safe_psql('push', q{CREATE EXTENSION raydar; SELECT raydar.receive_events('m');});
my $url = "http://127.0.0.1:$port/events/m";

sub push_load
{
	my ($out, $err) = ('', '');
	IPC::Run::run([ '/usr/bin/python3', "$repo/test/raysim/push_load.py", '--url', $url, '--attempts', 500,
		'--nodes', 2, '--seed', 5, '--timeout', 120 ], '>', \$out, '2>', \$err);
	my $res = eval { decode_json((split /\n/, $out)[-1] // '{}') } // {};
	diag($err) if !$res->{complete};
	return $res;
}

sub post_junk
{
	my ($i) = @_;
	my $code = '';
	IPC::Run::run([ 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'POST',
		'--data-binary', "not json $i", $url ], '>', \$code);
	return $code;
}

sub drained
{
	$node->poll_query_until('push', 'SELECT count(*) = 0 FROM raydar.event_spool')
	  or diag('the merger did not drain the spool');
}

my $first = push_load();
ok($first->{complete} && $first->{acked_events} == $first->{events}, "$first->{events} events of 500 attempts acknowledged");
$node->poll_query_until('push', q{SELECT count(*) = 500 FROM raydar.task_history WHERE cluster = 'm'});
drained();
is(join(',', map { post_junk($_) } 1 .. 5), '200,200,200,200,200', 'five bodies that are not JSON: answered 200');
drained();

my $history = q{SELECT count(*) || ' ' || count(DISTINCT (task_id, attempt_number)) || ' ' || sum(xmin::text::bigint)
	FROM raydar.task_history WHERE cluster = 'm'};
my $before = $node->safe_psql('push', $history);
like($before, qr/^500 500 \d+$/, 'all 500 attempts in history, each once');
is($node->safe_psql('push', q{SELECT count(*) FILTER (WHERE NOT expired AND in_history AND octet_length(events) > 0)
	FROM raydar.event_attempts WHERE cluster = 'm'}), '500', 'each attempt keeps its merged events for the retention');

# Quiet for two minutes, as far as the retention of 60 s can tell; the next
# maintenance (within a minute) expires them.
$node->safe_psql('push', q{UPDATE raydar.event_attempts SET updated_at = updated_at - interval '2 minutes' WHERE cluster = 'm'});
ok($node->poll_query_until('push', q{SELECT bool_and(expired) FROM raydar.event_attempts WHERE cluster = 'm'}),
   "the merger's maintenance expired the quiet attempts");
is($node->safe_psql('push', q{SELECT count(*) || ' ' || sum(octet_length(events) + octet_length(event_ids))
	FROM raydar.event_attempts WHERE cluster = 'm' AND expired}), '500 0', 'all 500 keep only their keys');
is($node->safe_psql('push', q{SELECT count(*) FROM raydar.event_rejects WHERE cluster = 'm'}), '3',
   'event_rejects keeps the newest raydar.event_rejects_max (3 of 5)');

# Ray resends everything (at least once): nothing is merged into the expired
# attempts, every task event is a duplicate, history is untouched.
my $dups = q{SELECT sum(duplicates) FROM raydar.event_receiver_nodes WHERE cluster = 'm'};
my $dup0 = $node->safe_psql('push', $dups);
my $again = push_load();
ok($again->{complete} && $again->{acked_events} == $again->{events}, 'the same events resent and acknowledged');
drained();
is($node->safe_psql('push', $dups) - $dup0, $again->{events}, "all $again->{events} resent events counted as duplicates");
is($node->safe_psql('push', $history), $before, 'history untouched: the same 500 rows, not rewritten');
is($node->safe_psql('push', q{SELECT count(*) FROM raydar.task_live WHERE cluster = 'm'}), '0', 'nothing live');

unlike(slurp_file($node->logfile), qr/raydar event merger: maintenance failed|terminated by signal/,
	   'the maintenance ran without an error');
done_testing();
