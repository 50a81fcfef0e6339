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

# the header's layout comes from struct TfmFileHeader (TfmTest::header_layout parses src/store/cachefile.h);
# check it against the file before trusting it
my $H = read_header($path);
my $L = $H->{layout};
my ($vocab_off, $vocab_size, $weights_off, $weights_bytes) = @$H{qw(vocab_off vocab_size weights_off weights_bytes)};
is($H->{magic}, 'PGTFMv07', 'the file starts with the magic');
is($H->{header_bytes}, 4096, 'header_bytes is 4096');
is($H->{file_size}, $size, "the header records the file size at offset $L->{file_size}[0] (layout as expected)");
is($H->{crc_of_header}, $H->{crc}, "the CRC-32C of bytes 0..$L->{crc}[0] equals the header's crc field");
is($vocab_off, 4096, 'the vocabulary follows the 4 KiB header');
is($weights_off + $weights_bytes, $size, 'the weights end the file');
is($H->{model_id}, $id, 'the header records the model id');
is($H->{key}, cache_key($db, $id), 'the header records the cache_key');
is($H->{arch}, 0, 'arch is BERT');
is($H->{precision}, 0, 'precision is fp32');
is($H->{'cfg.hidden'}, 384, 'cfg.hidden is 384');
my $section = sub {
	my ($off, $len) = @_;
	open my $fh, '<:raw', $path or die "$path: $!";
	seek $fh, $off, 0;
	read($fh, my $b, $len);
	return $b;
};
is(crc32c($section->($vocab_off, $vocab_size)), $H->{vocab_crc}, 'vocab_crc is the CRC-32C of the vocabulary');
my @blocks = sample_blocks($weights_bytes);
is(crc32c(join '', map { $section->($weights_off + $_->[0], $_->[1]) } @blocks), $H->{sample_crc},
	'sample_crc is the CRC-32C of 64 blocks of 4 KiB at i * floor(weights_bytes / 64)');

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

# overwrite a header field (pack format) and, with fix => 1, recompute the header CRC so that only
# the later checks can catch it
sub set_field
{
	my ($name, $fmt, $value, %opt) = @_;
	my ($o, $len) = @{ $L->{$name} };
	my $bytes = pack $fmt, $value;
	die "field $name is $len bytes\n" if length($bytes) > $len;
	poke($o, $bytes);
	return unless $opt{fix};
	open my $fh, '<:raw', $path or die "$path: $!";
	read $fh, my $hdr, $L->{crc}[0];
	close $fh;
	poke($L->{crc}[0], pack 'L<', crc32c($hdr));
}

# flip the first byte of a header field
sub flip_field { flip($L->{ $_[0] }[0] + ($_[1] // 0)); }

my $other_key = psql($db, 'SELECT gen_random_uuid()');
my @cases = (
	# [ what, damage, the reason the log must give ]
	[ 'truncated to half its size', sub { truncate $path, int($size / 2) or die $! }, 'wrong file size' ],
	[ 'truncated to 100 bytes, shorter than the header', sub { truncate $path, 100 or die $! }, 'shorter than its header' ],
	[ 'truncated to 0 bytes', sub { truncate $path, 0 or die $! }, 'shorter than its header' ],
	[ 'grown by 4 KiB of garbage', sub { poke($size, 'x' x 4096) }, 'wrong file size' ],
	[ 'magic overwritten', sub { poke(0, 'NOTTFM!!') }, 'not a pg_tfm cache file of this format' ],
	[ 'magic of the previous format', sub { poke(0, 'PGTFMv06') }, 'not a pg_tfm cache file of this format' ],
	[ 'header zeroed', sub { poke(0, "\0" x 4096) }, 'not a pg_tfm cache file of this format' ],
	[ 'header overwritten with garbage', sub { poke(0, join '', map { chr int rand 256 } 1 .. 200) },
		'not a pg_tfm cache file of this format' ],
	(map { my $f = $_; [ "$f flipped", sub { flip_field($f) }, 'header checksum mismatch' ] }
	  qw(header_bytes precision model_id key cfg.hidden cfg.ln_eps vocab_off vocab_size weights_off weights_bytes
	  file_size arch tokenizer gcfg.n_embd vocab_crc weights_crc sample_crc crc)),
	[ 'key flipped inside (byte 17)', sub { flip_field('key', 17) }, 'header checksum mismatch' ],
	[ 'another key, header CRC recomputed', sub { set_field('key', 'a72', $other_key, fix => 1) },
		'built for another model version' ],
	[ 'another model id, header CRC recomputed', sub { set_field('model_id', 'q<', $id + 1000, fix => 1) },
		'built for another model version' ],
	[ 'file size off by 8, header CRC recomputed', sub { set_field('file_size', 'Q<', $size + 8, fix => 1) },
		'wrong file size' ],
	[ 'weights offset beyond the file, header CRC recomputed',
		sub { set_field('weights_off', 'Q<', $weights_off + 4096, fix => 1) }, 'sections outside the file' ],
	[ 'vocab_crc changed, header CRC recomputed', sub { set_field('vocab_crc', 'L<', $H->{vocab_crc} ^ 1, fix => 1) },
		'vocabulary checksum mismatch' ],
	[ 'vocabulary header flipped', sub { flip($vocab_off) }, 'vocabulary checksum mismatch' ],
	[ 'last vocabulary byte flipped', sub { flip($vocab_off + $vocab_size - 1) }, 'vocabulary checksum mismatch' ],
	[ 'sample_crc changed, header CRC recomputed', sub { set_field('sample_crc', 'L<', $H->{sample_crc} ^ 1, fix => 1) },
		'weights checksum mismatch' ],
	[ 'arch set to GPT-2, header CRC recomputed', sub { set_field('arch', 'L<', 1, fix => 1) },
		'inconsistent GPT-2 sections' ],
	[ 'tokenizer kind set to Unigram, header CRC recomputed', sub { set_field('tokenizer', 'L<', 2, fix => 1) },
		'inconsistent BERT sections' ],
	[ 'tokenizer kind out of range, header CRC recomputed', sub { set_field('tokenizer', 'L<', 7, fix => 1) },
		'inconsistent BERT sections' ],
	[ 'precision set to int8 on an fp32 file, header CRC recomputed', sub { set_field('precision', 'L<', 1, fix => 1) },
		'inconsistent BERT sections' ],
	[ 'precision out of range, header CRC recomputed', sub { set_field('precision', 'L<', 7, fix => 1) },
		'inconsistent BERT sections' ],
	[ 'cfg.hidden changed, header CRC recomputed', sub { set_field('cfg.hidden', 'l<', 256, fix => 1) },
		'inconsistent BERT sections' ],
	[ 'cfg.heads set to 0, header CRC recomputed', sub { set_field('cfg.heads', 'l<', 0, fix => 1) },
		'inconsistent BERT sections' ],
	[ 'vocabulary header flipped, vocab_crc and header CRC recomputed', sub {
			flip($vocab_off);
			set_field('vocab_crc', 'L<', crc32c($section->($vocab_off, $vocab_size)), fix => 1);
		}, 'inconsistent BERT sections' ],
	[ 'replaced by the valid file of another version', sub { copy($path2, $path) or die $!; chown @own, $path },
		'built for another model version' ],
);

for my $case (@cases)
{
	my ($what, $corrupt, $reason) = @$case;
	ok(no_backends_in($db), "$what: no session maps the file");
	my $off = log_offset();
	$corrupt->();
	ok(damaged() || damaged_digest(), "$what: the file is damaged");
	my ($rc, $out, $err) = psql_result($db, embed_sql($text));
	is($err, '', "$what: no error");
	is($out, $expected, "$what: a new session gets the right embedding") or diag emb_diff($out, $expected);
	ok(-f $path && -s $path == $size, "$what: the file is back at its size");
	is(Digest::SHA->new(256)->addfile($path, 'b')->hexdigest, $digest, "$what: the file is rebuilt byte for byte");
	is_deeply([ tmp_files($oid) ], [], "$what: no temporary files left");
	ok(wait_until(sub { TfmTest::log_since($off) =~ failed_checks_re($path, $reason) }, 5),
		"$what: the log says the file failed its checks ($reason)")
	  or diag 'log: ' . join("\n", grep { /pg_tfm/ } split /\n/, TfmTest::log_since($off));
}

# the weights: pg_tfm.verify_cache = sampled (the default) checksums 64 blocks of 4 KiB, full every byte
my $in_sample = sub {
	my ($at) = @_;    # offset in the file
	return grep { $at >= $weights_off + $_->[0] && $at < $weights_off + $_->[0] + $_->[1] } @blocks;
};

# flip one weight byte (a high mantissa bit) at a file offset; returns the original byte
sub flip_weight
{
	my ($at) = @_;
	my $orig = $section->($at, 1);
	poke($at, chr(ord($orig) ^ 0x40));
	return $orig;
}

# embed in a new session with a verify_cache setting; (embedding, stderr, log since)
sub embed_with
{
	my ($verify) = @_;
	my $off = log_offset();
	my ($rc, $got, $err) = psql_result($db, "SET pg_tfm.verify_cache = $verify;\n" . embed_sql($text));
	my $log = '';
	wait_until(sub { ($log = TfmTest::log_since($off)) =~ /failed its checks/ }, 2);
	return ($got, $err, $log);
}

is(psql($db, "LOAD 'pg_tfm'; SHOW pg_tfm.verify_cache"), 'sampled', 'pg_tfm.verify_cache is sampled by default');
{
	# a high mantissa byte of position embedding 1, element 5 (after the word embeddings), moved out
	# of the sampled blocks if need be
	my ($nvocab, $hidden) = @$H{qw(cfg.vocab cfg.hidden)};
	my $at = $weights_off + 4 * ($nvocab * $hidden + $hidden + 5) + 2;
	$at += 4 * $hidden while $in_sample->($at);
	ok(!$in_sample->($at), sprintf('weights: byte %d lies outside every sampled block', $at - $weights_off));

	ok(no_backends_in($db), 'weights (outside the samples): no session maps the file');
	my $orig = flip_weight($at);
	my ($got, $err, $log) = embed_with('sampled');
	note 'sampled, a flipped byte outside the sampled blocks: '
	  . ($err ne '' ? "error: $err" : $got eq $expected ? 'the right embedding' : 'a different embedding (not detected)')
	  . ($log =~ /failed its checks/ ? ', the file was rebuilt' : ', the file was not rebuilt');
	ok(no_backends_in($db), 'weights (outside the samples): no session maps the file');
	flip_weight($at) unless damaged_digest();    # rebuilt after all: damage it again
	ok(damaged_digest(), 'weights (outside the samples): the byte is flipped');
	($got, $err, $log) = embed_with('full');
	is($err, '', 'verify_cache = full: no error');
	is($got, $expected, 'verify_cache = full: the right embedding') or diag emb_diff($got, $expected);
	like($log, failed_checks_re($path, 'weights checksum mismatch'), 'verify_cache = full: the log gives the reason');
	is(Digest::SHA->new(256)->addfile($path, 'b')->hexdigest, $digest, 'verify_cache = full: the file is rebuilt byte for byte');
}
{
	# a byte inside sampled block 17
	my $at = $weights_off + $blocks[17][0] + 1001;
	ok($in_sample->($at), sprintf('weights: byte %d lies in sampled block 17', $at - $weights_off));
	ok(no_backends_in($db), 'weights (in a sample): no session maps the file');
	flip_weight($at);
	ok(damaged_digest(), 'weights (in a sample): the byte is flipped');
	my ($got, $err, $log) = embed_with('sampled');
	ok($got eq $expected || $err =~ /ERROR/, 'verify_cache = sampled: the right embedding or an error')
	  or diag 'the embedding silently differs from the intact one: ' . emb_diff($got, $expected);
	is($err, '', 'verify_cache = sampled: no error');
	like($log, failed_checks_re($path, 'weights checksum mismatch'), 'verify_cache = sampled: the log gives the reason');
	is(Digest::SHA->new(256)->addfile($path, 'b')->hexdigest, $digest, 'verify_cache = sampled: the file is rebuilt byte for byte');
}
{
	# the last byte of the weights (the last sampled block ends before it unless weights_bytes % 64 == 0)
	my $at = $weights_off + $weights_bytes - 1;
	ok(no_backends_in($db), 'weights (last byte): no session maps the file');
	flip_weight($at);
	my ($got, $err, $log) = embed_with('full');
	is($got, $expected, 'the last weight byte flipped, verify_cache = full: the right embedding');
	like($log, failed_checks_re($path, 'weights checksum mismatch'), 'the last weight byte flipped: detected');
	is(Digest::SHA->new(256)->addfile($path, 'b')->hexdigest, $digest, 'the last weight byte flipped: rebuilt byte for byte');
}
{
	# weights_crc forged (header CRC recomputed): sampled does not read it, full does
	ok(no_backends_in($db), 'weights_crc: no session maps the file');
	set_field('weights_crc', 'L<', $H->{weights_crc} ^ 1, fix => 1);
	my ($got, $err, $log) = embed_with('sampled');
	is($got, $expected, 'weights_crc forged, verify_cache = sampled: the right embedding');
	unlike($log, qr/failed its checks/, 'weights_crc forged, verify_cache = sampled: the file is used as it is');
	ok(no_backends_in($db), 'weights_crc: no session maps the file');
	($got, $err, $log) = embed_with('full');
	is($got, $expected, 'weights_crc forged, verify_cache = full: the right embedding');
	like($log, failed_checks_re($path, 'weights checksum mismatch'), 'weights_crc forged, verify_cache = full: detected');
}
{
	# an int8 model's file: its own layout (TfmBertFileSlotBytes), checked as strictly
	my $id8 = psql($db, "SELECT id FROM tfm_import('minilm8', '$dir', '{\"max_tokens\": 256, \"precision\": \"int8\"}')");
	my $expected8 = psql($db, embed_sql($text, 'minilm8'));
	like($expected8, qr/^\{(?:[-0-9.e]+,){383}[-0-9.e]+\}$/, 'int8: a 384-d embedding');
	my ($path8) = cache_files($oid, $id8);
	my $H8 = read_header($path8);
	is($H8->{precision}, 1, 'int8: the header records precision int8');
	ok(-s $path8 <= 30e6, sprintf('int8: the file is at most 30 MB (%.1f MB)', (-s $path8) / 1e6));
	is($H8->{file_size}, -s $path8, 'int8: the header records the file size');
	my $digest8 = Digest::SHA->new(256)->addfile($path8, 'b')->hexdigest;
	my $saved = $path;
	$path = $path8;    # poke and set_field work on $path
	for my $p ([ 0, 'fp32' ], [ 2, 'bf16' ])
	{
		ok(no_backends_in($db), "int8 file marked $p->[1]: no session maps the file");
		my $off = log_offset();
		set_field('precision', 'L<', $p->[0], fix => 1);
		my ($rc, $out, $err) = psql_result($db, embed_sql($text, 'minilm8'));
		is($err, '', "int8 file marked $p->[1]: no error");
		is($out, $expected8, "int8 file marked $p->[1]: the right embedding") or diag emb_diff($out, $expected8);
		ok(wait_until(sub { TfmTest::log_since($off) =~ failed_checks_re($path8, 'inconsistent BERT sections') }, 5),
			"int8 file marked $p->[1]: the log says why it was rebuilt");
		is(Digest::SHA->new(256)->addfile($path8, 'b')->hexdigest, $digest8, "int8 file marked $p->[1]: rebuilt byte for byte");
	}
	$path = $saved;
	psql($db, "SELECT tfm_drop('minilm8')");
}
ok(no_backends_in($db), 'no session maps the file');
is(Digest::SHA->new(256)->addfile($path, 'b')->hexdigest, $digest, 'the file is intact again');
is(psql($db, embed_sql($text)), $expected, 'and gives the right embedding');

check_no_crash($off0);
drop_db($db);
done_testing();
