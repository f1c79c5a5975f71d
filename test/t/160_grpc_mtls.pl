# 160_grpc_mtls.pl
#	Mutual TLS to the GCS (Ray's RAY_USE_TLS=1): the simulator's GCS port
#	speaks TLS only and requires a client certificate signed by its CA
#	(raysim POST /gcs {"tls"}). raydar presents client_cert_file /
#	client_key_file and verifies the GCS with ca_file; the same rows come
#	back as over plaintext. Without a certificate, with one from another CA,
#	with the wrong CA or in plaintext the scan fails and says so. The options
#	are superuser-only paths and go together.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use File::Temp qw(tempdir);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RaySim;
use Test::More;

# Certificates made here with openssl: a CA, the GCS's certificate for
# 127.0.0.1 (also usable as a client certificate, as Ray uses its server
# pair for its own clients), a client certificate, and an unrelated CA with
# a client certificate of its own.
my $d = tempdir('mtls_XXXXXX', TMPDIR => 1, CLEANUP => 1);
sub ossl
{
	my @cmd = ('openssl', @_);
	my $out = `cd $d && @cmd 2>&1`;
	die "openssl @_ failed: $out" if $? != 0;
}
for my $ca ('ca', 'other-ca')
{
	ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-keyout', "$ca.key",
		 '-out', "$ca.pem", '-subj', "/CN=raydar-test-$ca",
		 '-addext', 'basicConstraints=critical,CA:TRUE',
		 '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
}
sub signed
{
	my ($name, $ca, $ext) = @_;
	open(my $fh, '>', "$d/$name.ext") or die;
	print $fh $ext;
	close $fh;
	ossl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', "$name.key", '-out', "$name.csr",
		 '-subj', "/CN=$name");
	ossl('x509', '-req', '-in', "$name.csr", '-CA', "$ca.pem", '-CAkey', "$ca.key",
		 '-CAcreateserial', '-days', '2', '-out', "$name.pem", '-extfile', "$name.ext");
}
signed('server', 'ca', "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
	   . "extendedKeyUsage=serverAuth,clientAuth\n");
signed('client', 'ca', "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n");
signed('stranger', 'other-ca', "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n");
chmod 0644, glob("$d/*");

my $sim = RaySim->new(profile => 'master', scenario => 'mixed', speed => 0,
					  epoch_ms => 1_800_000_000_000, name => 'mtls');
$sim->admin('POST', '/advance', { ms => 3_600_000 });
my $addr = $sim->address;

my $node = PostgreSQL::Test::Cluster->new('mtls');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', "raydar.collector = off");
$node->start;

sub server
{
	my ($name, $opts) = @_;
	$node->safe_psql('postgres', qq{
		CREATE SERVER $name FOREIGN DATA WRAPPER raydar OPTIONS (address '$addr' $opts);
		CREATE USER MAPPING FOR CURRENT_USER SERVER $name;
		CREATE SCHEMA $name;
		IMPORT FOREIGN SCHEMA ray FROM SERVER $name INTO $name;});
}
$node->safe_psql('postgres', 'CREATE EXTENSION raydar');
server('plain', '');
server('mtls', ", ca_file '$d/ca.pem', client_cert_file '$d/client.pem', client_key_file '$d/client.key'");
server('nocert', ", ca_file '$d/ca.pem'");
server('stranger', ", ca_file '$d/ca.pem', client_cert_file '$d/stranger.pem', client_key_file '$d/stranger.key'");
server('wrongca', ", ca_file '$d/other-ca.pem', client_cert_file '$d/client.pem', client_key_file '$d/client.key'");
server('nofile', ", ca_file '$d/ca.pem', client_cert_file '$d/missing.pem', client_key_file '$d/client.key'");

my $q = q{SELECT count(*), count(DISTINCT task_id), string_agg(DISTINCT state, ',' ORDER BY state) FROM %s.tasks};
my $want = $node->safe_psql('postgres', sprintf($q, 'plain'));
my $actors = $node->safe_psql('postgres', 'SELECT count(*) FROM plain.actors');
is($want, '18|17|FAILED,FINISHED,PENDING_NODE_ASSIGNMENT,RUNNING', 'plaintext GCS: the mixed scenario');

# The GCS now requires mutual TLS.
$sim->admin('POST', '/gcs', { tls => { cert => "$d/server.pem", key => "$d/server.key", ca => "$d/ca.pem" } });
is($sim->state->{gcs_tls}, 1, 'the simulator\'s GCS speaks mutual TLS');

is($node->safe_psql('postgres', sprintf($q, 'mtls')), $want,
   'with ca_file, client_cert_file and client_key_file: the same tasks as over plaintext');
is($node->safe_psql('postgres', 'SELECT count(*) FROM mtls.actors'), $actors,
   'and the same actors (cluster methods over the same channel)');

for my $case ([ 'plain', 'plaintext to a TLS GCS', qr/connection refused or host unreachable \(or a GCS started with RAY_USE_TLS=1/ ],
			  [ 'nocert', 'TLS without a client certificate', qr/over TLS: .*the TLS handshake failed/ ],
			  [ 'stranger', 'a client certificate from another CA', qr/over TLS: .*the TLS handshake failed/ ],
			  [ 'wrongca', 'a ca_file that did not sign the GCS\'s certificate', qr/over TLS: .*the TLS handshake failed/ ])
{
	my ($s, $what, $detail) = @$case;
	my ($ret, $out, $err) = $node->psql('postgres', "SELECT count(*) FROM $s.tasks");
	isnt($ret, 0, "$what: the scan fails");
	like($err, qr/ERROR:  could not connect to Ray GCS at \Q$addr\E \(server "$s"\)/, "$what: the GCS was not reached")
	  or diag($err);
	like($err, $detail, "$what: the detail names TLS") or diag($err);
}
my ($ret, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM nofile.tasks');
like($err, qr{could not open client certificate file "\Q$d\E/missing\.pem"},
	 'a missing client certificate file is named');

# The options: paths only a superuser may set, the pair together.
($ret, $out, $err) = $node->psql('postgres',
	"CREATE SERVER half FOREIGN DATA WRAPPER raydar OPTIONS (address '$addr', client_cert_file '$d/client.pem')");
like($err, qr/options "client_cert_file" and "client_key_file" must be set together/, 'a certificate without its key is refused');
($ret, $out, $err) = $node->psql('postgres',
	"CREATE SERVER rel FOREIGN DATA WRAPPER raydar OPTIONS (address '$addr', client_cert_file 'client.pem', client_key_file 'client.key')");
like($err, qr/option "client_cert_file" must be an absolute path/, 'relative paths are refused');
$node->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN;
	GRANT USAGE ON FOREIGN DATA WRAPPER raydar TO alice;});
($ret, $out, $err) = $node->psql('postgres', qq{SET ROLE alice;
	CREATE SERVER hers FOREIGN DATA WRAPPER raydar OPTIONS (address '$addr', client_cert_file '$d/client.pem', client_key_file '$d/client.key')});
like($err, qr/only superuser can set option "client_cert_file"/, 'only a superuser may name the files');

# Back to plaintext: the mutual-TLS server now fails, the plain one works.
$sim->admin('POST', '/gcs', { tls => undef });
is($node->safe_psql('postgres', sprintf($q, 'plain')), $want, 'plaintext again');

$node->stop;
$sim->stop;
done_testing();
