# 040_corrupt_cache.pl: a cache file damaged while no session maps it is detected, logged, removed
# and rebuilt; the next session still gets the right embedding and the server never crashes
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use Test::More;
use Digest::SHA;
use File::Copy qw(copy);
use TfmTest;

TfmTest::require_env();

my $db = new_db('tap_cache_040');
my $oid = db_oid($db);
my $off0 = log_offset();
my $text = 'The quick brown fox, naïve café 東京, jumps over the lazy dog.';
my $expected = psql($db, embed_sql($text));
like($expected, qr/^\{(?:[-0-9.e]+,){383}[-0-9.e]+\}$/, 'a 384-d embedding');
my $id = model_id($db);
my ($path) = cache_files($oid, $id);
ok(defined $path && -f $path, 'the cache file exists');
my $size = -s $path;
my $digest = Digest::SHA->new(256)->addfile($path, 'b')->hexdigest;
my @own = (stat $path)[4, 5];

# header fields (cachefile.h): magic 0, header_bytes 8, model_id 16, sha256 24, cfg 96,
# vocab_off 128, vocab_size 136, weights_off 144, weights_bytes 152, file_size 160, crc 168
open my $fh, '<:raw', $path or die "$path: $!";
read($fh, my $hdr, 4096) == 4096 or die "short read";
close $fh;
is(substr($hdr, 0, 8), 'PGTFMv01', 'the file starts with the magic');
my ($vocab_off, $vocab_size, $weights_off, $weights_bytes, $file_size) = unpack 'Q<5', substr($hdr, 128, 40);
is($file_size, $size, 'the header records the file size at offset 160 (layout as expected)');
is($vocab_off, 4096, 'the vocabulary follows the 4 KiB header');

# write bytes at an offset, in place
sub poke
{
	my ($off, $bytes) = @_;
	open my $fh, '+<:raw', $path or die "$path: $!";
	seek $fh, $off, 0;
	print $fh $bytes;
	close $fh or die "$path: $!";
}

# flip the bits of one byte
sub flip
{
	my ($off) = @_;
	open my $fh, '<:raw', $path or die "$path: $!";
	seek $fh, $off, 0;
	read $fh, my $b, 1;
	close $fh;
	poke($off, chr(ord($b) ^ 0xA5));
}

# the first 8 KiB or the size of the file differ from the intact file's
my $head8k = do { open my $fh, '<:raw', $path or die; read $fh, my $b, 8192; $b };
sub damaged
{
	return 1 if (-s $path // -1) != $size;
	open my $fh, '<:raw', $path or die "$path: $!";
	read $fh, my $b, 8192;
	return $b ne $head8k;
}

# the whole file differs from the intact file
sub damaged_digest { return Digest::SHA->new(256)->addfile($path, 'b')->hexdigest ne $digest; }

# a second version of the model, to have the valid file of another version at hand
(my $dir = $MODEL_DIR) =~ s/'/''/g;
my $id2 = psql($db, "SELECT id FROM tfm_import('minilm2', '$dir', '{\"max_tokens\": 256}')");
is(psql($db, embed_sql($text, 'minilm2')), $expected, 'the second version gives the same embedding');
my ($path2) = cache_files($oid, $id2);

my @cases = (
	[ 'truncated to half its size', sub { truncate $path, int($size / 2) or die $! } ],
	[ 'truncated to 100 bytes, shorter than the header', sub { truncate $path, 100 or die $! } ],
	[ 'truncated to 0 bytes', sub { truncate $path, 0 or die $! }, 'the empty file is removed without a log line' ],
	[ 'grown by 4 KiB of garbage', sub { poke($size, 'x' x 4096) } ],
	[ 'magic overwritten', sub { poke(0, 'NOTTFM!!') } ],
	[ 'header zeroed', sub { poke(0, "\0" x 4096) } ],
	[ 'header overwritten with garbage', sub { poke(0, join '', map { chr int rand 256 } 1 .. 200) } ],
	[ 'header_bytes flipped', sub { flip(8) } ],
	[ 'model id flipped', sub { flip(16) } ],
	[ 'sha256 flipped', sub { flip(24 + 17) } ],
	[ 'config (hidden size) flipped', sub { flip(96 + 4) } ],
	[ 'config (layer-norm epsilon) flipped', sub { flip(96 + 28) } ],
	[ 'vocab offset flipped', sub { flip(128) } ],
	[ 'weights offset flipped', sub { flip(145) } ],
	[ 'file size flipped', sub { flip(160) } ],
	[ 'crc flipped', sub { flip(168) } ],
	[ 'vocabulary header flipped', sub { flip($vocab_off) } ],
	[ 'replaced by the valid file of another version', sub { copy($path2, $path) or die $!; chown @own, $path } ],
);

for my $case (@cases)
{
	my ($what, $corrupt, $todo_log) = @$case;
	ok(no_backends_in($db), "$what: no session maps the file");
	my $off = log_offset();
	$corrupt->();
	ok(damaged(), "$what: the file is damaged");
	my ($rc, $out, $err) = psql_result($db, embed_sql($text));
	is($err, '', "$what: no error");
	is($out, $expected, "$what: a new session gets the right embedding");
	ok(-f $path && -s $path == $size, "$what: the file is back at its size");
	is(Digest::SHA->new(256)->addfile($path, 'b')->hexdigest, $digest, "$what: the file is rebuilt byte for byte");
	is_deeply([ tmp_files($oid) ], [], "$what: no temporary files left");
	my $logged = wait_until(sub { TfmTest::log_since($off) =~ /cache file "\Q$path\E" failed its checks; rebuilding it/ }, 5);
	TODO:
	{
		local $TODO = $todo_log;
		ok($logged, "$what: the log says the file failed its checks");
	}
}

# damage the file's content beyond the header: not covered by the header's CRC
{
	ok(no_backends_in($db), 'weights: no session maps the file');
	# a high mantissa byte of position embedding 1, element 5 (after the word embeddings)
	my ($nvocab, $hidden) = unpack 'l<2', substr($hdr, 96, 8);
	my $at = $weights_off + 4 * ($nvocab * $hidden + $hidden + 5) + 2;
	open my $fh, '<:raw', $path or die "$path: $!";
	seek $fh, $at, 0;
	read $fh, my $orig, 1;
	close $fh;
	poke($at, chr(ord($orig) ^ 0x40));
	my ($rc, $got, $err) = psql_result($db, embed_sql($text));
	TODO:
	{
		local $TODO = 'only the header and the vocabulary layout are checked; weight bytes are not checksummed';
		ok($got eq $expected || $err ne '', 'weights: a flipped weight byte gives the right embedding or an error')
		  or diag 'the embedding silently differs from the intact one';
	}
	ok(no_backends_in($db), 'weights: no session maps the file');
	poke($at, $orig) if -s $path == $size && damaged_digest();
}
is(Digest::SHA->new(256)->addfile($path, 'b')->hexdigest, $digest, 'the file is intact again');
is(psql($db, embed_sql($text)), $expected, 'and gives the right embedding');

check_no_crash($off0);
drop_db($db);
done_testing();
