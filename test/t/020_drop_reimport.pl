# 020_drop_reimport.pl: a model is dropped and imported again while another session uses it;
# the running query finishes on the old mapping, the next one maps the new version
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use Test::More;
use File::Basename qw(basename);
use TfmTest;

TfmTest::require_env();

my $db = new_db('tap_cache_020');
my $oid = db_oid($db);
my $off = log_offset();
my $text = 'A model is dropped and imported again while it is in use.';
(my $dir = $MODEL_DIR) =~ s/'/''/g;
my $import = "SELECT id FROM tfm_import('minilm', '$dir', '{\"max_tokens\": 256}')";
my $lockkey = 10020;

my $a = session($db);
my $b = session($db);
my $old_id = model_id($db);
my $old_sha = psql($db, "SELECT sha256 FROM tfm.models WHERE id = $old_id");
my $expected = $a->query(embed_sql($text));
like($expected, qr/^\{(?:[-0-9.e]+,){383}[-0-9.e]+\}$/, 'A: a 384-d embedding');
is($b->query(embed_sql($text)), $expected, 'B: the same embedding');
is($a->query('SELECT string_agg(model_id::text, \',\') FROM tfm_cache()'), $old_id, "A maps model $old_id");
my ($old_file) = cache_files($oid, $old_id);
ok(defined $old_file && -f $old_file, 'the cache file of the old version exists');

# A runs one long query that embeds until B lets go of an advisory lock
$b->query("SELECT pg_advisory_lock($lockkey)");
(my $q = $text) =~ s/'/''/g;
$a->send(<<"SQL");
WITH RECURSIVE r(i, e) AS (
    SELECT 1, tfm_embed('$q', 'minilm')::text
  UNION ALL
    SELECT i + 1, tfm_embed('$q' || repeat(' ', i % 2), 'minilm')::text
    FROM r WHERE i < 20000 AND NOT pg_try_advisory_xact_lock_shared($lockkey)
)
SELECT count(*), count(*) FILTER (WHERE e = '$expected') FROM r
SQL
my $a_active = sub {
	psql('postgres', "SELECT state FROM pg_stat_activity WHERE pid = " . $a->pid) eq 'active';
};
ok(wait_until($a_active), 'A: the long query runs');
select(undef, undef, undef, 0.5);

my ($out, $err) = $b->query("SELECT tfm_drop('minilm')");
is($err, '', 'B: tfm_drop succeeds while A computes');
ok(!-e $old_file, 'the old cache file is gone right after the drop');
is($b->query('SELECT count(*) FROM tfm_cache()'), '0', 'B: the dropping session forgot its handle');
my ($rc, undef, $err2) = psql_result($db, embed_sql($text));
like($err2, qr/model "minilm" does not exist/, 'a new session: the dropped model does not exist');
my $new_id = $b->query($import);
isnt($new_id, $old_id, "B: the re-imported model has a new id ($new_id)");
is(psql($db, "SELECT sha256 FROM tfm.models WHERE id = $new_id"), $old_sha, 'same weights, same sha256');
ok($a_active->(), 'A: the long query is still running after the drop and the import');
ok(!$a->done, 'A: no answer yet');
$b->query("SELECT pg_advisory_unlock($lockkey)");
($out, $err) = $a->wait;
is($err, '', 'A: the query that ran during the drop completes without error');
my ($n, $same) = split /\|/, $out // '';
cmp_ok($n // 0, '>', 1, "A: it computed $n embeddings");
is($same, $n, 'A: all of them equal the embedding from before the drop');

is($a->query(embed_sql($text)), $expected, 'A: the next query gives the same embedding');
my @a_ids = split /,/, $a->query('SELECT string_agg(model_id::text, \',\' ORDER BY model_id) FROM tfm_cache()');
ok((grep { $_ eq $new_id } @a_ids), "A: tfm_cache() shows the new model id $new_id");
is($a->query("SELECT hits FROM tfm_cache() WHERE model_id = $new_id"), '1', 'A: the new version was used once');
TODO:
{
	local $TODO = 'a backend keeps its handle (and mapping) of a version another session dropped';
	is_deeply(\@a_ids, [$new_id], 'A: tfm_cache() no longer lists the dropped version');
}
is($b->query(embed_sql($text)), $expected, 'B: the new version gives the same embedding');
is($b->query('SELECT string_agg(model_id::text, \',\') FROM tfm_cache()'), $new_id, 'B maps only the new version');
ok(!-e $old_file, 'the old cache file is still gone');
my @new_files = cache_files($oid, $new_id);
is_deeply([ map { basename($_) } @new_files ], ["${oid}_${new_id}_$old_sha.bin"], 'one cache file, of the new version');
is_deeply([ cache_files($oid, $old_id) ], [], 'no cache file of the old version');
is_deeply([ tmp_files($oid) ], [], 'no temporary files left');

# a session whose snapshot still sees a version when it is dropped must not leave its file behind
my $c = session($db);
$c->query('BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM tfm.model');
$b->query("SELECT tfm_drop('minilm')");
is_deeply([ cache_files($oid, $new_id) ], [], 'the drop removed the cache file of the new version');
($out, $err) = $c->query(embed_sql($text));
is($err, '', 'C: the version its snapshot sees still embeds');
$c->query('COMMIT');
is(psql($db, 'SELECT count(*) FROM tfm.model'), '0', 'no model left in the catalog');
TODO:
{
	local $TODO = 'a build in a snapshot that predates a drop leaves the file of the dropped version';
	my @orphans = cache_files($oid);
	ok(!@orphans, 'no cache file of a dropped version remains')
	  or diag 'left: ' . join ' ', map { basename($_) } @orphans;
}

# DROP EXTENSION restarts the ids: a new import of the same weights with another tokenizer gets
# the id and sha256 (of the weights) of the old version, whose cache file is still there
$_->close for $a, $b, $c;
ok(no_backends_in($db), 'no session left in the database');
psql($db, "DROP EXTENSION pg_tfm; CREATE EXTENSION pg_tfm; $import");
my $lowercased = psql($db, "SELECT tfm_tokenize('Hello World', 'minilm')");
is($lowercased, '{101,7592,2088,102}', 'the model lowercases: Hello World -> hello world');
my ($rc3, $emb3) = psql_result($db, embed_sql($text));
is($emb3, $expected, 'and embeds as before (its cache file is built)');
ok(no_backends_in($db), 'no session maps the file');
psql($db, "DROP EXTENSION pg_tfm; CREATE EXTENSION pg_tfm");
my ($weights) = map { s/'/''/gr } glob("$MODEL_DIR/*.safetensors");
my $cased_id = psql($db, <<"SQL");
SELECT id FROM tfm_import('minilm', pg_read_file('$dir/config.json')::jsonb,
    jsonb_set(pg_read_file('$dir/tokenizer.json')::jsonb, '{normalizer,lowercase}', 'false'),
    pg_read_binary_file('$weights'), '{"max_tokens": 256}')
SQL
note "the re-created extension gave the new version id $cased_id";
TODO:
{
	local $TODO = 'the cache file name (dboid, id, sha256 of the weights) does not cover the tokenizer '
	  . 'and ids restart after DROP EXTENSION: a stale file is served';
	isnt(psql($db, "SELECT tfm_tokenize('Hello World', 'minilm')"), $lowercased,
		'a version without lowercasing does not lowercase');
}

check_no_crash($off, allow => qr/ERROR:  model "minilm" does not exist/);
drop_db($db);
done_testing();
