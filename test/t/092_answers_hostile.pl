# 092_answers_hostile.pl
#	The picture writers of src/sql/80_answers.sql against hostile task
#	names (issue 12): timeline_svg must stay XML, task_graph_dot must stay
#	DOT that Graphviz renders (to SVG that is XML again), chrome_trace
#	must stay JSON, whatever a user named a task. First a fixed set (XML's
#	forbidden U+FFFE, U+FFFF and C0 controls, quotes, backslashes, DOT
#	escapes, entities, 10 kB names, unicode of every plane), checked
#	exactly: each bar's tooltip reads back as the name with only the
#	characters XML cannot carry replaced by U+FFFD, each trace event's name
#	reads back as the name; hostile task, node and worker ids (data-task,
#	DOT node ids and edges, 1,500-character ids). Then a seeded random fuzz of 2,000 names
#	(RAYDAR_FUZZ_SEED to replay one) through all three writers.
#	Rows go straight into raydar.task_history, as the collector writes.
use strict;
use warnings;
use File::Temp qw(tempdir);
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('answers_hostile');
$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'raydar'\ntimezone = 'UTC'\n");
$node->start;
my $tmp = tempdir('hostile_XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $q = sub { $node->safe_psql('postgres', $_[0]) };
$q->(q{CREATE EXTENSION raydar;
	SELECT raydar._add_partitions('raydar', 'task_history', ARRAY['2026-01-01 10:00:00+00'::timestamptz]);});

# A Perl string as a SQL text literal that survives any content: UTF-8
# bytes in hex (utf8::encode is lax: U+FFFE and U+FFFF pass as they are).
sub sql_text
{
	my $b = shift;
	utf8::encode($b);
	return "convert_from('\\x" . unpack('H*', $b) . "'::bytea, 'UTF8')";
}

# A text result as the server sent it: through hex, because psql drops
# what it deems invalid (U+1FFFE, U+10FFFF, ...) from what it prints.
sub text_of
{
	my $hex = $q->("SELECT encode(convert_to(($_[0])::text, 'UTF8'), 'hex')");
	return pack('H*', $hex);
}

# What an XML reader gets back: XML's forbidden characters as U+FFFD.
sub xml_chars { return $_[0] =~ tr/\x01-\x08\x0b\x0c\x0e-\x1f\x{FFFE}\x{FFFF}/\x{FFFD}/r }

# SQL inserting tasks (name list) as job $job of cluster $cluster: a chain (each
# task submitted by the previous one, so DOT has edges), one attempt each,
# 10 ms apart, alternating FINISHED and FAILED, with a profile event named
# like the task for the Chrome trace.
sub job_sql
{
	my ($cluster, $job, @names) = @_;
	my ($c, $jb) = (sql_text($cluster), sql_text($job));
	my @rows;
	for my $i (0 .. $#names)
	{
		my $n = sql_text($names[$i]);
		my $id = 't' . ($i + 1);
		my $parent = $i ? "'t$i'" : 'NULL';
		my $state = $i % 2 ? 'FAILED' : 'FINISHED';
		my ($ms, $node, $worker) = (10 * $i, $i % 3, $i % 5);
		my $epoch_ms = 1767261600000 + $ms;
		push @rows, qq{('$id', 0, $n, '$state', $jb, 'NORMAL_TASK', 'f', $parent, 'node$node', 'worker$worker', @{[1000 + $i]},
			'2026-01-01 10:00:00+00'::timestamptz + interval '$ms ms', '2026-01-01 10:00:00+00'::timestamptz + interval '@{[$ms + 5]} ms', $c,
			jsonb_build_object('component_type', 'worker', 'component_id', 'w$worker', 'node_ip_address', '10.0.0.$node',
				'events', jsonb_build_array(jsonb_build_object('event_name', 'task:execute', 'start_time', $epoch_ms,
				'end_time', @{[$epoch_ms + 5]}, 'extra_data', jsonb_build_object('name', $n)))))};
	}
	return q{INSERT INTO raydar.task_history (task_id, attempt_number, name, state, job_id, type, func_or_class_name,
	        parent_task_id, node_id, worker_id, worker_pid, start_time, end_time, cluster, profiling_data) VALUES }
	  . join(",\n", @rows) . ";\n";
}

# Run a program on files; (ok, stderr).
sub run_on
{
	my ($cmd, @files) = @_;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ @$cmd, @files ], '>', \$out, '2>', \$err);
	return ($ok, $err);
}

# Bars of SVG files as file -> task -> tooltip, read by a real XML parser
# (one Python for all files).
sub svg_titles
{
	my ($out, $err) = ('', '');
	IPC::Run::run([ '/usr/bin/python3', '-c', q{
import json, sys, xml.dom.minidom
res = {}
for f in sys.argv[1:]:
    try:
        doc = xml.dom.minidom.parse(f)
    except Exception as e:
        res[f] = str(e)
        continue
    bars = {}
    for r in doc.getElementsByTagName('rect'):
        if r.getAttribute('class') == 'bar':
            t = r.getElementsByTagName('title')[0]
            bars[r.getAttribute('data-task')] = ''.join(n.data for n in t.childNodes)
    res[f] = bars
sys.stdout.write(json.dumps(res))
}, @_ ], '>', \$out, '2>', \$err) or return {};
	return JSON::PP->new->decode($out);
}

# Every writer over one job: the SVG parses (xmllint and PostgreSQL's
# libxml), the DOT renders without a word on stderr to SVG that parses,
# the trace is JSON. Returns the SVG titles and the trace.
sub check_job
{
	my ($cluster, $job, $label) = @_;
	my $j = sql_text($job);
	my $svg = text_of("raydar.timeline_svg($j, '$cluster')");
	my $svgfile = "$tmp/$cluster.svg";
	unlink $svgfile;
	PostgreSQL::Test::Utils::append_to_file($svgfile, $svg);
	my ($ok, $err) = run_on([ 'xmllint', '--noout' ], $svgfile);
	ok($ok && $err eq '', "$label: timeline_svg is XML (xmllint)") or diag($err);
	is($q->("SELECT xml_is_well_formed_document(raydar.timeline_svg($j, '$cluster'))"), 't',
	   "$label: timeline_svg is XML (PostgreSQL's xml)");

	my $dot = text_of("raydar.task_graph_dot($j, 'name', 'state', '$cluster')");
	my ($dsvg, $derr) = ('', '');
	$ok = IPC::Run::run([ 'dot', '-Tsvg' ], '<', \$dot, '>', \$dsvg, '2>', \$derr);
	ok($ok && $derr eq '', "$label: dot -Tsvg renders task_graph_dot without a warning") or diag($derr);
	my $dotfile = "$tmp/$cluster.dot.svg";
	unlink $dotfile;
	PostgreSQL::Test::Utils::append_to_file($dotfile, $dsvg);
	($ok, $err) = run_on([ 'xmllint', '--noout' ], $dotfile);
	ok($ok && $err eq '', "$label: Graphviz's SVG of the DOT is XML") or diag($err);

	# Through hex: psql's output is bytes, the trace must be read as UTF-8.
	my $trace = eval { JSON::PP->new->utf8->decode(text_of("raydar.chrome_trace($j, '$cluster')")) };
	ok(ref $trace eq 'ARRAY', "$label: chrome_trace is JSON") or diag($@);
	my $titles = svg_titles($svgfile)->{$svgfile};
	return (ref $titles eq 'HASH' ? $titles : {}, $trace);
}

# ---------------------------------------------------------------------------
# The fixed hostile names.
my @fixed = (
	"U+FFFE \x{FFFE} here", "\x{FFFF}", "\x{FFFE}\x{FFFF}\x{FFFD}",
	join('', map { chr } 1 .. 8, 11, 12, 14 .. 31) . ' all forbidden controls',
	"tab\tnewline\ncr\rcrlf\r\nend", "\x7f DEL and C1 \x{85} \x{9f}",
	q{"double" 'single' `back`}, q{back\\slash \\N \\G \\l \\n \\}, q{trailing backslash \\},
	q{<b>bold</b> & &amp; &#1; &#xFFFE; &lt; ]]> <![CDATA[x]]> <!-- c -->},
	q{digraph { a -> b } ; [label="x"]}, q{%s %1$s %% $1 ${x}},
	'long ' . ('x' x 10_000), 'long unicode ' . ("\x{1F600}\x{4E2D}\x{E9}" x 3_400),
	"\x{1F600} emoji \x{1F1EB}\x{1F1F7} flag \x{200D} zwj", "\x{05E9}\x{05DC}\x{05D5}\x{05DD} RTL \x{202E}override",
	"e\x{301} combining \x{FEFF} BOM \x{2028} LS \x{2029} PS", "\x{FDD0} nonchar \x{1FFFE} \x{10FFFF} last",
	'', ' ', "\x{3000}", 'plain');
my $job = "job \"<&\x{FFFE}\x01";
$q->(job_sql('fixed', $job, @fixed));
is($q->(q{SELECT count(*) FROM raydar.tasks WHERE cluster = 'fixed'}), scalar(@fixed), 'fixed: every hostile name stored');
my ($titles, $trace) = check_job('fixed', $job, 'fixed');
my @wrong;
for my $i (0 .. $#fixed)
{
	my $want = xml_chars($fixed[$i]) . ' (attempt 0) ' . ($i % 2 ? 'FAILED' : 'FINISHED') . ', 0.005 s';
	my $got = $titles->{ 't' . ($i + 1) } // '(no bar)';
	push @wrong, "t" . ($i + 1) . ': ' . JSON::PP->new->ascii->encode([$got, $want]) if $got ne $want;
}
is(join("\n", @wrong), '', 'fixed: every tooltip reads back as its name, forbidden characters as U+FFFD');
my %names = map { ($_->{args}{task_id} // '') => $_->{name} } grep { ($_->{ph} // '') eq 'X' } @$trace;
@wrong = grep { ($names{ 't' . ($_ + 1) } // "\0") ne $fixed[$_] } 0 .. $#fixed;
is("@wrong", '', 'fixed: every trace event name reads back exactly (JSON carries every character)');
like($q->(q{SELECT raydar.task_graph_dot('job "<&' || E'\uFFFE\x01', cluster => 'fixed')}),
	 qr/\[label="\\"double\\" 'single' `back`"/, 'fixed: DOT escapes quotes');
like($q->(q{SELECT raydar.task_graph_dot('job "<&' || E'\uFFFE\x01', cluster => 'fixed')}),
	 qr/\[label="<b>bold<\/b> &amp; &amp;amp; &amp;#1; &amp;#xFFFE;/, 'fixed: DOT writes & as &amp;, so Graphviz shows entities as written');
my $want = "a&quot;b&lt;c&gt;&amp;&#39;&#9;&#10;&#13;\x{FFFD}\x{FFFD}\x{FFFD}";
utf8::encode($want);
is($q->(q{SELECT raydar._xml(E'a"b<c>&''\t\n\r\x01\uFFFE\uFFFF')}), $want, 'fixed: _xml, exactly');
$want = qq{"a\\\\b\\"c&amp;d\\ne f g\x{FFFD}\x{FFFD}"};
utf8::encode($want);
is($q->(q{SELECT raydar._dot_quote(E'a\\\\b"c&d\ne\tf\rg\x01\uFFFF')}), $want, 'fixed: _dot_quote, exactly');

# Hostile ids too: task ids (the SVG's data-task attribute, DOT's node ids
# and edges), node and worker ids (lane labels, DOT's node line), 2,000
# characters long (DOT cuts them at 1,000: the md5 keeps them apart).
my @ids = ("id\"<&'\x{FFFE}\x01", "id\\\"\n\x{FFFF}]]>", ('L' x 1500) . 'a', ('L' x 1500) . 'b');
my @rows;
for my $i (0 .. $#ids)
{
	my ($id, $parent) = (sql_text($ids[$i]), $i ? sql_text($ids[$i - 1]) : 'NULL');
	my $nid = sql_text("n\x01<\"&" . $i);
	push @rows, qq{($id, 0, 'x', 'FINISHED', '01000000', 'NORMAL_TASK', 'f', $parent, $nid, $nid, NULL,
		'2026-01-01 10:00:00+00'::timestamptz + interval '$i s', '2026-01-01 10:00:01+00'::timestamptz + interval '$i s', 'ids')};
}
$q->(q{INSERT INTO raydar.task_history (task_id, attempt_number, name, state, job_id, type, func_or_class_name,
        parent_task_id, node_id, worker_id, worker_pid, start_time, end_time, cluster) VALUES } . join(",\n", @rows));
my $svg = text_of(q{raydar.timeline_svg('01000000', 'ids')});
PostgreSQL::Test::Utils::append_to_file("$tmp/ids.svg", $svg);
my ($ok, $err) = run_on([ 'xmllint', '--noout' ], "$tmp/ids.svg");
ok($ok && $err eq '', 'ids: timeline_svg with hostile ids is XML') or diag($err);
my ($ids_out) = ('');
IPC::Run::run([ '/usr/bin/python3', '-c', q{
import json, sys, xml.dom.minidom
doc = xml.dom.minidom.parse(sys.argv[1])
sys.stdout.write(json.dumps(sorted(r.getAttribute('data-task') for r in doc.getElementsByTagName('rect') if r.getAttribute('class') == 'bar')))
}, "$tmp/ids.svg" ], '>', \$ids_out);
is_deeply(eval { JSON::PP->new->decode($ids_out) }, [ sort map { xml_chars($_) } @ids ],
	'ids: every data-task attribute reads back as its id');
for my $by ('node', 'state')
{
	my $dot = text_of(qq{raydar.task_graph_dot('01000000', '$by', '$by', 'ids')});
	my ($dsvg, $derr) = ('', '');
	$ok = IPC::Run::run([ 'dot', '-Tsvg' ], '<', \$dot, '>', \$dsvg, '2>', \$derr);
	ok($ok && $derr eq '', "ids: dot -Tsvg renders the graph by $by") or diag($derr);
	is(scalar(() = $dsvg =~ /<g id="node\d+" class="node">/g) . '/' . scalar(() = $dsvg =~ /<g id="edge\d+" class="edge">/g),
	   '4/3', "ids: by $by, 4 tasks and 3 edges (long ids kept apart)");
}

# ---------------------------------------------------------------------------
# Fuzz: 2,000 random names, random lengths, code points from every plane
# with XML's and DOT's troublemakers over-represented, in 10 jobs of 200.
my $seed = $ENV{RAYDAR_FUZZ_SEED} // int(rand(2**31));
note "fuzz seed $seed (RAYDAR_FUZZ_SEED=$seed replays it)";
srand($seed);
sub random_char
{
	my $r = rand;
	return chr(32 + int(rand(95))) if $r < 0.30;                                # printable ASCII
	return chr(1 + int(rand(31))) if $r < 0.42;                                 # C0 controls
	return (qw(< > & " ' \\), "\n", "\r", "\t", ';', '#')[ int(rand(11)) ] if $r < 0.52;
	return chr((0xFFFE, 0xFFFF, 0xFFFD, 0xFEFF, 0x7F, 0x85, 0x2028)[ int(rand(7)) ]) if $r < 0.58;
	if ($r < 0.78)                                                              # the BMP, no surrogates
	{
		my $c = 0x80 + int(rand(0x10000 - 0x80));
		return chr($c >= 0xD800 && $c < 0xE000 ? $c - 0x800 : $c);
	}
	return chr(0x10000 + int(rand(0x100000)));                                  # the other planes
}
my @fuzz;
for (1 .. 2000)
{
	my $r = rand;
	my $len = $r < 0.7 ? int(rand(40)) : $r < 0.97 ? 40 + int(rand(400)) : 1000 + int(rand(4000));
	push @fuzz, join('', map { random_char() } 1 .. $len);
}
my $t0 = time;
my ($JOBS, $PER) = (10, 200);
$q->(join('', map { job_sql("fuzz$_", '01000000', @fuzz[ $PER * $_ .. $PER * $_ + $PER - 1 ]) } 0 .. $JOBS - 1));
# All outputs in one query, each in hex (see text_of).
my %out;
for my $line (split /\n/, $q->(q{
	SELECT c, encode(convert_to(raydar.timeline_svg('01000000', c), 'UTF8'), 'hex'),
	       encode(convert_to(raydar.task_graph_dot('01000000', 'name', 'name', c), 'UTF8'), 'hex'),
	       encode(convert_to(raydar.chrome_trace('01000000', c)::text, 'UTF8'), 'hex')
	  FROM (SELECT DISTINCT cluster FROM raydar.task_history WHERE cluster LIKE 'fuzz%') h(c)}))
{
	my ($c, @hex) = split /\|/, $line;
	$out{$c} = [ map { pack('H*', $_) } @hex ];
}
is(scalar(keys %out), $JOBS, "fuzz: $JOBS jobs of $PER random names written");
my (@bad_svg, @bad_dot, @bad_trace, @bad_title, @bad_name, @files);
for my $j (0 .. $JOBS - 1)
{
	my $cluster = "fuzz$j";
	my ($svg, $dot, $json) = @{ $out{$cluster} // [ '', '', '' ] };
	PostgreSQL::Test::Utils::append_to_file("$tmp/$cluster.svg", $svg);
	my ($dsvg, $derr) = ('', '');
	my $ok = IPC::Run::run([ 'dot', '-Tsvg' ], '<', \$dot, '>', \$dsvg, '2>', \$derr);
	push @bad_dot, "$cluster: $derr" unless $ok && $derr eq '';
	PostgreSQL::Test::Utils::append_to_file("$tmp/$cluster.dot.svg", $dsvg);
	push @files, "$tmp/$cluster.svg", "$tmp/$cluster.dot.svg";
	my $tr = eval { JSON::PP->new->utf8->decode($json) };
	push @bad_trace, "$cluster: $@" unless ref $tr eq 'ARRAY';
	my %tn = map { ($_->{args}{task_id} // '') => $_->{name} } grep { ($_->{ph} // '') eq 'X' } @{ $tr // [] };
	push @bad_name, map { "$cluster t" . ($_ + 1) } grep { ($tn{ 't' . ($_ + 1) } // "\0") ne $fuzz[ $PER * $j + $_ ] } 0 .. $PER - 1;
}
my $titles = svg_titles(@files);
for my $j (0 .. $JOBS - 1)
{
	my $t = $titles->{"$tmp/fuzz$j.svg"};
	if (ref $t ne 'HASH') { push @bad_svg, "fuzz$j: " . ($t // 'not parsed'); next; }
	push @bad_svg, "fuzz$j (Graphviz): $titles->{\"$tmp/fuzz$j.dot.svg\"}" unless ref $titles->{"$tmp/fuzz$j.dot.svg"} eq 'HASH';
	for my $i (0 .. $PER - 1)
	{
		my $want = xml_chars($fuzz[ $PER * $j + $i ]) . ' (attempt 0) ' . ($i % 2 ? 'FAILED' : 'FINISHED') . ', 0.005 s';
		push @bad_title, "fuzz$j t" . ($i + 1) if ($t->{ 't' . ($i + 1) } // "\0") ne $want;
	}
}
($ok, $err) = run_on([ 'xmllint', '--noout' ], @files);
ok($ok && $err eq '', "fuzz: $JOBS timelines and $JOBS Graphviz renderings of 2,000 random names are XML (xmllint)")
  or diag(substr($err, 0, 2000));
is(join("\n", @bad_svg), '', 'fuzz: every timeline and Graphviz SVG parses (minidom)');
is(join("\n", @bad_dot), '', 'fuzz: dot -Tsvg renders every graph without a warning');
is(join("\n", @bad_trace), '', 'fuzz: every Chrome trace is JSON');
is(join(' ', @bad_title[0 .. ($#bad_title < 9 ? $#bad_title : 9)]), '', 'fuzz: every tooltip reads back as its name');
is(join(' ', @bad_name[0 .. ($#bad_name < 9 ? $#bad_name : 9)]), '', 'fuzz: every trace event name reads back exactly');
# Every name alone, through the escaping helpers, inside PostgreSQL's XML
# parser: as element text and as an attribute.
is($q->(q{SELECT count(*) FROM raydar.task_history
           WHERE cluster LIKE 'fuzz%'
             AND NOT xml_is_well_formed_document('<a b="' || raydar._xml(name) || '">' || raydar._xml(name) || '</a>')}),
   '0', 'fuzz: every name escaped by _xml is XML, as text and as attribute');
note sprintf('fuzz of 2,000 names: %.1f s', time - $t0);

$node->stop;
done_testing();
