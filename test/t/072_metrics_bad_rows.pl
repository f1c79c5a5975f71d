# 072_metrics_bad_rows.pl
#	raydar.update() of 200,000 rows with one bad value (issue 12): the
#	documented error (row, column, DETAIL, nothing inserted) in about the
#	time of a good run. Before, the diagnosis ran a subtransaction per
#	value (86.7 s against 5.9 s); now it bisects the batch. Not a timed
#	test: what is asserted is the work, counted by PostgreSQL's own
#	function statistics (track_functions): one probe statement
#	(_metrics_rows_ok) for a value of the wrong JSON kind, at most 19 (a
#	bisection) for one that does not convert, and per-value checks
#	(_metrics_value_error) at most one per column. The times are printed
#	as notes; bench/metrics/bad_rows.sh prints the ratio.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $ROWS = 200_000;
my $BAD = 123_457;    # 0-based, as in the error

my $node = PostgreSQL::Test::Cluster->new('metrics_bad_rows');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'raydar'\ntimezone = 'UTC'\n");
$node->start;
my $q = sub { $node->safe_psql('postgres', $_[0]) };

# Varied rows: unicode names, nulls, NaN, epoch and ISO times (today, so
# no partition is made), integers near the 64-bit edge, JSON values.
$q->(qq{
	CREATE EXTENSION raydar;
	SELECT raydar.create_metrics_table('train',
	    '{"node": "str", "step": "int", "value": "float", "ok": "bool", "extra": "json", "ts": "datetime"}');
	CREATE TABLE input AS
	SELECT jsonb_agg(jsonb_build_object(
	           'node', CASE i % 4 WHEN 0 THEN 'nœud-' || i WHEN 1 THEN '节点' || i WHEN 2 THEN NULL ELSE repeat('n', i % 300) END,
	           'step', CASE WHEN i % 1000 = 7 THEN 9223372036854775807 - i ELSE i END,
	           'value', CASE WHEN i % 997 = 0 THEN to_jsonb('NaN'::text) ELSE to_jsonb(i * 0.001) END,
	           'ok', i % 2 = 0,
	           'extra', CASE WHEN i % 5 = 0 THEN jsonb_build_object('k', i, 'a', jsonb_build_array(i, 'x')) END,
	           'ts', CASE WHEN i % 2 = 0 THEN to_jsonb(extract(epoch FROM now()))
	                      ELSE to_jsonb(to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')) END)
	       ORDER BY i) AS good
	  FROM generate_series(0, $ROWS - 1) i;
	ALTER TABLE input ADD COLUMN bad jsonb;
	UPDATE input SET bad = jsonb_set(good, '{$BAD,value}', '"abc"');});
is($q->(q{SELECT jsonb_array_length(good), jsonb_array_length(bad), good = bad FROM input}),
   "$ROWS|$ROWS|f", 'input: 200,000 rows, the bad copy differs in one value');

# The good run: one statement.
my $t0 = time;
is($q->(q{SELECT raydar.update('train', good) FROM input}), $ROWS, 'good run: 200,000 rows inserted');
my $good_s = time - $t0;
is($q->(q{SELECT count(*), count(DISTINCT node), count(*) FILTER (WHERE value = 'NaN'), max(step)
           FROM raydar_metrics.train}),
   "$ROWS|100075|201|9223372036854775800", 'good run: the values arrived as sent');
$q->('TRUNCATE raydar_metrics.train');

# A bad run, in one transaction so that the function statistics of this
# transaction (pg_stat_xact_user_functions) count its work: (error,
# seconds, probe statements, per-value checks).
sub bad_run
{
	my ($column) = @_;
	my $t0 = time;
	my $out = $q->(qq{
		BEGIN;
		SET LOCAL track_functions = 'pl';
		DO \$\$
		DECLARE
		    msg text; det text; st text;
		BEGIN
		    PERFORM raydar.update('train', (SELECT $column FROM input));
		    RAISE EXCEPTION 'update of a bad row succeeded';
		EXCEPTION WHEN invalid_text_representation THEN
		    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, st = RETURNED_SQLSTATE;
		    CREATE TEMP TABLE caught AS SELECT st, msg, det;
		END \$\$;
		SELECT st || ' ' || msg || ' / ' || det FROM caught;
		SELECT funcname || '=' || calls FROM pg_stat_xact_user_functions
		 WHERE schemaname = 'raydar' AND funcname IN ('_metrics_rows_ok', '_metrics_value_error')
		 ORDER BY funcname;
		COMMIT;});
	my $s = time - $t0;
	my ($err, @calls) = split /\n/, $out;
	my %calls = map { split /=/ } @calls;
	note "function calls in the bad run ($column): @calls";
	return ($err, $s, $calls{_metrics_rows_ok} // 0, $calls{_metrics_value_error} // 0);
}

# A value of the wrong JSON kind: one pass finds the row, one statement
# checks that every row before it converts.
my ($err, $bad_s, $probes, $checks) = bad_run('bad');
is($err, qq{22P02 rows[$BAD] of metrics table "train": invalid value for column "value} . qq{" / expected float (a JSON number, or "NaN", "Infinity", "-Infinity"), got string "abc". Nothing was inserted.},
   'bad run: the documented error names row 123457 and column value');
is($probes, 1, 'bad run: one probe statement (the rows before the bad one convert)');
ok($checks >= 1 && $checks <= 6, "bad run: at most one value check per column of the bad row (took $checks)");
is($q->('SELECT count(*) FROM raydar_metrics.train'), '0', 'bad run: nothing was inserted');
note sprintf('update of %d rows: good run %.2f s, bad run (one bad value) %.2f s, ratio %.2f',
	$ROWS, $good_s, $bad_s, $bad_s / ($good_s || 1e-9));

# A value of the right kind that does not convert (past 64 bits), and a
# wrong kind later: the probe fails, the bisection finds the earlier row in
# at most 1 + ceil(log2(196 chunks)) + log2(1024) = 19 statements.
my $AT = 77_777;
$q->(qq{UPDATE input SET bad = jsonb_set(jsonb_set(good, '{$AT,step}', '9223372036854775808'), '{$BAD,value}', '"abc"')});
($err, my $bad2_s, $probes, $checks) = bad_run('bad');
is($err, qq{22P02 rows[$AT] of metrics table "train": invalid value for column "step" / expected int (a JSON integer within 64 bits), got number 9223372036854775808. Nothing was inserted.},
   'bad run, out of range: the documented error names the earlier row');
ok($probes >= 2 && $probes <= 19, "bad run, out of range: at most 19 probe statements (took $probes)");
ok($checks >= 1 && $checks <= 6, "bad run, out of range: at most one value check per column (took $checks)");
note sprintf('update of %d rows with a value out of range: %.2f s, ratio %.2f', $ROWS, $bad2_s, $bad2_s / ($good_s || 1e-9));

# A failure that is not about values (no INSERT privilege) is reported
# as PostgreSQL's error after the same bounded search.
$q->(q{CREATE ROLE reader LOGIN IN ROLE raydar_reader; GRANT SELECT ON input TO reader});
my ($rc, $o, $e) = $node->psql('postgres', q{SELECT raydar.update('train', (SELECT good FROM input))},
	extra_params => [ '-U', 'reader' ]);
like($e, qr/ERROR:  permission denied for table train/, 'no INSERT privilege: PostgreSQL\'s error');

$node->stop;
done_testing();
