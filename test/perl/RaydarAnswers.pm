# RaydarAnswers.pm
#	The fixed database the answer tests (090_answers.pl,
#	091_grafana_panels.pl) check exact output against, and a PNG reader
#	for the timeline's screenshot.
#
#	my ($node, $sims) = RaydarAnswers::populated_node('answers');
#
#	Three simulated clusters with fixed seeds and epoch and a frozen
#	clock (speed 0), advanced to a fixed instant, copied into the
#	collector's tables with INSERT ... SELECT from their foreign tables
#	(what the collector writes, without its timing):
#	  ray      scenario mixed at +3 s: failures, a retry, actors, a
#	           parent and child, tasks running and pending
#	  classic  Ray's classic example with 12 tasks at +4 s: 6 finished,
#	           2 running, 4 pending
#	  nested   parent, 3 children, 3 grandchildren at +1 s: all finished
#	All start at EPOCH, 2026-01-01 10:00:00 UTC.
package RaydarAnswers;

use strict;
use warnings;
use Compress::Zlib qw(uncompress);
use PostgreSQL::Test::Cluster;
use RaySim;

our $EPOCH_MS = 1767261600000;
our @CLUSTERS = (
	[ 'ray', { scenario => 'mixed', seed => 7 }, 3000 ],
	[ 'classic', { scenario => 'classic', scenario_params => { count => 12 }, seed => 11 }, 4000 ],
	[ 'nested', { scenario => 'nested', seed => 13 }, 1000 ]);

sub populated_node
{
	my ($name) = @_;
	my %sims;
	for my $c (@CLUSTERS)
	{
		my ($cluster, $opts, $advance_ms) = @$c;
		my $sim = RaySim->new(%$opts, epoch_ms => $EPOCH_MS, speed => 0, name => "${name}_$cluster");
		$sim->admin('POST', '/advance', { ms => $advance_ms });
		$sims{$cluster} = $sim;
	}
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(extra => [ '--encoding=UTF8', '--no-locale' ]);
	$node->append_conf('postgresql.conf', "shared_preload_libraries = 'raydar'\ntimezone = 'UTC'\n");
	$node->start;
	$node->safe_psql('postgres', q{
		CREATE EXTENSION raydar;
		-- The fixed epoch is outside the partitions made at install time.
		SELECT raydar._add_partitions('raydar', 'task_history', ARRAY['2026-01-01 10:00:00+00'::timestamptz]);});
	for my $cluster (sort keys %sims)
	{
		my $port = $sims{$cluster}->grpc_port;
		$node->safe_psql('postgres', qq{
			CREATE SERVER $cluster FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:$port');
			CREATE SCHEMA live_$cluster;
			IMPORT FOREIGN SCHEMA ray LIMIT TO (tasks, nodes, jobs) FROM SERVER $cluster INTO live_$cluster;
			INSERT INTO raydar.task_history SELECT *, '$cluster' FROM live_$cluster.tasks WHERE state IN ('FINISHED', 'FAILED');
			INSERT INTO raydar.task_live SELECT *, '$cluster' FROM live_$cluster.tasks WHERE state NOT IN ('FINISHED', 'FAILED');
			INSERT INTO raydar.node_history SELECT *, '$cluster' FROM live_$cluster.nodes;
			INSERT INTO raydar.job_history SELECT *, '$cluster' FROM live_$cluster.jobs;});
	}
	return ($node, \%sims);
}

# png_read(file): (width, height, pixel) where pixel->(x, y) is "#rrggbb".
# 8-bit RGB or RGBA, not interlaced: what Chromium's --screenshot writes.
sub png_read
{
	my ($file) = @_;
	open(my $fh, '<:raw', $file) or die "open $file: $!";
	local $/;
	my $data = <$fh>;
	close $fh;
	die "$file is not a PNG" unless substr($data, 0, 8) eq "\x89PNG\r\n\x1a\n";
	my ($pos, $idat, $w, $h, $depth, $ctype, $interlace) = (8, '');
	while ($pos < length $data)
	{
		my ($len, $type) = unpack('N a4', substr($data, $pos, 8));
		my $body = substr($data, $pos + 8, $len);
		if ($type eq 'IHDR')
		{
			($w, $h, $depth, $ctype, undef, undef, $interlace) = unpack('N N C C C C C', $body);
		}
		$idat .= $body if $type eq 'IDAT';
		$pos += 12 + $len;
	}
	die "$file: unsupported PNG (depth $depth, colour type $ctype, interlace $interlace)"
	  unless $depth == 8 && ($ctype == 2 || $ctype == 6) && !$interlace;
	my $bpp = $ctype == 6 ? 4 : 3;
	my $raw = uncompress($idat) // die "$file: bad zlib data";
	my $stride = $w * $bpp;
	my @rows;
	my @prev = (0) x $stride;
	for my $y (0 .. $h - 1)
	{
		my $off = $y * ($stride + 1);
		my $filter = ord(substr($raw, $off, 1));
		my @cur = unpack('C*', substr($raw, $off + 1, $stride));
		for my $i (0 .. $stride - 1)
		{
			my $a = $i >= $bpp ? $cur[ $i - $bpp ] : 0;
			my $b = $prev[$i];
			my $c = $i >= $bpp ? $prev[ $i - $bpp ] : 0;
			my $add = $filter == 0 ? 0
			  : $filter == 1 ? $a
			  : $filter == 2 ? $b
			  : $filter == 3 ? int(($a + $b) / 2)
			  : do {    # Paeth
				my $p = $a + $b - $c;
				my ($pa, $pb, $pc) = (abs($p - $a), abs($p - $b), abs($p - $c));
				$pa <= $pb && $pa <= $pc ? $a : $pb <= $pc ? $b : $c;
			  };
			$cur[$i] = ($cur[$i] + $add) & 0xff;
		}
		push @rows, [@cur];
		@prev = @cur;
	}
	my $pixel = sub {
		my ($x, $y) = @_;
		my $r = $rows[$y];
		return sprintf('#%02x%02x%02x', @$r[ $x * $bpp .. $x * $bpp + 2 ]);
	};
	return ($w, $h, $pixel);
}

1;
