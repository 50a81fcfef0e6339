# 085_fdw.pl: scale-out with postgres_fdw. Two shard clusters (initdb'd here, each with pg_tfm and
# the same model imported and the same head trained) hold the partitions of a table the
# coordinator (the running cluster) sees as a partitioned table of postgres_fdw foreign tables
# (extensions 'pg_tfm', async_capable 'true'). The IMMUTABLE model functions are shipped in WHERE
# clauses: EXPLAIN VERBOSE shows tfm_classify/tfm_embed inside each Remote SQL and both shards
# scanned asynchronously; the STABLE one-argument form is not shipped. PostgreSQL 15's postgres_fdw
# ships no SELECT-list expression of a plain scan and no partial aggregate, so per-row results are
# computed on the shards through a view there (docs/scale-out.md). Every result equals that of the
# same rows in one local table, bit for bit
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use Test::More;
use TfmTest;

TfmTest::require_env('PG_TFM_PGCTL');

my $models_sql = "CREATE EXTENSION IF NOT EXISTS pg_tfm;\n"
  . tiny_models_sql(temp => 1, train_options => '{"epochs": 5, "seed": 3}');
my $rows_sql = "SELECT i AS id, (ARRAY['Win a free cruise, click here', 'Minutes of Tuesday''s meeting attached', "
  . "'Cheap meds without prescription', 'Can we move the review to Friday?', 'You have been selected for a prize'])[1 + i % 5]"
  . " || ' #' || i AS body FROM generate_series(1, 60) i";

my $off = log_offset();
my @shards;
for my $i (1, 2)
{
	my $n = node_start(node_init("shard$i"));
	psql('postgres', 'CREATE DATABASE shard', node => $n);
	psql('shard', $models_sql . "CREATE TABLE docs (id int PRIMARY KEY, body text);
CREATE VIEW docs_ml AS SELECT id, body, tfm_embed(body, 'minilm') AS emb, tfm_classify(body, 'tiny') AS class,
  tfm_score(body, 'tiny', 'spam') AS p_spam FROM docs;", node => $n);
	push @shards, $n;
}
is(psql('shard', "SELECT sha256 FROM tfm.models WHERE name = 'tiny'", node => $shards[0]),
	psql('shard', "SELECT sha256 FROM tfm.models WHERE name = 'tiny'", node => $shards[1]),
	'both shards trained the same head (same seed, same rows)');

my $db = empty_db('tap_fdw_085');
psql($db, $models_sql);
psql($db, "CREATE TABLE docs_local AS $rows_sql; CREATE EXTENSION postgres_fdw;
CREATE TABLE dist (id int, body text) PARTITION BY HASH (id);
CREATE TABLE dist_ml (id int, body text, emb real[], class text, p_spam real) PARTITION BY HASH (id);");
for my $i (1, 2)
{
	my $n = $shards[$i - 1];
	psql($db, "CREATE SERVER shard$i FOREIGN DATA WRAPPER postgres_fdw
  OPTIONS (host '$n->{sock}', port '$n->{port}', dbname 'shard', extensions 'pg_tfm', async_capable 'true');
CREATE USER MAPPING FOR CURRENT_USER SERVER shard$i OPTIONS (user 'postgres');
CREATE FOREIGN TABLE dist_$i PARTITION OF dist FOR VALUES WITH (MODULUS 2, REMAINDER " . ($i - 1) . ")
  SERVER shard$i OPTIONS (table_name 'docs');
CREATE FOREIGN TABLE dist_ml_$i PARTITION OF dist_ml FOR VALUES WITH (MODULUS 2, REMAINDER " . ($i - 1) . ")
  SERVER shard$i OPTIONS (table_name 'docs_ml');");
}
psql($db, "INSERT INTO dist $rows_sql");
my @counts = map { psql('shard', 'SELECT count(*) FROM docs', node => $_) } @shards;
ok($counts[0] > 10 && $counts[1] > 10 && $counts[0] + $counts[1] == 60, "the 60 rows were routed to both shards (@counts)");

# plan (EXPLAIN VERBOSE) and result of a query on the coordinator; the result of the same query on
# the local table; sorted lines (an ORDER BY would put a Merge Append between Append and the scans)
sub run_both
{
	my ($sql) = @_;
	(my $local = $sql) =~ s/\bdist(_ml)?\b/docs_local_ml/g;
	my @r = map { join "\n", sort split /\n/, psql($db, $_) } ($sql, $local);
	return (psql($db, "EXPLAIN (VERBOSE, COSTS OFF) $sql"), @r);
}
psql($db, "CREATE VIEW docs_local_ml AS SELECT id, body, tfm_embed(body, 'minilm') AS emb, tfm_classify(body, 'tiny') AS class,
  tfm_score(body, 'tiny', 'spam') AS p_spam FROM docs_local");

my @cases = (
	[ where => "SELECT id, body FROM dist WHERE tfm_classify(body, 'tiny') = 'spam'", qr/WHERE \(\(public\.tfm_classify\(body, 'tiny'::text\) = 'spam'::text\)\)/ ],
	[ embed => "SELECT id FROM dist WHERE tfm_embed(body, 'minilm') IS NOT NULL AND tfm_score(body, 'tiny', 'spam') < 0.5",
	  qr/WHERE \(\(public\.tfm_embed\(body, 'minilm'::text\) IS NOT NULL\)\) AND \(\(public\.tfm_score\(body, 'tiny'::text, 'spam'::text\) < 0.5/ ],
	[ view => "SELECT id, emb::text, class, p_spam::text FROM dist_ml", qr/SELECT id, emb, class, p_spam FROM public\.docs_ml/ ],
);
for my $c (@cases)
{
	my ($k, $sql, $re) = @$c;
	my ($plan, $got, $want) = run_both($sql);
	my @remote = $plan =~ /Remote SQL: (.*)/g;
	is(scalar(grep { $_ =~ $re } @remote), 2, "$k: both Remote SQLs compute it on the shard") or diag $plan;
	like($plan, qr/Async Foreign Scan.*Async Foreign Scan/s, "$k: both shards are scanned asynchronously") or diag $plan;
	unlike($plan, qr/Output: .*tfm_/, "$k: the coordinator calls no model function") or diag $plan;
	my $n = () = $want =~ /\n/g;
	cmp_ok($n, '>=', 10, "$k: " . ($n + 1) . ' rows');
	is($got, $want, "$k: the distributed result equals the single-node one");
}

# what PostgreSQL 15 does not ship: SELECT-list expressions of a plain scan, partial aggregates
my $plan = psql($db, "EXPLAIN (VERBOSE, COSTS OFF) SELECT tfm_embed(body, 'minilm') FROM dist");
like($plan, qr/Output: tfm_embed\(dist_1\.body, 'minilm'::text\)/, 'a SELECT-list call on a plain scan runs on the coordinator (why the view)');
is(psql($db, "SELECT id, tfm_embed(body, 'minilm')::text, tfm_score(body, 'tiny', 'spam')::text FROM dist ORDER BY id"),
	psql($db, "SELECT id, tfm_embed(body, 'minilm')::text, tfm_score(body, 'tiny', 'spam')::text FROM docs_local ORDER BY id"),
	'and gives the same values');
my $stable = psql($db, "EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM dist WHERE tfm_classify(body) = 'spam'");
like($stable, qr/Filter: \(tfm_classify\(dist_\d\.body\) = 'spam'::text\)/, 'the STABLE one-argument form filters on the coordinator');
unlike(join(' ', $stable =~ /Remote SQL: (.*)/g), qr/tfm_classify/, 'the STABLE one-argument form is not shipped (it reads pg_tfm.default_model)');

for my $n (@shards)
{
	open my $lh, '<', $n->{log} or die "$n->{log}: $!";
	my @bad = grep { /terminated by signal|PANIC|\b(ERROR|FATAL):/ } <$lh>;
	close $lh;
	ok(!@bad, "$n->{name} log: no crash, no ERROR or FATAL") or diag join '', @bad;
	node_stop($n);
}
check_no_crash($off);
done_testing();
