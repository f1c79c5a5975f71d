# 045_fdw_server_changes.pl
#	A session's channel follows its server and user mapping: after ALTER
#	SERVER (new address) or ALTER USER MAPPING (new token), the very next
#	query in the same session uses them, and the new server's version is
#	learnt again.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RaySim;
use Test::More;

# The wire vectors are fixtures in the repository; RAYDAR_VECTORS overrides.
my $vectors = $ENV{RAYDAR_VECTORS} || "$FindBin::RealBin/../fixtures/ray-wire";
my $old = RaySim->new(replay => "$vectors/ray-2.40", name => 'old');
my $new = RaySim->new(replay => "$vectors/ray-master", name => 'new', token => 's3cret');

my $node = PostgreSQL::Test::Cluster->new('changes');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'raydar'\ntimezone = 'UTC'");
$node->start;
$node->safe_psql('postgres', sprintf(q{
	CREATE EXTENSION raydar;
	CREATE SERVER ray FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:%d');
	CREATE USER MAPPING FOR CURRENT_USER SERVER ray OPTIONS (token 'wrong');
	CREATE SCHEMA live;
	IMPORT FOREIGN SCHEMA ray LIMIT TO (tasks) FROM SERVER ray INTO live;}, $old->grpc_port));

# One session throughout. The vectors carry dropped-event counters, so
# scans print a WARNING: only an ERROR fails a statement here.
my $s = $node->background_psql('postgres', on_error_stop => 0);
my $q = sub {
	my ($out, $err) = RaySim::session_query($s, $_[0]);
	die "query failed: $_[0]: $err" if $err =~ /ERROR/;
	return $out;
};
my $count = sub { $q->('SELECT count(*) FROM live.tasks') };
my $gte = sub { scalar grep { $_->{method} =~ /GetTaskEvents/ } @{ $_[0]->requests } };

is($count->(), '16', 'first query reaches the 2.40 simulator');
like($q->('EXPLAIN (VERBOSE) SELECT task_id FROM live.tasks'),
	 qr/Ray Version: 2\.40\.0/, 'version 2.40.0 learnt');
is($gte->($old), 1, 'the old simulator served it');

$q->(sprintf(q{ALTER SERVER ray OPTIONS (SET address '127.0.0.1:%d')}, $new->grpc_port));
# The new simulator requires a token the mapping does not have yet: the
# refusal proves the query went to the new address.
my ($out, $err) = RaySim::session_query($s, 'SELECT count(*) FROM live.tasks');
like($err, qr/Ray GCS at 127\.0\.0\.1:\d+ refused raydar's credentials: the token is wrong/,
	 'after ALTER SERVER the same session calls the new address (which wants another token)');

$q->(q{ALTER USER MAPPING FOR CURRENT_USER SERVER ray OPTIONS (SET token 's3cret')});
is($count->(), '16', 'after ALTER USER MAPPING the same session gets rows');
like($q->('EXPLAIN (VERBOSE) SELECT task_id FROM live.tasks'),
	 qr/Ray Version: 3\.0\.0\.dev0/, 'the new server\'s version was learnt again');
is($gte->($old), 1, 'the old simulator got nothing more');
cmp_ok($gte->($new), '>=', 1, 'the new simulator served the session');
my @auth = grep { ($_->{metadata}{authorization} // '') eq 'Bearer s3cret' } @{ $new->requests };
cmp_ok(scalar @auth, '>=', 1, 'with the new token');

$s->quit;
$node->stop;
done_testing();
