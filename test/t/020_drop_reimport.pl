# 020_drop_reimport.pl: a model is dropped and imported again while another session uses it;
# the running query finishes on the old mapping, the next one maps the new version; files of
# dropped versions go when the drop commits (and stay when it rolls back); a file built for a
# dropped version from an older snapshot is swept once it is old; DROP/CREATE EXTENSION never
# serves a stale file
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use Test::More;
use Fcntl qw(:flock);
use File::Basename qw(basename);
use TfmTest;

TfmTest::require_env();

my $db = new_db('tap_cache_020');
my $oid = db_oid($db);
my $off = log_offset();
my $text = 'A model is dropped and imported again while it is in use.';
my $emb_re = qr/^\{(?:[-0-9.e]+,){383}[-0-9.e]+\}$/;
my $lockkey = 10020;

# the files (cache, lock) in the cache directory of model ids of this database
sub files_of
{
	my @ids = @_;
	my %want = map { $_ => 1 } @ids;
	return sort grep { basename($_) =~ /^${oid}_(\d+)[_.]/ && $want{$1} } glob(TfmTest::cache_dir() . '/*');
}

# does a backend map a file (its /proc/PID/maps names it, deleted or not)
sub maps_file
{
	my ($pid, $path) = @_;
	open my $fh, '<', "/proc/$pid/maps" or return undef;
	my $hit = grep { index($_, $path) >= 0 } <$fh>;
	close $fh;
	return $hit ? 1 : 0;
}

my $a = session($db);
my $b = session($db);
my $old_id = model_id($db);
my $old_sha = psql($db, "SELECT sha256 FROM tfm.models WHERE id = $old_id");
my $old_key = cache_key($db, $old_id);
my $expected = $a->query(embed_sql($text));
like($expected, $emb_re, 'A: a 384-d embedding');
is($b->query(embed_sql($text)), $expected, 'B: the same embedding');
is($a->query('SELECT string_agg(model_id::text, \',\') FROM tfm_cache()'), $old_id, "A maps model $old_id");
my ($old_file) = cache_files($oid, $old_id);
ok(defined $old_file && -f $old_file, 'the cache file of the old version exists');
is(basename($old_file // ''), cache_file_name($oid, $old_id, $old_key), 'it is named <dboid>_<id>_<cache_key>.bin');
ok(maps_file($a->pid, $old_file), 'A maps it (/proc/PID/maps)');

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
ok(!-e $old_file, 'the old cache file is gone once the drop committed');
is_deeply([ files_of($old_id) ], [], 'and so is its lock file');
is($b->query('SELECT count(*) FROM tfm_cache()'), '0', 'B: the dropping session forgot its handle');
my ($rc, undef, $err2) = psql_result($db, embed_sql($text));
like($err2, qr/model "minilm" does not exist/, 'a new session: the dropped model does not exist');
my $new_id = $b->query(import_sql('minilm'));
isnt($new_id, $old_id, "B: the re-imported model has a new id ($new_id)");
is(psql($db, "SELECT sha256 FROM tfm.models WHERE id = $new_id"), $old_sha, 'same weights, same sha256');
my $new_key = cache_key($db, $new_id);
isnt($new_key, $old_key, 'but a new cache_key');
ok($a_active->(), 'A: the long query is still running after the drop and the import');
ok(!$a->done, 'A: no answer yet');
ok(maps_file($a->pid, $old_file), 'A: still maps the removed file of the dropped version');
$b->query("SELECT pg_advisory_unlock($lockkey)");
($out, $err) = $a->wait;
is($err, '', 'A: the query that ran during the drop completes without error');
my ($n, $same) = split /\|/, $out // '';
cmp_ok($n // 0, '>', 1, "A: it computed $n embeddings");
is($same, $n, 'A: all of them equal the embedding from before the drop');

# A's next statement resolves the model: it retires the handle of the dropped version and frees
# it when that transaction ends
is($a->query(embed_sql($text)), $expected, 'A: the next query gives the same embedding');
my @a_ids = split /,/, $a->query('SELECT string_agg(model_id::text, \',\' ORDER BY model_id) FROM tfm_cache()');
is_deeply(\@a_ids, [$new_id], "A: in the next transaction tfm_cache() lists only the new version $new_id");
is($a->query("SELECT hits FROM tfm_cache() WHERE model_id = $new_id"), '1', 'A: the new version was used once');
ok(!maps_file($a->pid, $old_file), 'A: no longer maps the file of the dropped version');
is($b->query(embed_sql($text)), $expected, 'B: the new version gives the same embedding');
is($b->query('SELECT string_agg(model_id::text, \',\') FROM tfm_cache()'), $new_id, 'B maps only the new version');
ok(!-e $old_file, 'the old cache file is still gone');
my ($new_file) = cache_files($oid, $new_id);
is_deeply([ map { basename($_) } cache_files($oid) ], [ cache_file_name($oid, $new_id, $new_key) ],
	'one cache file, of the new version, named by its new key');
is_deeply([ tmp_files($oid) ], [], 'no temporary files left');

# a retired handle of another session in the middle of its transaction: A runs BEGIN, resolves the
# model, B drops and re-imports, A resolves again in the same transaction (new version), COMMIT
{
	$a->query("BEGIN; " . embed_sql($text));
	$b->query("SELECT tfm_drop('minilm')");
	my $id3 = $b->query(import_sql('minilm'));
	is($a->query(embed_sql($text)), $expected, 'A (one transaction): the version imported meanwhile embeds the same');
	is($a->query('SELECT string_agg(model_id::text, \',\') FROM tfm_cache()'), $id3,
		'A (same transaction): tfm_cache() lists only the new version');
	($out, $err) = $a->query('COMMIT');
	is($err, '', 'A: COMMIT after its handle was retired mid-transaction');
	is($a->query('SELECT string_agg(model_id::text, \',\') FROM tfm_cache()'), $id3, 'A: the next transaction too');
	is_deeply([ files_of($new_id) ], [], "the files of the dropped version $new_id are gone");
	$new_id = $id3;
	$new_key = cache_key($db, $new_id);
	($new_file) = cache_files($oid, $new_id);
}

# a drop inside a transaction removes the files at COMMIT, a rolled-back drop keeps them
{
	ok(defined $new_file && -f $new_file, 'the file of the current version exists');
	my ($ino, $mtime) = (stat $new_file)[1, 9];
	my $off2 = log_offset();
	($out, $err) = $b->query("BEGIN; SELECT tfm_drop('minilm')");
	is($err, '', 'B: tfm_drop in an open transaction');
	ok(-f $new_file, 'the file stays while the dropping transaction is open');
	is($b->query('SELECT count(*) FROM tfm_cache()'), '0', 'B: the dropping session retired its handle');
	is($a->query(embed_sql($text)), $expected, 'A: the model still embeds while the drop is uncommitted');
	($out, $err) = $b->query('ROLLBACK');
	is($err, '', 'B: ROLLBACK');
	ok(-f $new_file, 'the rolled-back drop kept the file');
	is_deeply([ (stat $new_file)[1, 9] ], [ $ino, $mtime ], 'the same file (inode, mtime)');
	is($b->query(embed_sql($text)), $expected, 'B: the model works after the rolled-back drop');
	is($b->query('SELECT string_agg(model_id::text, \',\') FROM tfm_cache()'), $new_id, 'B maps it again');
	is(psql($db, embed_sql($text)), $expected, 'a new session: the model works');
	is_deeply([ (stat $new_file)[1, 9] ], [ $ino, $mtime ], 'the file was mapped, not rebuilt');
	unlike(TfmTest::log_since($off2), qr/failed its checks/, 'no file failed its checks');

	($out, $err) = $b->query("BEGIN; SELECT tfm_drop('minilm')");
	ok(-f $new_file, 'drop again: the file stays until COMMIT');
	$b->query('COMMIT');
	ok(!-e $new_file, 'COMMIT removed the file');
	is_deeply([ files_of($new_id) ], [], 'and the lock file');
	$new_id = $b->query(import_sql('minilm'));
	$new_key = cache_key($db, $new_id);
	is($b->query(embed_sql($text)), $expected, 'B: a new import embeds the same');
	($new_file) = cache_files($oid, $new_id);
}

# READ COMMITTED, a drop while a build is under way: D's statement sees version 'rc' and waits for
# the build lock (the test holds it); B drops 'rc' and commits; D then builds the file of a version
# that no longer exists
my @dropped;    # ids of dropped versions whose files a build from an older snapshot may leave
{
	my $rc_id = $b->query(import_sql('rc'));
	my $d = session($db);
	my $lock = TfmTest::cache_dir() . "/${oid}_$rc_id.lock";
	open my $lfh, '>>', $lock or die "$lock: $!";
	chown((stat TfmTest::cache_dir())[4, 5], $lock);
	flock($lfh, LOCK_EX) or die "flock $lock: $!";
	$d->send(embed_sql($text, 'rc'));
	ok(wait_until(sub { grep { (readlink($_) // '') eq $lock } glob('/proc/' . $d->pid . '/fd/*') }),
		'D: its first call of rc waits for the build lock');
	($out, $err) = $b->query("SELECT tfm_drop('rc')");
	is($err, '', 'B: drops rc (committed) while D waits to build it');
	close $lfh;
	($out, $err) = $d->wait;
	ok(($err eq '' && $out eq $expected) || $err =~ /ERROR/,
		'D: its statement, whose snapshot sees rc, gives the right embedding or an error')
	  or diag "out: $out\nerr: $err";
	note "D: " . ($err eq '' ? 'embedded from the dropped version' : "error: $err");
	$d->query('SELECT 1');
	$d->close;
	my @left = cache_files($oid, $rc_id);
	note 'files of the dropped version rc after the drop-while-building: ' . join(' ', map { basename($_) } @left);
	ok(!@left, 'READ COMMITTED drop while building: no cache file of the dropped version is left');
	push @dropped, $rc_id;
}

# REPEATABLE READ: C's snapshot predates the drop; its first call builds the file of the dropped
# version after the drop committed (a young orphan)
my $c = session($db);
$c->query('BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM tfm.model');
$b->query("SELECT tfm_drop('minilm')");
is_deeply([ cache_files($oid, $new_id) ], [], 'the drop removed the cache file of the current version');
($out, $err) = $c->query(embed_sql($text));
is($err, '', 'C: the version its snapshot sees still embeds');
is($out, $expected, 'C: with the right embedding');
$c->query('COMMIT');
is(psql($db, 'SELECT count(*) FROM tfm.model'), '0', 'no model left in the catalog');
push @dropped, $new_id;
note 'files of dropped versions after the REPEATABLE READ build: '
  . join(' ', map { basename($_) } files_of(@dropped));

# the build noticed, under the latest snapshot, that the drop committed meanwhile and removed its
# own file and lock file (sweeping of older orphans is covered by 050_sweep.pl)
{
	my @orphans = files_of(@dropped);
	ok(!@orphans, 'a build whose snapshot predates a committed drop leaves no file of the dropped version')
	  or diag 'files: ' . join ' ', map { basename($_) } @orphans;
}

# DROP EXTENSION restarts the ids: a new import of the same weights with another tokenizer gets
# the id and sha256 (of the weights) of the old version, but a new cache_key: a new file
$_->close for $a, $b, $c;
ok(no_backends_in($db), 'no session left in the database');
(my $dir = $MODEL_DIR) =~ s/'/''/g;
psql($db, "DROP EXTENSION pg_tfm; CREATE EXTENSION pg_tfm; " . import_sql('minilm'));
my $lower_id = model_id($db);
my $lower_key = cache_key($db, $lower_id);
my $lowercased = psql($db, "SELECT tfm_tokenize('Hello World', 'minilm')");
is($lowercased, '{101,7592,2088,102}', 'the model lowercases: Hello World -> hello world');
my ($rc3, $emb3) = psql_result($db, embed_sql($text));
is($emb3, $expected, 'and embeds as before (its cache file is built)');
my ($lower_file) = cache_files($oid, $lower_id);
ok(no_backends_in($db), 'no session maps the file');
psql($db, "DROP EXTENSION pg_tfm; CREATE EXTENSION pg_tfm");
ok(-f $lower_file, 'DROP EXTENSION does not remove the file (no tfm_drop runs)');
my ($weights) = map { s/'/''/gr } glob("$MODEL_DIR/*.safetensors");
my $cased_id = psql($db, <<"SQL");
SELECT id FROM tfm_import('minilm', pg_read_file('$dir/config.json')::jsonb,
    jsonb_set(pg_read_file('$dir/tokenizer.json')::jsonb, '{normalizer,lowercase}', 'false'),
    pg_read_binary_file('$weights'), '{"max_tokens": 256}')
SQL
my $cased_key = cache_key($db, $cased_id);
note "the re-created extension gave the new version id $cased_id (the lowercasing one had $lower_id)";
isnt($cased_key, $lower_key, 'the version of the re-created extension has a new cache_key');
isnt(psql($db, "SELECT tfm_tokenize('Hello World', 'minilm')"), $lowercased,
	'a version without lowercasing does not lowercase');
my $cased = psql($db, embed_sql('Hello World'));
like($cased, $emb_re, 'and embeds');
isnt($cased, psql($db, embed_sql('hello world')), 'Hello World and hello world embed differently now');
my $cased_file = TfmTest::cache_dir() . '/' . cache_file_name($oid, $cased_id, $cased_key);
ok(-f $cased_file, 'from a file named by the new key');
is(eval { read_header($cased_file)->{key} }, $cased_key, 'whose header holds the new key');
is_deeply([ sort(cache_files($oid, $cased_id)) ], [ sort($lower_file, $cased_file) ],
	"the files of both versions with id $cased_id are there, told apart by their keys")
  if $cased_id == $lower_id;

# the file of the previous extension's version is an orphan; when its id was reused it must still go
{
	ok(no_backends_in($db), 'no session maps the files');
	my $past = time - 700;
	utime $past, $past, $lower_file if -e $lower_file;
	psql($db, import_sql('sweeper2'));
	is(psql($db, embed_sql($text, 'sweeper2')), $expected, 'a materialisation in the database');
	ok(!-e $lower_file, 'the old file of the dropped extension is swept once older than 600 s, '
		  . 'even when its id is in use again (the cache_key differs)')
	  or diag 'left: ' . basename($lower_file);
	ok(-e $cased_file, 'the file of the live version is kept');
}

check_no_crash($off, allow => qr/ERROR:  model (?:"minilm" does not exist|\d+ no longer exists)/);
drop_db($db);
done_testing();
