# 161_limit_ray_order.pl
#	LIMIT never loses rows the query asked for, whatever order the GCS
#	walks its storage in. Ray's GetTaskEvents answers FINISHED attempts
#	first (the last finished first), then unfinished actor tasks, then the
#	rest, and index lookups in hash order (src/ray/gcs/gcs_task_manager.cc;
#	the simulator does the same since issue 16), so a limit sent to the GCS
#	together with a condition raydar checks itself would keep the wrong
#	attempts. Every query here is compared with the same query over a local
#	copy of the table (all rows, no LIMIT pushed anywhere), on a 2.41+ and a
#	<= 2.40 server.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use RaySim;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('limit_order');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', "raydar.collector = off\ntimezone = 'UTC'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION raydar');

# Queries with LIMIT whose answer is fixed by the data (ORDER BY a key, or
# count/existence over what the LIMIT keeps). {T} is the table.
my @queries = (
	# pushed conditions
	q{SELECT name FROM {T} WHERE state = 'RUNNING' ORDER BY task_id LIMIT 2},
	q{SELECT count(*) FROM (SELECT 1 FROM {T} WHERE state <> 'FINISHED' LIMIT 100) s},
	q{SELECT count(*) FROM (SELECT 1 FROM {T} WHERE name = 'slow' LIMIT 1) s},
	# conditions raydar checks itself (LIKE, expressions): a pushed LIMIT would drop rows
	q{SELECT name FROM {T} WHERE name LIKE 'slo%' LIMIT 5},
	q{SELECT name FROM {T} WHERE name LIKE 'wait%' OR name LIKE 'eval%' ORDER BY name LIMIT 2},
	q{SELECT count(*) FROM (SELECT 1 FROM {T} WHERE end_time IS NULL AND type <> 'DRIVER_TASK' LIMIT 10) s},
	q{SELECT name, state FROM {T} WHERE error_type = 'WORKER_DIED' ORDER BY name, attempt_number LIMIT 3},
	# ORDER BY ... LIMIT: the first rows of Ray's order are not the first by time
	q{SELECT name FROM {T} ORDER BY creation_time DESC, task_id LIMIT 4},
	q{SELECT name FROM {T} ORDER BY end_time NULLS FIRST, task_id LIMIT 5},
	# a task id (the task index, hash order)
	q{SELECT attempt_number, state FROM {T} WHERE task_id = (SELECT task_id FROM {T} WHERE name = 'flaky' LIMIT 1) ORDER BY attempt_number LIMIT 1},
);

for my $profile ('master', '2.40')
{
	my $tag = $profile eq 'master' ? 'm' : 'o';
	my $sim = RaySim->new(profile => $profile, scenario => 'mixed', speed => 0,
						  epoch_ms => 1_800_000_000_000, name => "limit_$tag");
	$sim->admin('POST', '/advance', { ms => 3_600_000 });
	my $addr = $sim->address;
	$node->safe_psql('postgres', qq{
		CREATE SERVER s_$tag FOREIGN DATA WRAPPER raydar OPTIONS (address '$addr');
		CREATE USER MAPPING FOR CURRENT_USER SERVER s_$tag;
		CREATE SCHEMA s_$tag;
		IMPORT FOREIGN SCHEMA ray LIMIT TO (tasks) FROM SERVER s_$tag INTO s_$tag;
		CREATE TABLE copy_$tag AS SELECT * FROM s_$tag.tasks;});
	is($node->safe_psql('postgres', "SELECT count(*) || ' ' || count(*) FILTER (WHERE state = 'FINISHED') FROM copy_$tag"),
	   '18 9', "$profile: 18 attempts, 9 FINISHED (which the GCS answers first)");

	# All queries in one session per side: one line each, the rows as JSON.
	my $batch = sub {
		my ($t) = @_;
		my @sql;
		for my $i (0 .. $#queries)
		{
			(my $q = $queries[$i]) =~ s/\{T\}/$t/g;
			push @sql, "SELECT $i, coalesce((SELECT json_agg(row_to_json(q)) FROM ($q) q)::text, '[]');";
		}
		my %out = map { split /\|/, $_, 2 } split /\n/, $node->safe_psql('postgres', join("\n", @sql));
		return \%out;
	};
	my $got = $batch->("s_$tag.tasks");
	my $want = $batch->("copy_$tag");
	is(scalar(grep { $_ ne '[]' } values %$want), scalar(@queries), "$profile: every query has rows to lose");
	for my $i (0 .. $#queries)
	{
		(my $local = $queries[$i]) =~ s/\{T\}/copy_$tag/g;
		is($got->{$i}, $want->{$i}, "$profile: $local");
	}

	# Up to 2.40 the GCS ignores the job filter when task ids are given (and
	# lets tasks without an actor through the actor filter): raydar sends
	# both, then checks them again itself.
	my ($tid, $jid) = split /\|/, $node->safe_psql('postgres',
		"SELECT task_id, job_id FROM copy_$tag WHERE name = 'flaky' LIMIT 1");
	my $other = $jid eq 'ffffffff' ? '7f000000' : 'ffffffff';
	is($node->safe_psql('postgres', "SELECT count(*) FROM s_$tag.tasks WHERE task_id = '$tid' AND job_id = '$other'"),
	   '0', "$profile: a task id with another job's id gives no rows");
	is($node->safe_psql('postgres', "SELECT count(*) FROM s_$tag.tasks WHERE task_id = '$tid' AND job_id = '$jid'"),
	   $node->safe_psql('postgres', "SELECT count(*) FROM copy_$tag WHERE task_id = '$tid'"),
	   "$profile: a task id with its own job's id gives all its attempts");
	$sim->stop;
}

$node->stop;
done_testing();
