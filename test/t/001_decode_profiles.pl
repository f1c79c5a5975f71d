# 001_decode_profiles.pl
#	Through a preloaded PostgreSQL, decode every vector profile and compare
#	each SQL row with expected_tasks.json: the PostgreSQL layer's text,
#	timestamptz and jsonb conversions against Ray's own derivation.
use strict;
use warnings;
use Encode qw(decode);
use FindBin;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# The wire vectors are fixtures in the repository; RAYDAR_VECTORS overrides.
my $vectors = $ENV{RAYDAR_VECTORS} || "$FindBin::RealBin/../fixtures/ray-wire";

my $node = PostgreSQL::Test::Cluster->new('decode');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'raydar'\ntimezone = 'UTC'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION raydar');

my %versions = ('2.9' => '2.9.3', '2.35' => '2.35.0', '2.40' => '2.40.0',
				'2.49' => '2.49.2', 'master' => '3.0.0.dev0', '2.58' => '2.58.0');
my $json = JSON::PP->new->canonical;

for my $profile (sort keys %versions)
{
	my $dir = "$vectors/ray-$profile";
	my $expected = decode_json(slurp_file("$dir/expected_tasks.json"));
	my %want = map { ("$_->{task_id}/$_->{attempt_number}" => $_) } @{ $expected->{tasks} };

	# One line per attempt, fields separated by a unit separator; NULL as \N.
	my $out = $node->safe_psql('postgres', qq{
		SELECT concat_ws(chr(31), task_id, attempt_number, coalesce(name, '\\N'), state,
			   job_id, type, coalesce(error_type, '\\N'),
			   coalesce(replace(error_message, chr(10), '\\n'), '\\N'),
			   coalesce((extract(epoch FROM creation_time) * 1000)::bigint::text, '\\N'),
			   coalesce((extract(epoch FROM start_time) * 1000)::bigint::text, '\\N'),
			   coalesce((extract(epoch FROM end_time) * 1000)::bigint::text, '\\N'),
			   events::text)
		  FROM raydar.decode_task_events(
			   pg_read_binary_file('$dir/get_task_events_reply.bin'), '$versions{$profile}')});
	my @rows = split /\n/, decode('UTF-8', $out);
	is(scalar @rows, scalar @{ $expected->{tasks} }, "$profile: one SQL row per attempt");

	my $bad = 0;
	for my $line (@rows)
	{
		my ($id, $att, $name, $state, $job, $type, $etype, $emsg, $c, $s, $e, $events)
		  = split /\x1f/, $line, -1;
		my $w = $want{"$id/$att"};
		unless ($w) { fail("$profile: unexpected attempt $id/$att"); $bad++; next; }
		my $n = sub { defined $_[0] ? "$_[0]" : '\N' };
		(my $wmsg = $n->($w->{error_message})) =~ s/\n/\\n/g;
		my @pairs = (
			[ name => $name, $n->($w->{name}) ],
			[ state => $state, $w->{state} ],
			[ job_id => $job, $w->{job_id} ],
			[ type => $type, $w->{type} ],
			[ error_type => $etype, $n->($w->{error_type}) ],
			[ error_message => $emsg, $wmsg ],
			[ creation_time => $c, $n->($w->{creation_time_ms}) ],
			[ start_time => $s, $n->($w->{start_time_ms}) ],
			[ end_time => $e, $n->($w->{end_time_ms}) ],
			[ events => $json->encode(decode_json($events)), $json->encode($w->{events}) ]);
		for my $p (@pairs)
		{
			next if $p->[1] eq $p->[2];
			diag("$profile $id/$att $p->[0]: got '$p->[1]', want '$p->[2]'");
			$bad++;
		}
	}
	is($bad, 0, "$profile: every SQL field matches expected_tasks.json");
}

# A malformed reply is an ERROR in the session, and the session lives on.
my ($rc, $stdout, $stderr) = $node->psql('postgres',
	"SELECT * FROM raydar.decode_task_events('\\x12ff01'::bytea, '2.49.2')");
isnt($rc, 0, 'malformed reply fails the statement');
like($stderr, qr/Ray sent a reply raydar cannot read/, 'with a clear message');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is still up');

$node->stop;
done_testing();
