# 010_simulator_fidelity.pl
#	The simulator is only trusted where it agrees with Ray: for every
#	version profile, it encodes the rows of expected_tasks.json as that Ray
#	version would put them on the wire, the C decoder (verified against
#	Ray's own vectors by test_vectors) decodes them, and every field of every
#	row must come back equal.
use strict;
use warnings;
use File::Temp qw(tempdir);
use FindBin;
use Test::More;

# The wire vectors are fixtures in the repository; RAYDAR_VECTORS overrides.
my $vectors = $ENV{RAYDAR_VECTORS} || "$FindBin::RealBin/../fixtures/ray-wire";
my $decoder = 'build/unit/test_vectors';
BAIL_OUT("$decoder is not built (make unit-build)") unless -x $decoder;
my $tmp = tempdir(CLEANUP => 1);

for my $profile (qw(2.9 2.35 2.40 2.49 master 2.58))
{
	my $expected = "$vectors/ray-$profile/expected_tasks.json";
	my $bin = "$tmp/$profile.bin";
	my $enc = system('/usr/bin/python3', 'test/raysim/raysim.py', 'encode',
		'--profile', $profile, '--expected', $expected, '--out', $bin);
	is($enc, 0, "$profile: simulator encodes the expected rows");

	my ($version) = `/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ray_version"])' $expected`;
	chomp $version;
	my @out = `$decoder $bin $version $expected`;
	my $status = $?;
	my @bad = grep { /^not ok/ } @out;
	my $oks = grep { /^ok/ } @out;
	ok($status == 0 && !@bad && $oks > 16, "$profile: C decoder gets the rows back ($oks checks)")
	  or diag(join('', grep { /^(not ok|#)/ } @out));

	# And the bytes are not Ray's vector copied: the simulator built them.
	my $same = system('cmp', '-s', $bin, "$vectors/ray-$profile/get_task_events_reply.bin");
	isnt($same, 0, "$profile: the encoding is the simulator's own");
}
done_testing();
