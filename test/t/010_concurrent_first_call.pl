# 010_concurrent_first_call.pl: four sessions make the first call of a model version at the same
# moment; one of them builds the cache file under the lock, all get the same embedding
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use Test::More;
use File::Basename qw(basename);
use TfmTest;

TfmTest::require_env();

my $db = new_db('tap_cache_010');
my $oid = db_oid($db);
my $off = log_offset();
my $text = 'Four sessions ask for the same model at the same moment.';
my $lockkey = 10010;
my @s = map { session($db) } 1 .. 4;
my $holder = session($db);
my (@results, @keys);

# round 1 uses the imported model; rounds 2 and 3 new versions of it (new ids, same weights)
for my $round (1 .. 3)
{
	my $model = $round == 1 ? 'minilm' : "minilm_$round";
	psql($db, import_sql($model)) if $round > 1;
	my $id = model_id($db, $model);
	is(scalar(cache_files($oid, $id)), 0, "round $round: no cache file for model $id yet");

	# a barrier: the sessions queue on an advisory lock, then all start at once
	$holder->query("SELECT pg_advisory_lock($lockkey)");
	$_->send("BEGIN; SELECT pg_advisory_xact_lock_shared($lockkey); "
		  . embed_sql($text, $model) . "; COMMIT;") for @s;
	ok(wait_until(sub {
		psql($db, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $lockkey AND NOT granted") eq '4';
	}), "round $round: the four sessions wait at the barrier");
	$holder->query("SELECT pg_advisory_unlock($lockkey)");

	my @emb;
	for my $i (0 .. $#s)
	{
		my ($out, $err) = eval { $s[$i]->wait };
		is($err // $@, '', "round $round: session $i has no error");
		my ($e) = ($out // '') =~ /(\{[^}]*\})/;
		push @emb, $e // '';
	}
	note sprintf "round %d: the sessions answered after %s s", $round,
	  join(', ', map { sprintf '%.2f', $_->elapsed } @s);
	like($emb[0], qr/^\{(?:[-0-9.e]+,){383}[-0-9.e]+\}$/, "round $round: a 384-d embedding");
	is_deeply([ @emb[1 .. 3] ], [ ($emb[0]) x 3 ], "round $round: the four embeddings are identical");

	my @files = cache_files($oid, $id);
	is(scalar @files, 1, "round $round: exactly one cache file for model $id")
	  or diag join "\n", glob(TfmTest::cache_dir() . '/*');
	is_deeply([ tmp_files($oid) ], [], "round $round: no temporary files left");
	my $key = cache_key($db, $id);
	like($key, qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, "round $round: the version has a uuid cache_key");
	push @keys, $key;
	is(basename($files[0] // ''), cache_file_name($oid, $id, $key),
		"round $round: the file is named <dboid>_<id>_<cache_key>.bin");
	my $h = eval { read_header($files[0]) } // {};
	is($h->{key}, $key, "round $round: the header records the cache_key");
	is($h->{model_id}, $id, "round $round: the header records the model id");
	for my $i (0 .. $#s)
	{
		is($s[$i]->query("SELECT path FROM tfm_cache() WHERE model_id = $id"), $files[0] // '',
			"round $round: session $i maps that file");
	}
	is(psql($db, embed_sql($text, $model)), $emb[0], "round $round: a new session gets the same embedding from the file");
	push @results, $emb[0];
}
is_deeply([ @results[1, 2] ], [ ($results[0]) x 2 ], 'versions with the same weights give the same embedding');
my %distinct = map { $_ => 1 } @keys;
is(scalar keys %distinct, 3, 'the three versions have three different cache keys');

my $log = TfmTest::log_since($off);
unlike($log, qr/failed its checks/, 'no cache file failed its checks');
check_no_crash($off);

# DROP DATABASE cannot remove the files (no backend of the database is left to do it); the next
# materialisation of any model in another database sweeps them at once
$_->close for @s, $holder;
my @left = drop_db($db, keep => 1);
note 'DROP DATABASE left: ' . join ' ', map { basename($_) } @left;
my @left_bins = grep { /\.bin$/ } @left;
is(scalar @left_bins, 3, 'DROP DATABASE left the three cache files (nothing runs in a dropped database)');
my $other = new_db('tap_cache_010b');
my $off2 = log_offset();
is_deeply([ grep { -e } @left ], \@left, 'importing a model in another database does not touch them');
like(psql($other, embed_sql($text)), qr/^\{(?:[-0-9.e]+,){383}[-0-9.e]+\}$/,
	'another database: the first call materialises its own cache file');
my @still = grep { -e } @left;
ok(!@still, 'that materialisation removed every file of the dropped database')
  or diag 'left: ' . join ' ', map { basename($_) } @still;
my $swept = () = TfmTest::log_since($off2) =~ /pg_tfm: removed orphaned cache file "[^"]*\/${oid}_/g;
is($swept, scalar @left, 'the log names each removed file');
is(scalar(cache_files(db_oid($other))), 1, 'the other database has its own file');
check_no_crash($off2);
drop_db($other);

done_testing();
