# 088_tutorials.pl: the tutorials run as written. Every ```sql block of the files below runs, in
# order, in one fresh database (the model path '/path/to/all-MiniLM-L6-v2' replaced by the test
# model, '/path/to/ms-marco-MiniLM-L-12-v2' by the cross-encoder fixture of random weights); where a
# ```text block follows, psql's output must be exactly that. Blocks under a heading that mentions
# pgvector are skipped when the vector extension is not installed.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use Test::More;
use TfmTest;

TfmTest::require_env();
# the cross-encoder of the rerank section (test/make_seqcls_models.js, run by scripts/test.sh)
die "PG_TFM_SEQCLS is not set (scripts/test.sh sets it)" unless $ENV{PG_TFM_SEQCLS};
my @docs = ('docs/tutorial-search.md', 'docs/tutorial-fraud.md');
my $has_vector = psql('postgres', "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'");
my $off = log_offset();

# (heading, sql, expected output or undef) of each sql block of a markdown file
sub blocks
{
	my ($file) = @_;
	open my $fh, '<', "$FindBin::Bin/../../$file" or die "$file: $!";
	my @lines = <$fh>;
	close $fh;
	my ($heading, @out) = ('');
	for (my $i = 0; $i < @lines; $i++)
	{
		$heading = $1 if $lines[$i] =~ /^#+\s+(.*)/;
		next unless $lines[$i] =~ /^```sql\s*$/;
		my $sql = '';
		$sql .= $lines[$i] while ++$i < @lines && $lines[$i] !~ /^```\s*$/;
		my $j = $i + 1;
		$j++ while $j < @lines && $lines[$j] =~ /^\s*$/;
		my $want;
		if ($j < @lines && $lines[$j] =~ /^```text\s*$/)
		{
			$want = '';
			$want .= $lines[$j] while ++$j < @lines && $lines[$j] !~ /^```\s*$/;
			$i = $j;
		}
		push @out, [ $heading, $sql, $want ];
	}
	return @out;
}

# psql output without trailing blanks
sub tidy { my ($t) = @_; $t =~ s/[ \t]+$//mg; $t =~ s/\n+\z//; $t =~ s/\A\n+//; return $t; }

for my $doc (@docs)
{
	(my $name = $doc) =~ s{.*/|\.md$}{}g;
	$name =~ s/-/_/g;
	my $db = empty_db("tap_doc_$name");
	my @b = blocks($doc);
	cmp_ok(scalar @b, '>=', 5, "$doc has " . scalar(@b) . ' SQL blocks');
	my $n = 0;
	for my $b (@b)
	{
		my ($heading, $sql, $want) = @$b;
		$n++;
		my $first = (grep { /\S/ && !/^\s*--/ } split /\n/, $sql)[0] // '';
		my $label = "$doc block $n ($heading): " . substr($first, 0, 60);
		if ($heading =~ /pgvector/i && !$has_vector)
		{
			note("skipped, pgvector is not installed: $label");
			next;
		}
		$sql =~ s{/path/to/all-MiniLM-L6-v2}{$MODEL_DIR}g;
		# a cross-encoder with RANDOM weights (test/make_seqcls_models.js): the tutorial shows no scores
		$sql =~ s{/path/to/ms-marco-MiniLM-L-12-v2}{$ENV{PG_TFM_SEQCLS}/ce}g;
		my ($rc, $out, $err) = psql_result($db, $sql, aligned => 1);
		is($rc, 0, "runs: $label") or diag $err;
		is(tidy($out), tidy($want), "output as shown: $label") if defined $want;
	}
}
check_no_crash($off);
done_testing();
