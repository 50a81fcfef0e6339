# 084_torchbin_mutate.pl: mutants of a real PyTorch checkpoint (PG_TFM_TORCH/minilm_bin/pytorch_model.bin,
# written by torch.save: test/make_torch_models.py) imported from a directory. The mutations hit the
# parts the reader parses, never the tensor bytes: data.pkl (bytes replaced, pickle opcodes swapped),
# the local headers, the central directory and its end record (bytes replaced, 32-bit fields set to
# 0 or 0xFFFFFFFF), and the file truncated inside data.pkl or the directory. Each outcome must be an
# import or an error of class 22 (data) or 0A (not supported), never XX/53/57/58 or a crashed
# backend. Seeded (TB_SEED, default 42) and bounded: at most TB_MUTATIONS (default 300) mutants and
# TB_SECONDS (default 40) of mutating, at least TB_MIN_MUTATIONS (default 40). TB_BASE picks another
# fixture directory (default minilm_bin; roberta_bin is 120 times smaller).
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use File::Copy qw(copy);
use File::Temp qw(tempdir);
use Test::More;
use Time::HiRes qw(time);
use TfmTest;

TfmTest::require_env('PG_TFM_TORCH');
my $n = $ENV{TB_MUTATIONS} || 300;
my $seconds = $ENV{TB_SECONDS} || 40;
my $src = "$ENV{PG_TFM_TORCH}/" . ($ENV{TB_BASE} || 'minilm_bin');
srand($ENV{TB_SEED} // 42);

# a directory the server reads: the fixture's config.json and tokenizer.json, a copy of its .bin
my $dir = tempdir('pg_tfm_torchbin_XXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $dir;
copy("$src/$_", "$dir/$_") or die "copy $src/$_: $!\n" for qw(config.json tokenizer.json pytorch_model.bin);
chmod 0644, glob("$dir/*");
my $file = "$dir/pytorch_model.bin";
open my $fh, '<:raw', $file or die "$file: $!\n";
my $orig = do { local $/; <$fh> };
close $fh;
my $size = length $orig;

# the zip's layout: end record, central directory, each entry's local header and data
my $eocd = rindex($orig, "PK\x05\x06");
die "$file: no end of central directory\n" if $eocd < 0;
my ($entries, $cd_size, $cd_off) = unpack('v V V', substr($orig, $eocd + 10, 10));
my (@locals, $pkl);    # [start, length] of the bytes the reader parses: local headers, data.pkl
my $cd = [ $cd_off, $size - $cd_off ];    # central directory, end records (zip64 ones too)
my $p = $cd_off;
for (1 .. $entries)
{
	my ($csize, $nlen, $xlen, $clen, $loff) = unpack('V x4 v v v x8 V', substr($orig, $p + 20, 26));
	my $name = substr($orig, $p + 46, $nlen);
	my ($lnlen, $lxlen) = unpack('v v', substr($orig, $loff + 26, 4));
	push @locals, [ $loff, 30 + $lnlen + $lxlen ];    # local header
	$pkl = [ $loff + 30 + $lnlen + $lxlen, $csize ] if $name =~ m{/data\.pkl\z};
	$p += 46 + $nlen + $xlen + $clen;
}
die "$file: no data.pkl entry\n" unless $pkl;

my @opcodes = map { ord } split //, 'c}]()qhXKMJ.tuQRbsNe' . "\x80\x8a\x95";

# one mutant: [offset, bytes] patches or a length to truncate to, and its description
sub mutant
{
	my $u = rand;    # data.pkl 40 %, the central directory 30 %, one of the local headers 30 %
	my $r = $u < 0.4 ? $pkl : $u < 0.7 ? $cd : $locals[ int rand @locals ];
	my $at = $r->[0] + int rand($r->[1]);
	my $kind = int rand 5;
	return ([ [ $at, chr(int rand 256) x (1 + int rand 3) ] ], "bytes at $at") if $kind == 0;
	return ([ [ $at, chr($opcodes[ int rand @opcodes ]) ] ], "opcode at $at") if $kind == 1;
	return ([ [ $at, rand() < 0.5 ? "\0\0\0\0" : "\xff\xff\xff\xff" ] ], "32-bit field at $at") if $kind == 2;
	return ([ [ $at, chr(rand() < 0.5 ? 0 : 255) ] ], "extreme byte at $at") if $kind == 3;
	return ($at, "truncated to $at");
}

# write bytes at an offset of the file (or truncate it), in place
sub patch
{
	my ($at, $bytes) = @_;
	open my $w, '+<:raw', $file or die "$file: $!\n";
	if (defined $bytes) { seek $w, $at, 0; print $w substr($bytes, 0, $size - $at); }
	else { truncate $w, $at or die "truncate $file: $!\n"; }
	close $w or die "$file: $!\n";
}

my $db = empty_db('tap_torchbin_mutate');
psql($db, <<'SQL');
CREATE EXTENSION pg_tfm;
-- the outcome of importing a directory: 'imported' (rolled back) or the error's SQLSTATE and message
CREATE FUNCTION try_import(d text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    PERFORM tfm_import('mutant', d);
    RAISE EXCEPTION USING ERRCODE = 'TB000';
  EXCEPTION WHEN OTHERS THEN
    IF SQLSTATE = 'TB000' THEN RETURN 'imported'; END IF;
    RETURN SQLSTATE || ' ' || SQLERRM;
  END;
END $$;
SQL
my $off = log_offset();
my $s = session($db);
(my $qdir = $dir) =~ s/'/''/g;
is($s->query("SELECT try_import('$qdir')"), 'imported', 'the unmutated copy imports');

my (%by, @bad);
my $total = 0;
my $t0 = time;
while ($total < $n && time - $t0 < $seconds)
{
	my ($m, $what) = mutant();
	if (ref $m) { patch(@$_) for @$m; } else { patch($m); }
	my ($out, $err) = $s->query("SELECT try_import('$qdir')", $TIMEOUT);
	if (ref $m) { patch($_->[0], substr($orig, $_->[0], length $_->[1])) for @$m; }
	else { patch($m, substr($orig, $m)); }
	$total++;
	my $state = $out eq 'imported' ? 'imported' : $out =~ /^(\w{5}) / ? $1 : 'no answer';
	$by{$state}++;
	if ($state !~ /^(imported|22...|0A000)$/)
	{
		push @bad, "$what: " . ($out || $err);
		last if $state eq 'no answer';
	}
}
cmp_ok($total, '>=', $ENV{TB_MIN_MUTATIONS} // 40, "$total mutants went through tfm_import in " . int(time - $t0) . ' s');
ok(!@bad, 'every mutant imports or fails with a data error (22) or 0A000') or diag(join "\n", @bad[ 0 .. ($#bad < 9 ? $#bad : 9) ]);
cmp_ok(scalar(grep { /^(22|0A)/ } keys %by), '>', 0, 'some mutants are refused');
diag('outcomes: ' . join(', ', map { "$_ $by{$_}" } sort keys %by));
open $fh, '<:raw', $file or die "$file: $!\n";
is(do { local $/; <$fh> }, $orig, 'the file is restored after the last mutant');
close $fh;
is(psql($db, 'SELECT count(*) FROM tfm.models'), '0', 'no mutant was stored');
$s->close;
check_no_crash($off, errors_allowed => 1);
done_testing();
