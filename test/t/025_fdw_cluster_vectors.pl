# 025_fdw_cluster_vectors.pl
#	actors, nodes, jobs, workers and placement_groups through SQL, for every
#	version profile, against cluster/expected.json (what a faithful client
#	shows for Ray's own bytes): the simulator replays each profile's
#	cluster/*_reply.bin byte for byte. A key ending in _ms is the column
#	without the suffix, as epoch ms.
use strict;
use warnings;
use Encode qw(decode);
use FindBin;
use lib "$FindBin::RealBin/../perl";
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RaySim;
use Test::More;

# The wire vectors are fixtures in the repository; RAYDAR_VECTORS overrides.
my $vectors = $ENV{RAYDAR_VECTORS} || "$FindBin::RealBin/../fixtures/ray-wire";
my %versions = ('2.9' => '2.9.3', '2.35' => '2.35.0', '2.40' => '2.40.0',
				'2.49' => '2.49.2', 'master' => '3.0.0.dev0', '2.58' => '2.58.0');
my %id_of = (actors => 'actor_id', nodes => 'node_id', jobs => 'job_id',
			 workers => 'worker_id', placement_groups => 'placement_group_id');

my $node = PostgreSQL::Test::Cluster->new('cluster');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'raydar'\ntimezone = 'UTC'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION raydar');

my $json = JSON::PP->new->canonical;

# Numbers compare as numbers, everything else exactly.
sub same
{
	my ($a, $b) = @_;
	return 1 if !defined $a && !defined $b;
	return 0 if !defined $a || !defined $b;
	if (ref $a eq 'HASH' && ref $b eq 'HASH')
	{
		return 0 unless join(',', sort keys %$a) eq join(',', sort keys %$b);
		for (keys %$a) { return 0 unless same($a->{$_}, $b->{$_}); }
		return 1;
	}
	if (ref $a eq 'ARRAY' && ref $b eq 'ARRAY')
	{
		return 0 unless @$a == @$b;
		for (0 .. $#$a) { return 0 unless same($a->[$_], $b->[$_]); }
		return 1;
	}
	if (JSON::PP::is_bool($a) || JSON::PP::is_bool($b))
	{
		return (($a ? 1 : 0) == ($b ? 1 : 0));
	}
	return $a == $b if !ref $a && !ref $b && $a =~ /^-?[\d.e+]+$/i && $b =~ /^-?[\d.e+]+$/i;
	return "$a" eq "$b";
}

for my $profile (sort keys %versions)
{
	my $dir = "$vectors/ray-$profile";
	my $expected = decode_json(slurp_file("$dir/cluster/expected.json"));
	my $sim = RaySim->new(replay => $dir, name => "cluster_$profile");
	my $port = $sim->grpc_port;
	$node->safe_psql('postgres', qq{
		DROP SCHEMA IF EXISTS live CASCADE;
		DROP SERVER IF EXISTS ray CASCADE;
		CREATE SERVER ray FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:$port');
		CREATE SCHEMA live;
		IMPORT FOREIGN SCHEMA ray FROM SERVER ray INTO live;});

	for my $resource (sort keys %id_of)
	{
		my $want = $expected->{$resource};
		# Every column as JSON, plus each time as epoch ms under <column>_ms.
		my @times = split /\n/, $node->safe_psql('postgres', qq{
			SELECT attname FROM pg_attribute
			 WHERE attrelid = 'live.$resource'::regclass AND atttypid = 'timestamptz'::regtype});
		my $ms = join(', ', map { "'${_}_ms', (extract(epoch FROM t.$_) * 1000)::bigint" } @times);
		my $out = decode('UTF-8', $node->safe_psql('postgres',
			"SELECT to_jsonb(t) || jsonb_build_object($ms) FROM live.$resource t"));
		my %got = map { my $r = decode_json($_); ($r->{ $id_of{$resource} } => $r) } split /\n/, $out;
		is(scalar keys %got, scalar @$want, "$profile $resource: one row per entry");
		my $bad = 0;
		for my $w (@$want)
		{
			my $g = $got{ $w->{ $id_of{$resource} } };
			unless ($g) { $bad++; diag("$profile $resource: missing $w->{$id_of{$resource}}"); next; }
			for my $k (sort keys %$w)
			{
				next if same($g->{$k}, $w->{$k});
				$bad++;
				diag("$profile $resource $w->{$id_of{$resource}} $k: got "
					  . $json->encode([ $g->{$k} ]) . ", want " . $json->encode([ $w->{$k} ]));
			}
		}
		is($bad, 0, "$profile $resource: every expected field matches");
	}

	# The joins users write: tasks with their node, failed tasks with their
	# actor's death cause, jobs with their task counts.
	my $join = $node->safe_psql('postgres', q{
		SELECT count(*) FROM live.tasks t JOIN live.nodes n USING (node_id)});
	my $tasks_with_node = $node->safe_psql('postgres',
		q{SELECT count(*) FROM live.tasks WHERE node_id IS NOT NULL});
	is($join, $tasks_with_node, "$profile: every task's node is in nodes");
	my $actor_tasks = $node->safe_psql('postgres', q{
		SELECT count(*) FROM live.tasks t JOIN live.actors a USING (actor_id)});
	my $with_actor = $node->safe_psql('postgres',
		q{SELECT count(*) FROM live.tasks WHERE actor_id IS NOT NULL});
	is($actor_tasks, $with_actor, "$profile: every actor task's actor is in actors");
	# Pushed actor and node filters: the rows PostgreSQL itself would pick
	# (OFFSET 0 keeps the condition out of the scan), and every request in
	# this version's layout: the simulator logs another layout as mismatch.
	$sim->clear_requests;
	my $node_id = 'f0862c4759ca9b15561201f52e295c592b2a985d6459589ae61d3e68';
	for my $case (
		[ actors => "job_id = '01000000' AND state = 'ALIVE'" ],
		[ actors => "actor_id = '9eb6d69e5ee35f626fee95a9e3756e43'" ],
		[ nodes => "state = 'ALIVE'" ],
		[ nodes => "node_id = '$node_id' AND state = 'ALIVE'" ],
		[ jobs => "job_id = '02000000'" ],
		[ workers => "is_alive" ],
		[ placement_groups => "state = 'CREATED'" ])
	{
		my ($table, $cond) = @$case;
		my $pushed = $node->safe_psql('postgres',
			"SELECT string_agg(t::text, ',' ORDER BY t::text) FROM live.$table t WHERE $cond");
		my $local = $node->safe_psql('postgres',
			"SELECT string_agg(t::text, ',' ORDER BY t::text) FROM (SELECT * FROM live.$table OFFSET 0) t WHERE $cond");
		is($pushed, $local, "$profile $table WHERE $cond: same rows as PostgreSQL's own filtering");
		isnt($pushed, '', "$profile $table WHERE $cond: finds rows") if $table ne 'placement_groups';
	}
	my @calls = grep { $_->{method} !~ /CheckAlive/ } @{ $sim->requests };
	cmp_ok(scalar @calls, '>=', 14, "$profile: the list calls were made");
	my @mismatch = grep { ($_->{layout} // '') eq 'mismatch' } @calls;
	is(scalar @mismatch, 0, "$profile: no request in another version's layout")
	  or diag(explain(\@mismatch));
	my @node_filtered = grep { $_->{method} =~ /GetAllNodeInfo/ && ($_->{raw_hex} // '') ne '' } @calls;
	if ($profile eq '2.9' || $profile eq '2.35')
	{
		is(scalar @node_filtered, 0, "$profile: node requests are empty (no filter before 2.36)");
	}
	else
	{
		cmp_ok(scalar @node_filtered, '>=', 2, "$profile: node filters were sent");
	}

	# The join examples of docs/cluster.md, output exactly as printed there.
	if ($profile eq 'master')
	{
		my $doc = slurp_file('docs/cluster.md');
		$node->safe_psql('postgres', q{
			DROP SCHEMA IF EXISTS ray_live CASCADE;
			CREATE SCHEMA ray_live;
			IMPORT FOREIGN SCHEMA ray FROM SERVER ray INTO ray_live;});
		my $n = 0;
		while ($doc =~ /```sql\n(.*?)```\n```\n(.*?)```/sg)
		{
			my ($sql, $want) = ($1, $2);
			my ($rc, $out, $err) = $node->psql('postgres', $sql,
				extra_params => [ '-P', 'format=aligned', '-P', 'tuples_only=off',
								  '-v', 'ON_ERROR_STOP=1' ]);
			$out = decode('UTF-8', $out);
			s/\s+\z// for $out, $want;
			$n++;
			is($out, $want, "docs/cluster.md example $n prints what the doc shows")
			  or diag($err);
		}
		cmp_ok($n, '>=', 4, 'docs/cluster.md has its join examples');
	}

	ok($sim->alive, "$profile: simulator alive");
	$sim->stop;
}

$node->stop;
done_testing();
