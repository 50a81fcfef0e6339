# TfmQuality.pm: how far bf16 and int8 models are from fp32 (issue 16, "quality measured, not assumed")
#
# Shared by test/t/058_precision_quality.pl (few texts, floors asserted) and test/bench/quality.sh (more
# texts, a table). In a database holding pg_tfm and all-MiniLM-L6-v2 imported as 'minilm' (fp32,
# max_tokens 256), setup() imports it again as minilm_bf16 and minilm_int8 and loads the golden texts
# and the SpamAssassin corpus; then, per precision against fp32:
#   cosines()   mean and min cosine of each text's embedding to its fp32 one (embeddings are L2-normalised)
#   overlap()   top-10 neighbour overlap: |top10_fp32 ∩ top10_p| / 10 averaged over queries, the query and
#               corpus both embedded at that precision (the corpus as its own queries, leave-one-out, or
#               the first texts as queries and the rest as corpus)
#   spam_f1()   F1 of label spam of a head trained on each precision's encoder (fine_tune head, one seed,
#               early stopping off) on held-out rows: tfm_train's own validation metrics, whose features
#               come from that precision both for training and scoring
# Embeddings go through the bulk path, tfm_embed(text[], model), in the order of the set's texts ($PER_ROW:
# one call per text; $SETTINGS: SQL run first, such as a cap on the CPU level).
package TfmQuality;

use strict;
use warnings;

use Exporter 'import';
use TfmTest qw(psql);

our @EXPORT = qw(quality_setup quality_set quality_measure spam_f1 spam_f1_line @PRECISIONS);
our @PRECISIONS = qw(bf16 int8);
# SQL run before each embedding query (e.g. "SET pg_tfm.cpu_features = 'avx2';"), for local()
our $SETTINGS = '';
# embed text by text (tfm_embed(text, model)) instead of the bulk path, for local()
our $PER_ROW = 0;

# import the reduced-precision models and load the texts (tables q_golden, q_spam) into db
sub quality_setup
{
	my ($db, $model_dir, $golden, $spam_csv) = @_;
	(my $dir = $model_dir) =~ s/'/''/g;
	my $sql = join '', map {
		"SELECT 1 FROM tfm_import('minilm_$_', '$dir', '{\"max_tokens\": 256, \"precision\": \"$_\"}');\n"
	} @PRECISIONS;
	psql($db, <<"SQL");
SET client_min_messages = warning;
$sql
CREATE TABLE q_golden_raw (j jsonb);
COPY q_golden_raw FROM '$golden/minilm/embeddings.jsonl' WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02');
CREATE TABLE q_golden AS SELECT row_number() OVER () AS n, j->>'text' AS t FROM q_golden_raw;
CREATE TABLE q_spam_raw (id text, grp text, subject text, body text, label text);
COPY q_spam_raw FROM '$spam_csv' (FORMAT csv, HEADER);
-- one fixed order, spread over the corpus (spam and ham groups alike), apart for subjects and bodies
CREATE TABLE q_subjects AS
  SELECT row_number() OVER (ORDER BY md5(id)) AS n, subject AS t, label FROM q_spam_raw WHERE subject <> '';
CREATE TABLE q_bodies AS
  SELECT row_number() OVER (ORDER BY md5('b' || id)) AS n, body AS t, label FROM q_spam_raw WHERE body <> '';
SQL
}

# SQL selecting the texts of a set, in order: golden (all), subjects or bodies (rows from..to of the order)
sub quality_set
{
	my ($table, $from, $to) = @_;
	my $where = defined $from ? "WHERE n BETWEEN $from AND $to" : '';
	return "SELECT t FROM q_$table $where ORDER BY n";
}

# embeddings (array refs) of the texts a query selects, with a model, in the query's order
sub embeddings
{
	my ($db, $query, $model) = @_;
	my $sql = $PER_ROW
	  ? "SELECT tfm_embed(t, '$model')::text FROM unnest(ARRAY($query)) WITH ORDINALITY u(t, n) ORDER BY n"
	  : "SELECT embedding::text FROM tfm_embed(ARRAY($query), '$model') ORDER BY ordinality";
	my $out = psql($db, "$SETTINGS\n$sql");
	return [ map { s/^\{|\}$//g; [ split /,/ ] } split /\n/, $out ];
}

# dot product of two vectors (the cosine of L2-normalised ones)
sub dot
{
	my ($a, $b) = @_;
	my $s = 0;
	$s += $a->[$_] * $b->[$_] for 0 .. $#$a;
	return $s;
}

# (mean, min) cosine between the rows of two lists of normalised embeddings
sub cosines
{
	my ($ref, $got) = @_;
	my ($sum, $min) = (0, 2);
	for my $i (0 .. $#$ref)
	{
		my $c = dot($ref->[$i], $got->[$i]);
		$sum += $c;
		$min = $c if $c < $min;
	}
	return ($sum / @$ref, $min);
}

# indices of the k corpus rows nearest a query (dot product), the query's own row left out if self >= 0
sub top_k
{
	my ($q, $corpus, $k, $self) = @_;
	my @s = map { $_ == $self ? -9 : dot($q, $corpus->[$_]) } 0 .. $#$corpus;
	my @i = sort { $s[$b] <=> $s[$a] || $a <=> $b } 0 .. $#$corpus;
	return @i[0 .. $k - 1];
}

# mean top-k overlap of a precision's neighbours with fp32's: nq > 0 takes the first nq rows as queries
# and the rest as corpus; nq == 0 takes every row as a query against the others
sub overlap
{
	my ($ref, $got, $nq, $k) = @_;
	$k //= 10;
	my ($sum, $n) = (0, 0);
	my $split = sub { my ($e) = @_; return $nq ? ([ @$e[0 .. $nq - 1] ], [ @$e[$nq .. $#$e] ]) : ($e, $e); };
	my ($rq, $rc) = $split->($ref);
	my ($gq, $gc) = $split->($got);
	for my $i (0 .. $#$rq)
	{
		my %want = map { $_ => 1 } top_k($rq->[$i], $rc, $k, $nq ? -1 : $i);
		$sum += grep { $want{$_} } top_k($gq->[$i], $gc, $k, $nq ? -1 : $i);
		$n++;
	}
	return $sum / ($n * $k);
}

# per set (name, query, nq: see overlap; undef for no retrieval) and precision, against fp32: a hash
# {set, precision, texts, mean, min, overlap (if nq is defined), line (the figures as one line)}
sub quality_measure
{
	my ($db, @sets) = @_;
	my @rows;
	my %ref = map { $_->[0] => embeddings($db, $_->[1], 'minilm') } @sets;
	for my $p (@PRECISIONS)
	{
		for my $s (@sets)
		{
			my ($name, $query, $nq) = @$s;
			my $got = embeddings($db, $query, "minilm_$p");
			my %r = (set => $name, precision => $p, texts => scalar @$got);
			($r{mean}, $r{min}) = cosines($ref{$name}, $got);
			$r{line} = sprintf('%s %-8s %5d texts: cosine to fp32 mean %.5f min %.5f', $p, $name, $r{texts}, $r{mean}, $r{min});
			if (defined $nq)
			{
				$r{overlap} = overlap($ref{$name}, $got, $nq);
				$r{line} .= sprintf(', top-10 overlap %.3f (%s)', $r{overlap},
					$nq ? "$nq queries over " . ($r{texts} - $nq) : 'each over the others');
			}
			push @rows, \%r;
		}
	}
	return @rows;
}

# the spam F1 figures of each precision (hash precision => F1, fp32 included) as one line
sub spam_f1_line
{
	my ($what, $f1) = @_;
	return sprintf('spam F1 (%s): fp32 %.4f', $what, $f1->{fp32})
	  . join('', map { sprintf(', %s %.4f (%+.4f)', $_, $f1->{$_}, $f1->{$_} - $f1->{fp32}) } @PRECISIONS);
}

# F1 of label spam on the held-out half of a set's rows 1..n, head trained on model's encoder (name: head)
sub spam_f1
{
	my ($db, $table, $n, $model, $head) = @_;
	psql($db, "SET client_min_messages = warning;\n"
		  . "CALL tfm_train('$head', '$model', 'SELECT t, label FROM q_$table WHERE n <= $n ORDER BY n', "
		  . "'classification', '{\"fine_tune\": \"head\", \"seed\": 16, \"validation_fraction\": 0.5, "
		  . "\"early_stopping\": false}')");
	return psql($db, "SELECT (metrics->'labels'->'spam'->>'f1')::float8 FROM tfm.models WHERE name = '$head'");
}

1;
