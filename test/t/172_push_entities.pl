# 172_push_entities.pl
#	Jobs, actors and nodes from pushed events (the GCS's DRIVER_JOB_*, ACTOR_*
#	and NODE_* events, FEB26+): the simulated cluster's aggregator
#	(raysim --aggregator) pushes the `failures` scenario (dead actors of three
#	causes, a dead node, a failed submission job) and job_history,
#	actor_history and node_history equal, column by column, what polling the
#	same cluster gives in every column the events carry, and are NULL in the
#	others; the same events posted again reversed (lifecycle before
#	definition, transitions out of order) and twice give the same rows; again
#	with fresh event ids they touch no row. Final entities quiet for the
#	retention keep only a tombstone: their events deleted, history untouched,
#	a late event skipped and counted, a live one's still merged. A cluster pushed and polled under
#	one name has each entity once and the poll rewrites none. Then 100,000
#	actors pushed in bodies of 1,000 events.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use File::Temp qw(tempdir);
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PushFeed;
use PostgreSQL::Test::Utils;
use Test::More;

my $tmp = tempdir(CLEANUP => 1);
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $node = PostgreSQL::Test::Cluster->new('pushent');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'raydar'
raydar.database = 'postgres'
raydar.poll_interval = '200ms'
raydar.event_receiver_listen = '127.0.0.1:$port'
timezone = 'UTC'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION raydar');

# POST each body (a JSON text) to cluster; the HTTP codes, joined.
sub post_bodies
{
	my ($cluster, @bodies) = @_;
	my @codes;
	for my $b (@bodies)
	{
		my $f = "$tmp/body.json";
		open(my $fh, '>', $f) or die;
		print $fh $b;
		close $fh;
		my $out = '';
		IPC::Run::run([ 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'POST',
			'-H', 'Content-Type: application/json', '--data-binary', "\@$f",
			"http://127.0.0.1:$port/events/$cluster" ], '>', \$out);
		push @codes, $out;
	}
	my %u = map { $_ => 1 } @codes;
	return join(',', sort keys %u);
}

my %key = (job => 'job_id', actor => 'actor_id', node => 'node_id');
# What the events carry, equal to the GCS's row (docs/push.md).
my %carried = (
	job => [qw(job_id is_dead entrypoint driver_pid start_time end_time)],
	actor => [qw(actor_id class_name name state job_id node_id worker_id pid ray_namespace repr_name
		is_detached num_restarts num_restarts_due_to_lineage_reconstruction required_resources
		placement_group_id start_time end_time death_cause_type death_cause_message call_site label_selector)],
	node => [qw(node_id node_ip node_name hostname state resources_total labels start_time end_time
		death_reason death_reason_message instance_id instance_type_name)]);
# What they do not carry: NULL for a cluster only pushed.
my %never = (
	job => [qw(driver_ip_address metadata is_running_tasks)],
	actor => [qw(node_ip max_restarts)],
	node => [qw(is_head_node node_manager_port object_manager_port node_type_name)]);

# Rows of cluster a differing from cluster b's in cols (both ways), one line each.
sub diff_rows
{
	my ($kind, $a, $b, $cols) = @_;
	my $k = $key{$kind};
	my $list = join(', ', map { "'$_'" } @$cols);
	return $node->safe_psql('postgres', qq{
		WITH x AS (SELECT to_jsonb(h) AS j FROM raydar.${kind}_history h WHERE cluster = '$a'),
		     y AS (SELECT to_jsonb(h) AS j FROM raydar.${kind}_history h WHERE cluster = '$b')
		SELECT coalesce(string_agg(format('%s %s: %s vs %s', coalesce(x.j->>'$k', y.j->>'$k'), c,
		       left(coalesce(x.j->c, 'null')::text, 80), left(coalesce(y.j->c, 'null')::text, 80)), E'\\n'
		       ORDER BY 1), '')
		FROM x FULL JOIN y ON y.j->>'$k' = x.j->>'$k'
		CROSS JOIN unnest(ARRAY[$list]) AS c
		WHERE coalesce(y.j->c, 'null') IS DISTINCT FROM coalesce(x.j->c, 'null')});
}

sub count_rows
{
	my ($kind, $cluster) = @_;
	return $node->safe_psql('postgres', "SELECT count(*) FROM raydar.${kind}_history WHERE cluster = '$cluster'");
}

# ---- the failures scenario pushed (snake_case keys) and polled
$node->safe_psql('postgres', "SELECT raydar.receive_events('ent'), raydar.receive_events('ent_rev')");
my $info = PushFeed::start($tmp, 'failures', 'ent', { url => "http://127.0.0.1:$port/events/ent", keys => 'snake' });
my $cport = $info->{aggregator_control_port};
my $st = PushFeed::wait_pushed($cport);
ok($st->{idle} && $st->{released} > 0, "every released event acknowledged ($st->{released})")
  or diag(encode_json($st));
my $exp = PushFeed::control($cport, 'GET', '/expected');
my %n = (job => scalar @{ $exp->{entities}{jobs} }, actor => scalar @{ $exp->{entities}{actors} },
	node => scalar @{ $exp->{entities}{nodes} });
ok($n{job} >= 2 && $n{actor} >= 3 && $n{node} >= 2, "the feed sent $n{job} jobs, $n{actor} actors, $n{node} nodes");
# The receiver's worker may commit just after the last acknowledgement.
$node->poll_query_until('postgres', "SELECT count(*) = $n{actor} FROM raydar.actor_history WHERE cluster = 'ent'");
is(count_rows($_, 'ent'), $n{$_}, "pushed: exactly $n{$_} ${_}s") for qw(job actor node);
is($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT state, ',' ORDER BY state) FROM raydar.actor_history WHERE cluster = 'ent'}),
   'DEAD', 'pushed actors: all dead (a failed __init__, an OOM kill, a node death)');
is($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT death_cause_type, ',' ORDER BY death_cause_type) FROM raydar.actor_history WHERE cluster = 'ent'}),
   'actor_died_error_context,creation_task_failure_context,oom_context', 'pushed actors: three death causes');
is($node->safe_psql('postgres', q{SELECT count(*) FROM raydar.node_history WHERE cluster = 'ent' AND state = 'DEAD' AND death_reason = 'UNEXPECTED_TERMINATION'}),
   '1', 'pushed nodes: the dead one with its reason');
for my $kind (qw(job actor node))
{
	my $nulls = join(' OR ', map { "$_ IS NOT NULL" } @{ $never{$kind} });
	is($node->safe_psql('postgres', "SELECT count(*) FROM raydar.${kind}_history WHERE cluster = 'ent' AND ($nulls)"),
	   '0', "pushed ${kind}s: what the events do not carry is NULL");
}

# The sim's own merge of the same bodies (rayevents.Merger.entity_rows).
my %sim_name = (job => 'jobs', actor => 'actors', node => 'nodes');
for my $kind (qw(job actor node))
{
	open(my $f, '>', "$tmp/$kind.jsonl") or die;
	print $f JSON::PP->new->canonical->encode($_), "\n" for @{ $exp->{entities}{ $sim_name{$kind} } };
	close $f;
	$node->safe_psql('postgres', qq{CREATE TABLE sim_$kind (j jsonb);
		COPY sim_$kind FROM '$tmp/$kind.jsonl' WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02');});
}
is($node->safe_psql('postgres', q{SELECT count(*) FROM sim_actor s JOIN raydar.actor_history h ON h.actor_id = s.j->>'actor_id' AND h.cluster = 'ent'
	WHERE (h.state, h.name, h.class_name, h.pid, h.repr_name, h.node_id, h.death_cause_type, h.death_cause_message,
	       (extract(epoch FROM h.start_time) * 1000)::bigint, (extract(epoch FROM h.end_time) * 1000)::bigint)
	  IS NOT DISTINCT FROM (s.j->>'state', s.j->>'name', s.j->>'class_name', (s.j->>'pid')::bigint, s.j->>'repr_name',
	       s.j->>'node_id', s.j->>'death_cause_type', s.j->>'death_cause_message', (s.j->>'start_time_ms')::bigint,
	       (s.j->>'end_time_ms')::bigint)}), $n{actor}, "every pushed actor equals the simulator's own merge");
is($node->safe_psql('postgres', q{SELECT count(*) FROM sim_node s JOIN raydar.node_history h ON h.node_id = s.j->>'node_id' AND h.cluster = 'ent'
	WHERE (h.state, h.node_ip, h.node_name, h.labels, h.resources_total, h.death_reason, h.death_reason_message,
	       (extract(epoch FROM h.start_time) * 1000)::bigint, (extract(epoch FROM h.end_time) * 1000)::bigint)
	  IS NOT DISTINCT FROM (s.j->>'state', s.j->>'node_ip', s.j->>'node_name', s.j->'labels', s.j->'resources_total',
	       s.j->>'death_reason', s.j->>'death_reason_message', (s.j->>'start_time_ms')::bigint, (s.j->>'end_time_ms')::bigint)}),
   $n{node}, "every pushed node equals the simulator's own merge");
is($node->safe_psql('postgres', q{SELECT count(*) FROM sim_job s JOIN raydar.job_history h ON h.job_id = s.j->>'job_id' AND h.cluster = 'ent'
	WHERE (h.is_dead, h.driver_pid, h.entrypoint, (extract(epoch FROM h.start_time) * 1000)::bigint,
	       (extract(epoch FROM h.end_time) * 1000)::bigint)
	  IS NOT DISTINCT FROM ((s.j->>'is_dead')::boolean, (s.j->>'driver_pid')::bigint, s.j->>'entrypoint',
	       (s.j->>'start_time_ms')::bigint, (s.j->>'end_time_ms')::bigint)}),
   $n{job}, "every pushed job equals the simulator's own merge");

# The same cluster polled: every column the events carry is the poll's.
$node->safe_psql('postgres', "CREATE SERVER poll_ent FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:$info->{grpc_port}');
	CREATE USER MAPPING FOR CURRENT_USER SERVER poll_ent;
	SELECT raydar.track('poll_ent');");
$node->poll_query_until('postgres', "SELECT count(*) >= $n{actor} FROM raydar.actor_history WHERE cluster = 'poll_ent'
	AND NOT EXISTS (SELECT 1 FROM raydar.node_history WHERE cluster = 'poll_ent' AND state = 'ALIVE' AND node_id IN
	  (SELECT node_id FROM raydar.node_history WHERE cluster = 'ent' AND state = 'DEAD'))");
for my $kind (qw(job actor node))
{
	# The poll also shows what no event names (jobs with neither driver nor submission).
	is($node->safe_psql('postgres', qq{SELECT count(*) FROM raydar.${kind}_history p JOIN raydar.${kind}_history e
		ON e.$key{$kind} = p.$key{$kind} AND e.cluster = 'ent' WHERE p.cluster = 'poll_ent'}), $n{$kind},
	   "polled: the same $n{$kind} ${kind}s");
	$node->safe_psql('postgres', "DELETE FROM raydar.${kind}_history p WHERE cluster = 'poll_ent' AND NOT EXISTS
		(SELECT 1 FROM raydar.${kind}_history e WHERE e.cluster = 'ent' AND e.$key{$kind} = p.$key{$kind})");
	is(diff_rows($kind, 'ent', 'poll_ent', $carried{$kind}), '', "pushed ${kind}s equal polled ones in every column the events carry");
}

# ---- the same events again, reversed and twice, to another name
my $bodies = PushFeed::control($cport, 'GET', '/bodies');
my @events = map { @{ $_->{events} } } @$bodies;
my @rev = reverse @events;
# Each transition list reversed too (the merge sorts them).
for my $e (@rev)
{
	for my $p (grep { /lifecycle_event$/ } keys %$e)
	{
		$e->{$p}{state_transitions} = [ reverse @{ $e->{$p}{state_transitions} } ];
	}
}
my @chunks;
push @chunks, encode_json([ @rev[ $_ * 7 .. ($_ * 7 + 6 < $#rev ? $_ * 7 + 6 : $#rev) ] ]) for 0 .. int($#rev / 7);
is(post_bodies('ent_rev', @chunks, @chunks), '200', scalar(@chunks) . ' bodies posted reversed, each twice');
$node->poll_query_until('postgres', "SELECT count(*) = $n{actor} FROM raydar.actor_history WHERE cluster = 'ent_rev'");
for my $kind (qw(job actor node))
{
	my @all = (@{ $carried{$kind} }, @{ $never{$kind} });
	is(count_rows($kind, 'ent_rev'), $n{$kind}, "reversed: exactly $n{$kind} ${kind}s");
	is(diff_rows($kind, 'ent', 'ent_rev', \@all), '', "reversed and duplicated: the same ${kind} rows, every column");
}
is($node->safe_psql('postgres', q{SELECT (SELECT count(*) FROM raydar.event_entities WHERE cluster = 'ent_rev') || ' ' ||
	(SELECT count(*) FROM raydar.event_entities WHERE cluster = 'ent')}) =~ /^(\d+) (\d+)$/ && $1 == $2 && $1 > 0 ? 1 : 0,
   1, 'each definition and transition stored once');

# Fresh event ids (Ray re-sending after a restart): nothing changes, no row is touched.
my $xmin = q{SELECT string_agg(xmin::text, ',' ORDER BY 1) FROM (SELECT xmin FROM raydar.job_history WHERE cluster = 'ent_rev'
	UNION ALL SELECT xmin FROM raydar.actor_history WHERE cluster = 'ent_rev' UNION ALL SELECT xmin FROM raydar.node_history WHERE cluster = 'ent_rev') x};
my $before = $node->safe_psql('postgres', $xmin);
my $i = 0;
my @fresh = map { my $e = {%$_}; $e->{event_id} = encode_base64_id($i++); $e } @events;
sub encode_base64_id { my $s = sprintf('fresh-%022d', $_[0]); require MIME::Base64; return MIME::Base64::encode_base64($s, ''); }
is(post_bodies('ent_rev', encode_json(\@fresh)), '200', 'the same events with fresh ids posted');
$node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM raydar.event_entities WHERE cluster = 'ent_rev' AND position('fresh-'::bytea in event_id) = 1});
is($node->safe_psql('postgres', $xmin), $before, 'merged again to the same values: no row rewritten');

# ---- bounded storage: a final entity quiet for the retention keeps only a tombstone
# (event_entities_expire, run by the merger every minute with
# raydar.event_receiver_retention; here at once through
# raydar.expire_pushed_entities). The fragments are set 30 minutes back,
# which the merger's own run (1 h) leaves alone, and expired at 10 minutes.
require MIME::Base64;
my %final_sql = (job => 'coalesce(h.is_dead OR h.end_time IS NOT NULL, false)', actor => "coalesce(h.state = 'DEAD', false)",
	node => "coalesce(h.state = 'DEAD', false)");
# Per kind: "final entities, live entities, fragments of live entities".
sub entity_counts
{
	my ($kind) = @_;
	return $node->safe_psql('postgres', qq{SELECT count(DISTINCT e.entity_id) FILTER (WHERE $final_sql{$kind}) || ' ' ||
		count(DISTINCT e.entity_id) FILTER (WHERE NOT $final_sql{$kind}) || ' ' || count(*) FILTER (WHERE NOT $final_sql{$kind})
		FROM raydar.event_entities e JOIN raydar.${kind}_history h ON h.cluster = e.cluster AND h.incarnation = e.incarnation
		AND h.$key{$kind} = encode(e.entity_id, 'hex') WHERE e.cluster = 'ent_rev' AND e.kind = '$kind'});
}
my (%fin, %live, %livefrag);
for my $kind (qw(job actor node))
{
	($fin{$kind}, $live{$kind}, $livefrag{$kind}) = split / /, entity_counts($kind);
}
ok($fin{actor} == $n{actor} && $fin{node} >= 1 && $live{node} >= 1 && $live{actor} == 0,
   "before expiry: final entities $fin{job} jobs, $fin{actor} actors, $fin{node} nodes; live nodes $live{node}");
# One dead actor had an event within the retention: it stays.
my $recent = $node->safe_psql('postgres', q{SELECT min(encode(entity_id, 'hex')) FROM raydar.event_entities WHERE cluster = 'ent_rev' AND kind = 'actor'});
$node->safe_psql('postgres', qq{UPDATE raydar.event_entities SET received_at = received_at - interval '30 minutes'
	WHERE cluster = 'ent_rev' AND NOT (kind = 'actor' AND encode(entity_id, 'hex') = '$recent')});
my %kx = map { ($_ => "SELECT string_agg($key{$_} || ':' || xmin::text, ',' ORDER BY 1) FROM raydar.${_}_history WHERE cluster = 'ent_rev'") } qw(job actor node);
my %hx = map { ($_ => $node->safe_psql('postgres', $kx{$_})) } qw(job actor node);
is($node->safe_psql('postgres', q{SELECT raydar.expire_pushed_entities('40 minutes')}), '0', 'nothing quiet for 40 minutes: nothing expired');
my $want = $fin{job} + $fin{actor} + $fin{node} - 1;
is($node->safe_psql('postgres', q{SELECT raydar.expire_pushed_entities('10 minutes')}), $want,
   "quiet for 10 minutes: the $want final entities but the recent actor tombstoned");
is($node->safe_psql('postgres', q{SELECT string_agg(kind || ' ' || n, ', ' ORDER BY kind) FROM (SELECT kind, count(*) AS n
	FROM raydar.event_entity_tombstones WHERE cluster = 'ent_rev' GROUP BY kind) x}),
   join(', ', map { "$_ " . ($_ eq 'actor' ? $fin{$_} - 1 : $fin{$_}) } grep { $fin{$_} - ($_ eq 'actor') > 0 } qw(actor job node)),
   'one tombstone per expired entity');
for my $kind (qw(job actor node))
{
	my $f = $kind eq 'actor' ? 1 : 0;
	my ($ff, $l, $lf) = split / /, entity_counts($kind);
	is("$ff $l $lf", "$f $live{$kind} $livefrag{$kind}", "${kind}s: final ones' events gone, live ones' untouched");
	is($node->safe_psql('postgres', $kx{$kind}), $hx{$kind}, "${kind}s: history rows untouched by expiry");
}
is($node->safe_psql('postgres', q{SELECT count(*) FROM raydar.event_entities e JOIN raydar.event_entity_tombstones t USING (cluster, incarnation, kind, entity_id)}),
   '0', 'no tombstoned entity has events left');
is($node->safe_psql('postgres', q{SELECT raydar.expire_pushed_entities('10 minutes')}), '0', 'expired again: nothing more');
is($node->safe_psql('postgres', q{SELECT count(*) FROM raydar.event_entities WHERE cluster IN ('ent', 'dual') AND received_at < now() - interval '10 minutes'}),
   '0', 'other clusters untouched');

# Late events: one for a tombstoned actor (an earlier state: merged alone it would rewrite the row) is
# skipped and counted as a duplicate; one for a live node (its death) still merges.
my $hexid = sub { unpack('H*', MIME::Base64::decode_base64($_[0])) };
my ($life_actor) = grep { $_->{actor_lifecycle_event} && $hexid->($_->{actor_lifecycle_event}{actor_id}) ne $recent
	&& grep { $_->{state} ne 'DEAD' } @{ $_->{actor_lifecycle_event}{state_transitions} } } @events;
my $live_node = $node->safe_psql('postgres', q{SELECT node_id FROM raydar.node_history WHERE cluster = 'ent_rev' AND state = 'ALIVE' ORDER BY 1 LIMIT 1});
my ($life_node) = grep { $_->{node_lifecycle_event} && $hexid->($_->{node_lifecycle_event}{node_id}) eq $live_node } @events;
my ($dead_tr) = map { grep { $_->{state} eq 'DEAD' } @{ $_->{node_lifecycle_event}{state_transitions} } } grep { $_->{node_lifecycle_event} } @events;
ok($life_actor && $life_node && $dead_tr, 'late events built from the feed');
my $late_actor = { %$life_actor, event_id => encode_base64_id(900001),
	actor_lifecycle_event => { %{ $life_actor->{actor_lifecycle_event} },
		state_transitions => [ map { { %$_, timestamp => '2030-01-01T00:00:00Z' } }
			(grep { $_->{state} ne 'DEAD' } @{ $life_actor->{actor_lifecycle_event}{state_transitions} })[0] ] } };
my $late_node = { %$life_node, event_id => encode_base64_id(900002),
	node_lifecycle_event => { %{ $life_node->{node_lifecycle_event} }, state_transitions => [ { %$dead_tr, timestamp => '2030-01-01T00:00:00Z' } ] } };
my $dups = q{SELECT sum(duplicates) FROM raydar.event_receiver_nodes WHERE cluster = 'ent_rev'};
my $dup0 = $node->safe_psql('postgres', $dups);
my $ax = $node->safe_psql('postgres', $kx{actor});
is(post_bodies('ent_rev', encode_json([ $late_actor, $late_node ])), '200', 'late events posted');
$node->poll_query_until('postgres', "SELECT state = 'DEAD' FROM raydar.node_history WHERE cluster = 'ent_rev' AND node_id = '$live_node'")
  or diag('the live node did not merge its late death');
is($node->safe_psql('postgres', $dups), $dup0 + 1, 'the tombstoned actor\'s late event counted as a duplicate');
is($node->safe_psql('postgres', $kx{actor}), $ax, 'the tombstoned actor\'s history row untouched');
is($node->safe_psql('postgres', q{SELECT count(*) FROM raydar.event_entities e JOIN raydar.event_entity_tombstones t USING (cluster, incarnation, kind, entity_id)}),
   '0', 'the late event stored nothing');
is($node->safe_psql('postgres', "SELECT count(*) FROM raydar.event_entities WHERE cluster = 'ent_rev' AND kind = 'node'
	AND encode(entity_id, 'hex') = '$live_node' AND received_at > now() - interval '10 minutes'"), '1', 'the live node\'s late transition stored');

# A final entity whose history row was deleted (an operator's own retention
# of actor_history) is expired all the same: nothing is left to rebuild.
$node->safe_psql('postgres', qq{DELETE FROM raydar.actor_history WHERE cluster = 'ent_rev' AND actor_id = '$recent';
	UPDATE raydar.event_entities SET received_at = received_at - interval '30 minutes'
	WHERE cluster = 'ent_rev' AND kind = 'actor' AND encode(entity_id, 'hex') = '$recent'});
is($node->safe_psql('postgres', q{SELECT raydar.expire_pushed_entities('10 minutes')}), '1',
   'a final actor whose history row was deleted: expired');
is($node->safe_psql('postgres', qq{SELECT count(*) FROM raydar.event_entities WHERE cluster = 'ent_rev' AND kind = 'actor'
	AND encode(entity_id, 'hex') = '$recent'}) . ' ' . $node->safe_psql('postgres', qq{SELECT count(*) FROM raydar.event_entity_tombstones
	WHERE cluster = 'ent_rev' AND kind = 'actor' AND encode(entity_id, 'hex') = '$recent'}),
   '0 1', 'its events gone, its tombstone kept');

# ---- pushed and polled under one name (camelCase keys)
my $dual = PushFeed::start($tmp, 'failures', 'dual', { url => "http://127.0.0.1:$port/events/dual" });
$node->safe_psql('postgres', "CREATE SERVER dual FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:$dual->{grpc_port}');
	CREATE USER MAPPING FOR CURRENT_USER SERVER dual;
	SELECT raydar.track('dual');");
$node->poll_query_until('postgres', "SELECT count(*) >= $n{actor} FROM raydar.actor_history WHERE cluster = 'dual'");
$node->safe_psql('postgres', "SELECT raydar.receive_events('dual')");
my $dst = PushFeed::wait_pushed($dual->{aggregator_control_port});
ok($dst->{idle} && $dst->{pending} == 0, 'dual: every event delivered');
$node->poll_query_until('postgres', "SELECT count(*) > 0 FROM raydar.event_entities WHERE cluster = 'dual'");
$node->poll_query_until('postgres', "SELECT count(*) = 0 FROM raydar.actor_history WHERE cluster = 'dual' AND state <> 'DEAD' AND actor_id IN
	(SELECT actor_id FROM raydar.actor_history WHERE cluster = 'ent' AND state = 'DEAD')");
for my $kind (qw(job actor node))
{
	is($node->safe_psql('postgres', "SELECT count(*) = count(DISTINCT $key{$kind}) AND count(DISTINCT incarnation) = 1
		FROM raydar.${kind}_history WHERE cluster = 'dual'"), 't', "dual: each $kind once, one incarnation");
}
is($node->safe_psql('postgres', q{SELECT count(*) FROM raydar.job_history WHERE cluster = 'dual' AND (driver_ip_address IS NULL OR is_running_tasks IS NULL)}),
   '0', "dual: what the events do not carry keeps the poll's values");
my $dx = $xmin =~ s/ent_rev/dual/gr;
my $d1 = $node->safe_psql('postgres', $dx);
$node->safe_psql('postgres', 'SELECT pg_sleep(1.5)');
is($node->safe_psql('postgres', $dx), $d1, 'dual: the polls that follow the push rewrite no row (the same values)');

# ---- 100,000 actors, each a definition and a lifecycle, 1,000 events a body
my $gen = "$tmp/gen.py";
open(my $g, '>', $gen) or die;
print $g <<'PY';
import base64, json, sys, urllib.request
url, n = sys.argv[1], int(sys.argv[2])
def b(i, tag): return base64.b64encode(tag + i.to_bytes(8, "big")).decode()
evs = []
def flush():
    req = urllib.request.Request(url, data=json.dumps(evs).encode(), headers={"Content-Type": "application/json"})
    assert urllib.request.urlopen(req, timeout=60).status == 200
    evs.clear()
for i in range(n):
    aid = b(i, b"actor-id")
    evs.append({"eventId": b(i, b"def-event-id-00000000"), "eventType": "ACTOR_DEFINITION_EVENT", "sessionName": "big",
                "actorDefinitionEvent": {"actorId": aid, "jobId": "AQAAAA==", "name": "\u6f14\u5458-%d" % i,
                                         "className": "Worker", "rayNamespace": "ns", "isDetached": False,
                                         "requiredResources": {"CPU": 1.0}}})
    evs.append({"eventId": b(i, b"life-event-id-0000000"), "eventType": "ACTOR_LIFECYCLE_EVENT", "sessionName": "big",
                "actorLifecycleEvent": {"actorId": aid, "stateTransitions": [
                    {"state": "ALIVE", "timestamp": "2026-02-12T10:00:%02d.%06dZ" % (i % 60, i % 1000000),
                     "pid": i + 1, "nodeId": "ERERERERERERERERERERERERERERERERERERERE=", "workerId": ""},
                    {"state": "PENDING_CREATION", "timestamp": "2026-02-12T09:59:59Z"}]}})
    if len(evs) >= 1000:
        flush()
if evs:
    flush()
PY
close $g;
$node->safe_psql('postgres', "SELECT raydar.receive_events('big')");
my $t0 = time;
my ($out, $errout) = ('', '');
my $okrun = IPC::Run::run([ '/usr/bin/python3', $gen, "http://127.0.0.1:$port/events/big", '100000' ], '>', \$out, '2>', \$errout);
ok($okrun, '100,000 actors (200,000 events) posted in 200 bodies') or diag($errout);
$node->poll_query_until('postgres', "SELECT count(*) = 100000 FROM raydar.actor_history WHERE cluster = 'big'");
is($node->safe_psql('postgres', q{SELECT count(*) || ' ' || count(DISTINCT actor_id) || ' ' || sum(pid) || ' ' ||
	count(*) FILTER (WHERE state = 'ALIVE' AND name = '演员-' || (pid - 1) AND start_time IS NOT NULL AND node_id IS NOT NULL)
	FROM raydar.actor_history WHERE cluster = 'big'}), '100000 100000 5000050000 100000',
   'all 100,000 actors stored once, each ALIVE with its own name and pid');
note('100,000 actors in ' . (time - $t0) . ' s');

$node->stop;
done_testing();
