# 087_pgvector.pl: pg_tfm embeddings in pgvector (runs only where the vector extension is
# installed; skipped otherwise, saying why). tfm_embed(t, 'minilm')::vector(384) keeps every value,
# a wrong dimension is refused, and an HNSW index (cosine) gives the same nearest neighbours as the
# exact dot product over real[] (the embeddings are L2-normalised), with the expected top hit
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use Test::More;
use TfmTest;

TfmTest::require_env();
my $avail = psql('postgres', "SELECT coalesce(max(default_version), '') FROM pg_available_extensions WHERE name = 'vector'");
plan(skip_all => 'pgvector is not installed here (pg_available_extensions has no "vector"; Debian bookworm '
	  . 'has no postgresql-15-pgvector package)') if $avail eq '';
note("pgvector $avail");

(my $dir = $MODEL_DIR) =~ s/'/''/g;
my $db = empty_db('tap_pgvector_087');
my $off = log_offset();
psql($db, <<"SQL");
SET client_min_messages = warning;
CREATE EXTENSION pg_tfm;
CREATE EXTENSION vector;
SELECT 1 FROM tfm_import('minilm', '$dir', '{"max_tokens": 64}');
CREATE TABLE docs (id int PRIMARY KEY, body text, emb real[], vec vector(384));
INSERT INTO docs (id, body) SELECT row_number() OVER (), b FROM unnest(ARRAY[
  'I forgot my password and cannot log in',
  'How to reset the router to factory settings',
  'The invoice for March is attached',
  'Our team won the football match on Sunday',
  'Bake the bread at 220 degrees for 30 minutes',
  'The train to Berlin is delayed by an hour',
  'Update your payment card before the subscription renews',
  'The cat sleeps on the warm windowsill',
  'Quarterly revenue grew by twelve percent',
  'Two-factor authentication codes arrive by SMS',
  'Add salt and pepper to the soup',
  'The flight was cancelled because of the storm']) b;
-- the bulk path fills real[]; pgvector's cast keeps every value
UPDATE docs d SET emb = e.embedding FROM tfm_embed((SELECT array_agg(body ORDER BY id) FROM docs), 'minilm') e
WHERE d.id = e.ordinality;
UPDATE docs SET vec = emb::vector(384);
CREATE INDEX docs_vec ON docs USING hnsw (vec vector_cosine_ops);
SQL

is(psql($db, "SELECT count(*) FILTER (WHERE vector_dims(vec) = 384 AND vec::real[] = emb) FROM docs"),
	'12', 'the cast to vector(384) keeps all 384 values of every row bit for bit');
is(psql($db, "SELECT count(*) FILTER (WHERE vec = tfm_embed(body, 'minilm')::vector(384)
  OR (SELECT max(abs(a - b)) FROM unnest(emb, tfm_embed(body, 'minilm')) u(a, b)) < 1e-6) FROM docs"),
	'12', 'tfm_embed(t, \'minilm\')::vector(384) per row equals the bulk-filled vectors (within 1e-6)');
my ($rc, $out, $err) = psql_result($db, "\\set VERBOSITY verbose\nSELECT tfm_embed('x', 'minilm')::vector(383)");
like($err, qr/ERROR:\s+22000: expected 383 dimensions, not 384/, 'a wrong dimension is refused by pgvector');

for my $query ('How do I change my password?', 'recipe for cooking dinner', 'travel disruption')
{
	my $q = "tfm_embed('$query', 'minilm')";
	my $knn = "SET enable_seqscan = off; SELECT id FROM docs ORDER BY vec <=> ${q}::vector(384) LIMIT 3";
	like(psql($db, "SET enable_seqscan = off; EXPLAIN (COSTS OFF) SELECT id FROM docs ORDER BY vec <=> ${q}::vector(384) LIMIT 3"),
		qr/Index Scan using docs_vec on docs/, "'$query': the HNSW index answers");
	my $exact = psql($db, "SELECT id FROM docs ORDER BY (SELECT sum(a * b) FROM unnest(emb, $q) u(a, b)) DESC LIMIT 3");
	is(psql($db, $knn), $exact, "'$query': HNSW neighbours equal the exact dot-product ranking ($exact)" =~ s/\n/,/gr);
}
is(psql($db, "SELECT body FROM docs ORDER BY vec <=> tfm_embed('How do I change my password?', 'minilm')::vector(384) LIMIT 1"),
	'I forgot my password and cannot log in', 'the nearest text to a password question is about the password');
is(psql($db, "SELECT round((1 - (vec <=> tfm_embed(body, 'minilm')::vector(384)))::numeric, 5) FROM docs WHERE id = 1"),
	'1.00000', 'cosine similarity of a text with itself is 1');

check_no_crash($off, allow => qr/expected 383 dimensions/);
done_testing();
