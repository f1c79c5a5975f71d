# 086_collector_privileges.pl
#	Collect only what you may read: raydar.track() needs USAGE on the
#	server and a user mapping for the calling role, and the collector reads
#	the cluster with that role's mapping (its token), not the owner's; it
#	stops when the role loses USAGE. track() in a database the collector
#	does not serve is an error naming raydar.database.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RaySim;
use Test::More;

my $sim = RaySim->new(scenario => 'classic', scenario_params => { count => 10 }, speed => 0,
	token => 's3cret', name => 'privileges');
$sim->admin('POST', '/advance', { ms => 60000 });
my $node = PostgreSQL::Test::Cluster->new('privileges');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'raydar'
raydar.database = 'postgres'
raydar.poll_interval = '200ms'
timezone = 'UTC'
});
$node->start;
my $addr = $sim->address;
# The owner (the superuser) has the right token; alice will not at first.
$node->safe_psql('postgres', qq{
	CREATE EXTENSION raydar;
	CREATE SERVER ray FOREIGN DATA WRAPPER raydar OPTIONS (address '$addr');
	CREATE USER MAPPING FOR CURRENT_USER SERVER ray OPTIONS (token 's3cret');
	CREATE ROLE alice LOGIN IN ROLE raydar_admin;
	CREATE SCHEMA live;
	IMPORT FOREIGN SCHEMA ray LIMIT TO (tasks) FROM SERVER ray INTO live;
	CREATE DATABASE other;});
$node->safe_psql('other', qq{
	CREATE EXTENSION raydar;
	CREATE SERVER ray FOREIGN DATA WRAPPER raydar OPTIONS (address '$addr');
	CREATE USER MAPPING FOR CURRENT_USER SERVER ray;});
my $n = $node->safe_psql('postgres', q{SELECT count(*) FROM live.tasks WHERE state IN ('FINISHED', 'FAILED')});
cmp_ok($n, '>=', 10, "$n attempts to collect");

sub error_of
{
	my ($db, $sql, @as) = @_;
	my ($rc, $out, $err) = $node->psql($db, $sql, extra_params => [@as]);
	$err =~ s/^psql:<stdin>:\d+: //mg;
	return $err;
}

# The database the collector does not serve.
my $err = error_of('other', q{SELECT raydar.track('ray')});
like($err, qr/ERROR:  the raydar collector does not work in database other/, 'track() elsewhere is an error');
like($err, qr/DETAIL:  It works in database postgres \(the setting raydar\.database\)\./, 'naming the database it serves');
like($err, qr/HINT:  .*raydar\.database = 'other'/, 'and the setting to change');
is($node->safe_psql('other', 'SELECT count(*) FROM raydar.tracked_servers'), '0', 'nothing tracked there');

# No USAGE on the server.
$err = error_of('postgres', q{SELECT raydar.track('ray')}, '-U', 'alice');
like($err, qr/ERROR:  permission denied for foreign server ray/, 'without USAGE track() is refused');
like($err, qr/HINT:  GRANT USAGE ON FOREIGN SERVER ray TO alice;/, 'saying what to grant');

# USAGE, but no user mapping (the owner's does not count).
$node->safe_psql('postgres', 'GRANT USAGE ON FOREIGN SERVER ray TO alice');
$err = error_of('postgres', q{SELECT raydar.track('ray')}, '-U', 'alice');
like($err, qr/ERROR:  role alice has no user mapping for server ray/, 'without a user mapping track() is refused');
like($err, qr/HINT:  CREATE USER MAPPING FOR alice SERVER ray/, 'saying what to create');
is($node->safe_psql('postgres', 'SELECT count(*) FROM raydar.tracked_servers'), '0', 'nothing tracked');

# With a mapping whose token is wrong: the collector uses alice's mapping,
# so it fails, although the owner's token would work.
$node->safe_psql('postgres', q{CREATE USER MAPPING FOR alice SERVER ray OPTIONS (token 'wrong')});
$node->safe_psql('postgres', q{SELECT raydar.track('ray')}, extra_params => [ '-U', 'alice' ]);
is($node->safe_psql('postgres', 'SELECT tracked_by FROM raydar.tracked_servers'), 'alice', 'tracked by alice');
ok($node->poll_query_until('postgres', q{
	SELECT consecutive_failures >= 1 AND last_error LIKE '%token%' FROM raydar.collector_status}),
   'the collector reads with alice\'s mapping: her wrong token is refused by Ray');
is($node->safe_psql('postgres', 'SELECT count(*) FROM raydar.task_history'), '0',
   'nothing read through the owner\'s token');
$node->safe_psql('postgres', q{ALTER USER MAPPING FOR alice SERVER ray OPTIONS (SET token 's3cret')});
ok($node->poll_query_until('postgres', "SELECT count(*) = $n FROM raydar.task_history"),
   'with her token right, everything is collected');

# Losing USAGE stops the collection.
$node->safe_psql('postgres', 'REVOKE USAGE ON FOREIGN SERVER ray FROM alice');
ok($node->poll_query_until('postgres', q{
	SELECT consecutive_failures >= 1
	   AND last_error = 'role "alice" that tracked server "ray" no longer has USAGE on it' FROM raydar.collector_status}),
   'a role that lost USAGE stops the collection, saying why');

$node->stop;
done_testing();
