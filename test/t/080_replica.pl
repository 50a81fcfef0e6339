# 080_replica.pl: a streaming standby made with pg_basebackup -R from the running cluster serves
# the models: it embeds, classifies and scores like the primary, building its cache files under
# its own $PGDATA/pg_tfm from the replicated catalog without writing a catalog row; a model
# imported on the primary after the base backup replicates and works there, a dropped one is gone;
# importing, training and dropping on the standby fail cleanly as read-only (25006)
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use Test::More;
use File::Basename qw(basename);
use TfmTest;

TfmTest::require_env('PG_TFM_PGCTL');

(my $dir = $MODEL_DIR) =~ s/'/''/g;
my $db = empty_db('tap_replica_080');
my $off = log_offset();
psql($db, "CREATE EXTENSION pg_tfm");
psql($db, tiny_models_sql());

my @texts = ('Buy cheap pills now!', 'Agenda of the review meeting', 'ünïcödé and emoji 🙂 text');
my $values_sql = join(";\n", map {
	"SELECT tfm_embed('$_', 'minilm')::text, tfm_classify('$_', 'tiny'), tfm_score('$_', 'tiny', 'spam')::text"
} @texts) . ";\nSELECT e.ordinality, e.embedding::text FROM tfm_embed(ARRAY['" . join("', '", @texts) . "'], 'minilm') e";
$values_sql .= ";\nSELECT tfm_evaluate('tiny', 'SELECT body, label FROM train')";
my $primary_values = psql($db, $values_sql);

# the standby, without the cache files the base backup copied: it must build its own
my $standby = node_basebackup('standby');
my @copied = glob("$standby->{dir}/pg_tfm/*.bin");
note(sprintf('the base backup copied %d cache file(s); removing them', scalar @copied));
unlink @copied;
node_start($standby);
my %on = (node => $standby);
is(psql($db, 'SELECT pg_is_in_recovery()', %on), 't', "the standby (port $standby->{port}) is in recovery");

# wait until the standby has replayed everything the primary wrote so far
sub caught_up
{
	my $lsn = psql('postgres', 'SELECT pg_current_wal_lsn()');
	return wait_until(sub { psql('postgres', "SELECT pg_last_wal_replay_lsn() >= '$lsn'", %on) eq 't' });
}
ok(caught_up(), 'the standby replayed the primary');

is(psql($db, $values_sql, %on), $primary_values, 'embeddings, bulk embeddings, classes, scores and tfm_evaluate equal the primary\'s');
my $oid = db_oid($db);
my $mid = model_id($db, 'minilm');
my @built = map { basename($_) } glob("$standby->{dir}/pg_tfm/${oid}_${mid}_*.bin");
is(scalar @built, 1, "the standby built its cache file under its own data directory (@built)");
is(psql($db, "SELECT count(tfm_classify('x', 'tiny')); SELECT string_agg(name || ' ' || (path LIKE '$standby->{dir}/pg_tfm/%'), ',') FROM tfm_cache()", %on),
	"1\ntiny true", 'tfm_cache() on the standby maps the file under its own data directory');

# a model imported on the primary after the base backup
psql($db, "SELECT 1 FROM tfm_import('minilm32', '$dir', '{\"max_tokens\": 32}')");
my $t = 'A model imported after the base backup, replicated through the WAL.';
my $want = psql($db, "SELECT tfm_embed('$t', 'minilm32')::text");
ok(caught_up(), 'the standby replayed the import');
is(psql($db, "SELECT tfm_embed('$t', 'minilm32')::text", %on), $want, 'the new model embeds the same on the standby');
is(psql($db, "SELECT version || ' ' || max_tokens || ' ' || sha256 FROM tfm.models WHERE name = 'minilm32'", %on),
	psql($db, "SELECT version || ' ' || max_tokens || ' ' || sha256 FROM tfm.models WHERE name = 'minilm32'"),
	'its catalog row replicated');

# writes on the standby are refused as read-only, not half done
for my $case (["SELECT tfm_import('x', '$dir', '{\"max_tokens\": 32}')", 'tfm_import'],
	["CALL tfm_train('tiny2', 'minilm', 'SELECT body, label FROM train', 'classification', '{\"epochs\": 1}')", 'tfm_train'],
	["SELECT tfm_drop('minilm32')", 'tfm_drop'])
{
	my ($rc, $out, $err) = psql_result($db, "\\set VERBOSITY verbose\n$case->[0]", %on);
	like($err, qr/ERROR:\s+25006: cannot execute $case->[1]\(\) in a read-only transaction/,
		"$case->[1] on the standby fails at once with 25006 (read-only transaction)");
}
is(psql($db, "SELECT tfm_classify('$texts[0]', 'tiny')", %on), (split /\|/, $primary_values)[1], 'the standby still works');

# a drop on the primary replicates
psql($db, "SELECT tfm_drop('minilm32')");
ok(caught_up(), 'the standby replayed the drop');
my ($rc, $out, $err) = psql_result($db, "\\set VERBOSITY verbose\nSELECT tfm_embed('x', 'minilm32')", %on);
like($err, qr/ERROR:\s+42704:/, 'the dropped model is unknown on the standby too (42704)');

# the standby's log: the refused writes, nothing else, in particular no attempt to write a catalog row
open my $lh, '<', $standby->{log} or die "$standby->{log}: $!";
my @log = <$lh>;
close $lh;
my @bad = grep { /terminated by signal|PANIC|\b(ERROR|FATAL):/
	  && !/ERROR:  cannot execute tfm_(import|train|drop)\(\) in a read-only transaction|ERROR:  model "minilm32" does not exist/ } @log;
ok(!@bad, 'standby log: no crash, no unexpected ERROR or FATAL') or diag join '', @bad;
my @ro = grep { /ERROR:.*read-only/ } @log;
is(scalar @ro, 3, 'standby log: exactly the three refused writes') or diag join '', @ro;

node_stop($standby);
ok(!-e $standby->{dir}, 'the standby is stopped and removed');
check_no_crash($off);
done_testing();
