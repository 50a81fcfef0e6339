# 050_sweep.pl: the orphan sweep a backend runs whenever it materialises a cache file: files of
# databases that no longer exist go at once, files of models of this database that no longer exist
# once older than 600 s, temporary files and files of live models never; the sweep must judge
# "exists" by what is committed, not by an old snapshot of its own transaction
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use Test::More;
use File::Basename qw(basename);
use TfmTest;

TfmTest::require_env();

my $db = new_db('tap_cache_050');
my $oid = db_oid($db);
my $off = log_offset();
my $text = 'Orphans are swept, live files are kept.';
my $dir = TfmTest::cache_dir();
my @own = (stat $dir)[4, 5];
my $expected = psql($db, embed_sql($text));
like($expected, qr/^\{(?:[-0-9.e]+,){383}[-0-9.e]+\}$/, 'a 384-d embedding');

# a file in the cache directory with an mtime seconds in the past
sub fake
{
	my ($name, $age) = @_;
	my $p = "$dir/$name";
	open my $fh, '>', $p or die "$p: $!";
	print $fh 'not a cache file';
	close $fh;
	chown @own, $p;
	my $t = time - ($age // 0);
	utime $t, $t, $p;
	return $p;
}

# make the next materialisation in a database happen: import a new version and embed with it
my $n = 0;
sub materialise
{
	my ($in) = @_;
	my $name = 'mat_' . ++$n;
	psql($in, import_sql($name));
	return psql($in, embed_sql($text, $name));
}

my $uuid = '01234567-89ab-cdef-0123-456789abcdef';
my $no_db = 4000000000 + int rand 1000;
my %f = (
	gone_db_bin  => fake("${no_db}_1_$uuid.bin"),
	gone_db_lock => fake("${no_db}_1.lock"),
	gone_db_tmp  => fake("${no_db}_1_$uuid.bin.tmp.4242", 3600),
	young_bin    => fake("${oid}_999999_$uuid.bin"),
	young_lock   => fake("${oid}_999999.lock"),
	old_bin      => fake("${oid}_999998_$uuid.bin", 700),
	old_lock     => fake("${oid}_999998.lock", 700),
	old_tmp      => fake("${oid}_999997_$uuid.bin.tmp.4242", 3600),
	other        => fake('README.not_ours', 3600),
);
my ($live) = cache_files($oid, model_id($db));
my $past = time - 3600;
utime $past, $past, $live;
my $off1 = log_offset();
is(materialise($db), $expected, 'a materialisation');
my %gone = (gone_db_bin => 1, gone_db_lock => 1, old_bin => 1, old_lock => 1);
for my $k (sort keys %f)
{
	if ($gone{$k}) { ok(!-e $f{$k}, "swept: $k (" . basename($f{$k}) . ')'); }
	else { ok(-e $f{$k}, "kept: $k (" . basename($f{$k}) . ')'); }
}
ok(-e $live, 'kept: the old file of the live model');
my $log1 = TfmTest::log_since($off1);
for my $k (sort grep { $gone{$_} } keys %f)
{
	my $shown = shown_path($f{$k});
	like($log1, qr/pg_tfm: removed orphaned cache file "\Q$shown\E"/, "the log names $k");
}
unlink grep { -e } values %f;

# a database created after the snapshot of a REPEATABLE READ transaction in another database:
# that transaction's sweep must not take its files for those of a dropped database
my $x = session($db);
psql($db, import_sql('late_rr'));    # imported before X's snapshot, not materialised yet
$x->query('BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM tfm.model');
my $db2 = new_db('tap_cache_050b');
my $oid2 = db_oid($db2);
is(psql($db2, embed_sql($text)), $expected, 'a database created after X began: its first call');
my @db2_files = grep { -e } glob("$dir/${oid2}_*");
is(scalar(grep { /\.bin$/ } @db2_files), 1, 'the new database has its cache file');
# and a model of X's database imported after X's snapshot, with a file older than 600 s
my $newer_id = psql($db, import_sql('newer'));
is(psql($db, embed_sql($text, 'newer')), $expected, 'a model imported after X began: its first call');
my ($newer_file) = cache_files($oid, $newer_id);
utime $past, $past, $newer_file;
my $off2 = log_offset();
my ($out, $err) = $x->query(embed_sql($text, 'late_rr'));
is($err, '', 'X (REPEATABLE READ) materialises late_rr');
is($out, $expected, 'X: the right embedding');
$x->query('COMMIT');
note 'sweep by X: ' . join(' | ', grep { /removed orphaned/ } split /\n/, TfmTest::log_since($off2));
# the sweep reads the catalog under the latest snapshot, not X's
is_deeply([ grep { !-e } @db2_files ], [], "X's sweep kept the files of the database created after its snapshot");
ok(-e $newer_file, "X's sweep kept the (old) file of a model committed after its snapshot");
$x->close;
is(psql($db2, embed_sql($text)), $expected, 'the new database still embeds (its file rebuilt if it was swept)');
is(psql($db, embed_sql($text, 'newer')), $expected, 'the newer model still embeds');

check_no_crash($off);
drop_db($db2);
drop_db($db);
done_testing();
