# 090_restart.pl (runs last): after a server restart the first call of a new connection maps the
# cache file that is already there (not rebuilt) and gives the same embedding; prints its time
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use Test::More;
use IPC::Run ();
use Time::HiRes qw(time);
use TfmTest;

TfmTest::require_env('PG_TFM_PGCTL');

my $db = new_db('tap_cache_090');
my $oid = db_oid($db);
my $text = 'The server restarts; the weights file stays where it is.';

# run SQL in a new connection with \timing; (embedding, statement ms list, wall seconds of psql)
sub timed_embeds
{
	my ($n) = @_;
	my $sql = "\\timing on\n" . join('', map { embed_sql($text) . ";\n" } 1 .. $n);
	my $t0 = time;
	my $out = psql($db, $sql);
	my $wall = time - $t0;
	my @ms = $out =~ /^Time: ([0-9.]+) ms/mg;
	my @emb = $out =~ /^(\{.*\})$/mg;
	is(scalar @emb, $n, "$n embedding(s) returned");
	is_deeply([ @emb[1 .. $#emb] ], [ ($emb[0]) x $#emb ], 'the same each time') if $n > 1;
	return ($emb[0], \@ms, $wall);
}

my ($expected, $cold_ms, $cold_wall) = timed_embeds(2);
like($expected, qr/^\{(?:[-0-9.e]+,){383}[-0-9.e]+\}$/, 'a 384-d embedding');
my ($path) = cache_files($oid, model_id($db));
ok(defined $path && -f $path, 'the cache file exists');
my ($ino, $mtime, $size) = (Time::HiRes::stat($path))[1, 9, 7];
ok(no_backends_in($db), 'no session maps the file');

my $off = log_offset();
my $started = psql('postgres', 'SELECT pg_postmaster_start_time()');
my @pgctl = (split(' ', $ENV{PG_TFM_PGCTL}), '-D', TfmTest::pgdata(), '-l', TfmTest::log_file(),
	'-m', 'fast', '-w', '-t', '120', 'restart');
my ($out, $err) = ('', '');
my $t0 = time;
my $ok = eval { IPC::Run::run(\@pgctl, '<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(180)) };
ok($ok, sprintf('pg_ctl restart succeeded in %.1f s', time - $t0)) or diag "$out\n$err\n$@";
isnt(psql('postgres', 'SELECT pg_postmaster_start_time()'), $started, 'the postmaster was restarted');

my ($got, $warm_ms, $warm_wall) = timed_embeds(3);
is($got, $expected, 'the first call after the restart gives the same embedding');
my ($ino2, $mtime2, $size2) = (Time::HiRes::stat($path))[1, 9, 7];
is($ino2, $ino, 'the cache file is the same inode');
is($mtime2, $mtime, 'its mtime is unchanged: it was not rebuilt');
is($size2, $size, 'its size is unchanged');
is_deeply([ cache_files($oid) ], [$path], 'still one cache file');
is_deeply([ tmp_files($oid) ], [], 'no temporary files');
unlike(TfmTest::log_since($off), qr/failed its checks/, 'the log reports no failed check');
is(psql($db, embed_sql($text) . "; SELECT path || ' ' || hits FROM tfm_cache();"), "$expected\n$path 1",
	'tfm_cache() of a new session shows the existing file');

diag sprintf 'first call in a new connection, cache file built by it (cold): %.1f ms (then %.1f ms)',
  @$cold_ms[0, 1];
diag sprintf 'first call in a new connection after the restart, existing file: %.1f ms (then %.1f, %.1f ms); '
  . 'psql connect + 3 calls: %.0f ms', @$warm_ms[0 .. 2], 1000 * $warm_wall;
cmp_ok($warm_ms->[0], '<', $cold_ms->[0], 'mapping the existing file is faster than building it');

check_no_crash($off, allow => qr/FATAL:  the database system is (?:starting up|shutting down)/);
drop_db($db);
done_testing();
