# 070_dump_restore.pl: pg_dump -Fc of a database with an imported model and a trained head,
# restored with a plain pg_restore into a new database: the catalog rows, weights and heads come
# back unchanged, the models give bit-identical embeddings, classes and scores, and a later import
# continues the id sequence. Then a user table whose stored generated column calls tfm_embed and
# whose expression index calls tfm_classify: restored in the documented order (docs/operations.md:
# pre-data, the tfm data, the other data, post-data), its values come back the same
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use Test::More;
use File::Temp ();
use IPC::Run ();
use TfmTest;

TfmTest::require_env();

(my $dir = $MODEL_DIR) =~ s/'/''/g;
my $src = empty_db('tap_dump_070_src');
my $dst = empty_db('tap_dump_070_dst');
my $dst2 = empty_db('tap_dump_070_dst2');
my $tmp = File::Temp->newdir('pg_tfm_dump_XXXX', TMPDIR => 1);
my $file = "$tmp/src.dump";
my $file2 = "$tmp/src2.dump";
my $off = log_offset();

psql($src, "CREATE EXTENSION pg_tfm");
psql($src, tiny_models_sql());

my $mail_sql = <<'SQL';
-- a user table computing embeddings and classes from the models (needs them while restoring)
CREATE TABLE mail (id int PRIMARY KEY, body text,
                   emb real[] GENERATED ALWAYS AS (tfm_embed(body, 'minilm')) STORED);
CREATE INDEX mail_class ON mail ((tfm_classify(body, 'tiny')));
INSERT INTO mail (id, body) VALUES (1, 'Buy cheap pills now!'), (2, 'Agenda of the review meeting'),
  (3, 'ünïcödé and emoji 🙂 text'), (4, NULL), (5, 'Limited offer: pills, cheap');
SQL

my @texts = ('Buy cheap pills now!', 'Agenda of the review meeting', 'ünïcödé and emoji 🙂 text', 'x');
my $values_sql = join(";\n", map {
	"SELECT tfm_embed('$_', 'minilm')::text, tfm_classify('$_', 'tiny'), tfm_score('$_', 'tiny', 'spam')::text"
} @texts) . ";\nSELECT e.ordinality, e.embedding::text FROM tfm_embed(ARRAY['" . join("', '", @texts) . "'], 'minilm') e";
my $catalog_sql = "SELECT name, version, sha256, architecture, task, labels, dim, max_tokens, params, options, metrics, base, "
  . "training, owner, created_at, id FROM tfm.models ORDER BY id";
my $internal_sql = "SELECT id, cache_key, md5(config::text), md5(tokenizer::text), md5(head), base_id, encoder_id, "
  . "(SELECT count(*) || ' ' || md5(string_agg(md5(data), '' ORDER BY seq)) FROM tfm.model_data d WHERE d.model_id = m.id) "
  . "FROM tfm.model m ORDER BY id";
my $table_sql = "SET enable_seqscan = off; SELECT id, emb::text, tfm_classify(body, 'tiny') FROM mail ORDER BY id; "
  . "SELECT string_agg(id::text, ',' ORDER BY id) FROM mail WHERE tfm_classify(body, 'tiny') = 'spam'";

my %want = (catalog => psql($src, $catalog_sql), internal => psql($src, $internal_sql), values => psql($src, $values_sql));
like($want{catalog}, qr/^minilm\|1\|[0-9a-f]{64}\|.*\ntiny\|1\|[0-9a-f]{64}\|.*\|minilm\@1\|/, 'an imported and a trained model');

# pg_dump and pg_restore of the private installation (the first in PATH); (rc, stderr)
sub run_tool
{
	my @cmd = @_;
	my ($out, $err) = ('', '');
	my $ok = eval { IPC::Run::run(\@cmd, '<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout($TIMEOUT)) };
	return ($ok ? 0 : ($? >> 8 || 1), $err . ($@ // ''));
}

# pg_dump warns about the self-references of tfm.model (base_id, encoder_id); nothing else
sub dump_ok
{
	my ($db, $to) = @_;
	my ($rc, $err) = run_tool('pg_dump', '-Fc', '-f', $to, '-d', $db);
	is($rc, 0, "pg_dump -Fc $db succeeded") or diag $err;
	my @other = grep { !/circular foreign-key constraints on this table|^pg_dump: detail: model$|You might not be able|Consider using a full dump/ }
	  split /\n/, $err;
	is_deeply(\@other, [], 'pg_dump printed nothing but the note on the self-referencing tfm.model') or diag $err;
	cmp_ok(-s $to, '>', 20_000_000, sprintf('the dump holds the weights (%.1f MB)', (-s $to) / 1e6));
}

# 1. a plain pg_restore of models and heads
dump_ok($src, $file);
my ($rc, $err) = run_tool('pg_restore', '--exit-on-error', '-d', $dst, $file);
is($rc, 0, 'pg_restore into a new database succeeded');
is($err, '', 'pg_restore printed no error or warning') or diag $err;

is(psql($dst, "SELECT extversion FROM pg_extension WHERE extname = 'pg_tfm'"),
	psql($src, "SELECT extversion FROM pg_extension WHERE extname = 'pg_tfm'"), 'the same extension version');
is(psql($dst, $catalog_sql), $want{catalog}, 'tfm.models rows equal (name, version, sha256, labels, metrics, base, training, ids)');
is(psql($dst, $internal_sql), $want{internal}, 'tfm.model internals (cache_key, config, tokenizer, head) and weight chunks equal');
is(psql($dst, $values_sql), $want{values}, 'embeddings (per row and bulk), classes and scores bit-identical after the restore');

# the restored database materialises its own cache file; ids continue after the restored ones
my $id = model_id($dst, 'minilm');
ok(scalar(cache_files(db_oid($dst), $id)) == 1, "the restored database has its own cache file for model $id (tiny's encoder)");
my $next = psql($dst, "SELECT id FROM tfm_import('minilm', '$dir', '{\"max_tokens\": 64}')");
cmp_ok($next, '>', model_id($dst, 'tiny'), 'a new import continues the id sequence');
is(psql($dst, "SELECT max(version) FROM tfm.models WHERE name = 'minilm'"), '2', 'and adds version 2 of minilm');

# 2. a generated column and an expression index that call pg_tfm: pg_restore loads public.mail
# before tfm.model (data is ordered by schema name), so the tfm data goes first
psql($src, $mail_sql);
$want{table} = psql($src, $table_sql);
like($want{table}, qr/^1\|\{[-0-9.e,]+\}\|spam\n2\|\{.*\|ham\n.*\n4\|\|\n5\|\{.*\|spam\n1,5$/s,
	'the generated column has the embeddings, the index finds the spam rows');
dump_ok($src, $file2);
for my $step (['--section=pre-data'], ['--data-only', '--schema=tfm'], ['--data-only', '--exclude-schema=tfm'],
	['--section=post-data'])
{
	($rc, $err) = run_tool('pg_restore', '--exit-on-error', '-d', $dst2, @$step, $file2);
	is($rc, 0, "pg_restore @$step succeeded") or diag $err;
}
is(psql($dst2, $catalog_sql), $want{catalog}, 'tfm.models rows equal');
is(psql($dst2, $values_sql), $want{values}, 'embeddings, classes and scores bit-identical');
is(psql($dst2, $table_sql), $want{table}, 'the generated column and the expression index give the same rows');
($rc, $err) = run_tool('pg_restore', '-l', $file2);
like($err . join("\n", grep { / TABLE DATA / } split /\n/, `pg_restore -l '$file2'`),
	qr/TABLE DATA public mail .*\n.*TABLE DATA tfm model /s, 'the archive orders public.mail before tfm.model (why the order above)');

check_no_crash($off);
done_testing();
