# 095_faults.pl: the documented SQLSTATEs of faults a test cannot cause with SQL alone, in a cluster
# of its own started with test/fault_shim.c preloaded (it fails chosen system calls on request):
# 53100 disk full and 58030 an I/O error while writing a cache file, XX001 a cache file that fails
# its checks right after it was written, 58P01 OpenBLAS that cannot be loaded. Each fault is cleared
# and the same statement then succeeds, so the error came from the fault; the server never crashes.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use Test::More;
use TfmTest;

TfmTest::require_env('PG_TFM_BAD');

my $node = node_init('faults');
my $base = "$node->{base}";
my $shim = "$base/fault_shim.so";
my ($rc, $out, $err) = run_cmd([ 'cc', '-shared', '-fPIC', '-O2', '-Wall', '-o', $shim,
	"$FindBin::Bin/../fault_shim.c", '-ldl' ]);
is($rc, 0, 'the fault shim compiles') or diag($err);
chmod 0755, $shim;
my $mode_file = "$base/fault_mode";

# set the fault the shim applies from now on ('' for none)
sub fault
{
	my ($mode) = @_;
	open my $fh, '>', $mode_file or die "$mode_file: $!";
	print $fh "$mode\n";
	close $fh;
	chmod 0644, $mode_file;
}
fault('');
{
	local $ENV{LD_PRELOAD} = $shim;
	local $ENV{PG_TFM_FAULT_FILE} = $mode_file;
	node_start($node);
}
my %on = (node => $node);
(my $odd = "$ENV{PG_TFM_BAD}/odd_shape") =~ s/'/''/g;
psql('postgres', 'CREATE EXTENSION pg_tfm', %on);
is(psql('postgres', "SELECT position('fault_shim.so' IN pg_read_file('/proc/' || pg_backend_pid() || '/maps')) > 0", %on),
	't', 'the server runs with the fault shim loaded');

# run one statement in a new session; (SQLSTATE or 'ok', message)
sub attempt
{
	my ($sql) = @_;
	my ($rc, $out, $err) = psql_result('postgres', "\\set VERBOSITY verbose\n$sql", %on);
	return ('ok', $out) if $rc == 0;
	my ($state) = $err =~ /ERROR:\s+([0-9A-Z]{5}):/;
	return ($state // "rc $rc", $err);
}

# a fault while the first use of a model writes its cache file: the statement fails with the state,
# no temporary file is left, and with the fault cleared the same statement succeeds
sub cache_write_fault
{
	my ($mode, $state, $message_re) = @_;
	my $name = "m_$mode";
	psql('postgres', "SELECT 1 FROM tfm_import('$name', '$odd', '{\"max_tokens\": 32}')", %on);
	my $embed = "SELECT array_length(tfm_embed('a text', '$name'), 1)";
	fault($mode);
	my ($got, $msg) = attempt($embed);
	fault('');
	is($got, $state, "$mode: tfm_embed fails with $state") or diag($msg);
	like($msg, $message_re, "$mode: the message says what happened");
	my @tmp = grep { /\.tmp\./ } glob("$node->{dir}/pg_tfm/*");
	is(scalar @tmp, 0, "$mode: no temporary cache file is left") or diag("@tmp");
	my ($again, $out) = attempt($embed);
	is("$again $out", 'ok 20', "$mode: without the fault the same call works (the cache file is rebuilt)");
}

cache_write_fault('enospc', '53100', qr/could not write model cache file .*No space left on device/);
cache_write_fault('eio', '58030', qr/could not write model cache file .*Input\/output error/);
cache_write_fault('corrupt', 'XX001', qr/failed its checks right after it was written/);

# OpenBLAS is loaded by the first GEMM that needs it (a training step over more than 64 token rows:
# two sequences of 40), in a new session
psql('postgres', "SELECT 1 FROM tfm_import('m_blas', '$odd', '{\"max_tokens\": 64}')", %on);
my $step = "SELECT tfm._train_step('m_blas', ARRAY(SELECT 1000 + i FROM generate_series(1, 80) i), ARRAY[40, 40], ARRAY[1, 0]) ? 'loss'";
fault('noblas');
my ($got, $msg) = attempt($step);
fault('');
is($got, '58P01', 'OpenBLAS missing: 58P01') or diag($msg);
like($msg, qr/could not load OpenBLAS: .*nonexistent/, 'the message names the library that could not be loaded');
like($msg, qr/HINT:\s+Install OpenBLAS/, 'the hint says what to install');
my ($again, $res) = attempt($step);
is("$again $res", 'ok t', 'with OpenBLAS there, the same training step works');

my ($crc, $cout, $cerr) = run_cmd([ 'grep', '-E', 'terminated by signal|was terminated', $node->{log} ]);
isnt($crc, 0, 'no server process crashed') or diag($cout);

done_testing();
