# 163_error_statuses.pl
#	Errors say the truth for each status the GCS answers with (issue 16):
#	- a handler's InvalidArgument (Ray status 34, gRPC OK: an unknown
#	  predicate, or 2.36-2.48's "Unexpected filter: state = N") is reported
#	  as the GCS refusing the request, with Ray's message;
#	- UNAUTHENTICATED (a wrong token, from 2.52; a wrong cluster id from
#	  2.52) says authentication; ABORTED (a wrong cluster id up to 2.51) is
#	  not reported as a token problem;
#	- before 2.52 a token is ignored by the GCS, so a wrong one still reads.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RaySim;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('statuses');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', "raydar.collector = off");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION raydar');

my %sim;
for my $p ('2.49', '2.58')
{
	(my $tag = $p) =~ s/\./_/;
	$sim{$p} = RaySim->new(profile => $p, scenario => 'mixed', speed => 0, token => 's3cret',
						   epoch_ms => 1_800_000_000_000, name => "st_$tag");
	my $addr = $sim{$p}->address;
	$node->safe_psql('postgres', qq{
		CREATE SERVER v$tag FOREIGN DATA WRAPPER raydar OPTIONS (address '$addr');
		CREATE USER MAPPING FOR CURRENT_USER SERVER v$tag OPTIONS (token 'wrong');
		CREATE SCHEMA v$tag;
		IMPORT FOREIGN SCHEMA ray LIMIT TO (tasks, nodes) FROM SERVER v$tag INTO v$tag;});
}

# Before 2.52 the GCS has no token auth: the wrong token is not even looked at.
my ($ret, $out, $err) = $node->psql('postgres', 'SELECT count(*) > 0 FROM v2_49.tasks');
is("$ret|$out", '0|t', '2.49 ignores the authorization header: the scan reads');

# From 2.52 a wrong token is UNAUTHENTICATED.
($ret, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM v2_58.tasks');
isnt($ret, 0, '2.58 refuses a wrong token');
like($err, qr/authenticat|token/i, '2.58: the error says authentication') or diag($err);
unlike($err, qr/could not connect/, '2.58: not reported as an unreachable GCS') or diag($err);
$node->safe_psql('postgres', 'ALTER USER MAPPING FOR CURRENT_USER SERVER v2_58 OPTIONS (SET token \'s3cret\')');
($ret, $out, $err) = $node->psql('postgres', 'SELECT count(*) > 0 FROM v2_58.tasks');
is("$ret|$out", '0|t', '2.58 with the right token reads');

# A wrong ray_cluster_id: ABORTED up to 2.51 ("AuthError: WrongClusterID").
# raydar never sends ray_cluster_id, so the status is injected.
$sim{'2.49'}->fault(mode => 'grpc_code', code => 'ABORTED', message => 'AuthError: WrongClusterID');
($ret, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM v2_49.tasks');
$sim{'2.49'}->fault('none');
isnt($ret, 0, 'ABORTED fails the scan');
like($err, qr/WrongClusterID/, 'ABORTED: Ray\'s message is shown') or diag($err);
unlike($err, qr/token/i, 'ABORTED: not blamed on the token') or diag($err);
$sim{'2.58'}->fault(mode => 'grpc_code', code => 'UNAUTHENTICATED', message => 'WrongClusterID');
($ret, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM v2_58.tasks');
$sim{'2.58'}->fault('none');
like($err, qr/WrongClusterID/, 'UNAUTHENTICATED for a wrong cluster id: Ray\'s message is shown') or diag($err);
unlike($err, qr/the token is wrong|RAY_AUTH_MODE=token/,
	   'UNAUTHENTICATED naming WrongClusterID: not blamed on the token') or diag($err);
like($err, qr/cluster id of another Ray cluster/, 'UNAUTHENTICATED naming WrongClusterID: says the cluster id')
  or diag($err);
like($err, qr/HINT:.*ray_cluster_id/s, 'UNAUTHENTICATED naming WrongClusterID: the hint says what to check')
  or diag($err);

# The same server's wrong token is still called a wrong token (the split
# above must not swallow it).
$node->safe_psql('postgres', 'ALTER USER MAPPING FOR CURRENT_USER SERVER v2_58 OPTIONS (SET token \'wrong\')');
($ret, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM v2_58.tasks');
like($err, qr/the token is wrong/, 'UNAUTHENTICATED for a wrong token: still the token') or diag($err);
$node->safe_psql('postgres', 'ALTER USER MAPPING FOR CURRENT_USER SERVER v2_58 OPTIONS (SET token \'s3cret\')');

# Status 34 in the CheckAlive reply (version detection): the GCS's error.
$sim{'2.58'}->fault(mode => 'gcs_status', code => 34, message => 'Unknown filter predicate: ');
($ret, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM v2_58.tasks');
$sim{'2.58'}->fault('none');
isnt($ret, 0, 'status 34 in CheckAlive fails the scan');
like($err, qr/Unknown filter predicate/, 'status 34 in CheckAlive: Ray\'s message, not "carries no ray_version"')
  or diag($err);
like($err, qr/CheckAlive.*\bstatus 34\b/s, 'status 34 in CheckAlive: names the method and the status') or diag($err);
unlike($err, qr/carries no ray_version|could not learn/, 'status 34 in CheckAlive: not a missing version')
  or diag($err);

# Status 34 in GetTaskEvents only (the fault names the method).

# Status 34 (InvalidArgument) in a gRPC OK reply.
$sim{'2.58'}->fault(mode => 'gcs_status', code => 34, message => 'Unknown filter predicate: ',
					method => 'GetTaskEvents');
($ret, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM v2_58.tasks');
$sim{'2.58'}->fault('none');
isnt($ret, 0, 'status 34 fails the scan');
like($err, qr/Unknown filter predicate/, 'status 34: Ray\'s message is shown') or diag($err);
like($err, qr/\bstatus 34\b|InvalidArgument|invalid argument/i, 'status 34: named as Ray\'s InvalidArgument') or diag($err);
unlike($err, qr/could not connect|token/i, 'status 34: not a connection or token problem') or diag($err);

# The same through report.c: HV000 (fdw_error), a whole message naming the
# method, Ray's status and text as the DETAIL.
$sim{'2.58'}->fault(mode => 'gcs_status', code => 34, message => 'Unknown filter predicate: ',
					method => 'GetTaskEvents');
($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\nSELECT count(*) FROM v2_58.tasks");
$sim{'2.58'}->fault('none');
like($err, qr/ERROR:  HV000: Ray GCS at \S+ answered GetTaskEvents with an error\nDETAIL:  Ray said: status 34: Unknown filter predicate: \nHINT:  /,
	 'status 34: SQLSTATE HV000, the method in the message, the status in the detail') or diag($err);

$node->stop;
$_->stop for values %sim;
done_testing();
