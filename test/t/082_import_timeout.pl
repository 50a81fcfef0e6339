# 082_import_timeout.pl: tfm_import of MiniLM stopped by statement_timeout and by pg_cancel_backend at
# several points of its run (fractions of its measured duration): the error is SQLSTATE 57014, nothing
# is half-imported (tfm.models, tfm.model_data, the grants and the cache files are as before), the
# session stays usable, the postmaster never restarts, and the next import of the same name succeeds
# and embeds as the first import does. An import that ends before the timeout or the cancel reaches
# it is counted apart, not a failure; each way of stopping must really stop an import at least once.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use Test::More;
use Time::HiRes qw(time sleep);
use TfmTest;

TfmTest::require_env();

my $db = new_db('tap_import_timeout_082');
my $oid = db_oid($db);
my $off = log_offset();
my $started = psql('postgres', 'SELECT pg_postmaster_start_time()');
(my $dir = $ENV{PG_TFM_MODEL_DIR}) =~ s/'/''/g;
my $import = "SELECT 1 FROM tfm_import('timed', '$dir', '{\"max_tokens\": 256}')";
my $catalog_sql = "SELECT (SELECT string_agg(name || '\@' || version || ':' || sha256, ',' ORDER BY name, version) FROM tfm.models)"
  . " || '|' || (SELECT count(*) || '/' || coalesce(sum(length(data)), 0) FROM tfm.model_data)"
  . " || '|' || (SELECT count(*) FROM tfm.model_acl)";
my $catalog = psql($db, $catalog_sql);
my $expected = psql($db, embed_sql('a timed out import leaves nothing behind'));
my @files = cache_files($oid);    # minilm's, made by that first call

my $s = session($db);
my $ctl = session($db);
my $pid = $s->pid;
$s->query("\\set VERBOSITY verbose\nSELECT 1");    # errors with their SQLSTATE

# how long one import takes here: the faster of two (each dropped again), so the fractions below
# fall inside an import also when the first one read cold files
my $took;
for (1 .. 2)
{
	$s->query($import);
	$took = $s->elapsed if !defined $took || $s->elapsed < $took;
	psql($db, "SELECT tfm_drop('timed')");
}
diag(sprintf('one import of MiniLM: %.0f ms', $took * 1000));

my %stopped;
my %finished;

# after a stopped import: 57014, the same catalog and files, a usable session
sub check_after
{
	my ($what, $err) = @_;
	like($err, qr/ERROR:\s+57014: canceling statement due to (statement timeout|user request)/, "$what: SQLSTATE 57014");
	is($s->query('SELECT 1'), '1', "$what: the session answers afterwards");
	is(psql($db, $catalog_sql), $catalog, "$what: tfm.models, tfm.model_data and the grants unchanged");
	is_deeply([ cache_files($oid) ], \@files, "$what: no new cache file");
	is_deeply([ tmp_files($oid) ], [], "$what: no temporary file");
}

# an import that completed first: counted apart, dropped so the next round sees the same catalog
sub completed
{
	my ($what) = @_;
	$finished{$what}++;
	psql($db, "SELECT tfm_drop(name) FROM (SELECT DISTINCT name FROM tfm.models WHERE name = 'timed') m");
}

for my $frac (0.05, 0.2, 0.4, 0.6, 0.8)
{
	my $ms = int($took * 1000 * $frac) || 1;
	my $what = "statement_timeout $ms ms";
	$s->query("SET statement_timeout = $ms");
	my (undef, $err) = $s->query($import);
	$s->query('RESET statement_timeout');
	if (!$err) { completed('statement_timeout'); next; }
	$stopped{statement_timeout}++;
	check_after($what, $err);
}

for my $frac (0.05, 0.2, 0.4, 0.6, 0.8)
{
	my $what = sprintf('pg_cancel_backend after %.0f ms', $took * 1000 * $frac);
	$s->send($import);
	ok(wait_until(sub { $s->done || $ctl->query("SELECT state = 'active' FROM pg_stat_activity WHERE pid = $pid") eq 't' }),
		"$what: the import runs");
	my $left = $s->{sent_at} + $took * $frac - time;
	sleep $left if $left > 0;
	$ctl->query("SELECT pg_cancel_backend($pid)") unless $s->done;
	my (undef, $err) = $s->wait;
	if (!$err) { completed('pg_cancel_backend'); next; }
	$stopped{pg_cancel_backend}++;
	check_after($what, $err);
}

for my $how ('statement_timeout', 'pg_cancel_backend')
{
	diag(sprintf('%s: %d imports stopped, %d finished first', $how, $stopped{$how} // 0, $finished{$how} // 0));
	cmp_ok($stopped{$how} // 0, '>', 0, "$how stopped at least one import");
}

# the next import succeeds and gives the first import's embedding
my (undef, $err) = $s->query($import);
is($err, '', 'the next import succeeds');
is(psql($db, embed_sql('a timed out import leaves nothing behind', 'timed')), $expected,
	'the re-imported model embeds as the first import');
is(psql($db, "SELECT count(*) FROM tfm.models WHERE name = 'timed'"), '1', 'one version of it');

is(psql('postgres', 'SELECT pg_postmaster_start_time()'), $started, 'the postmaster did not restart');
check_no_crash($off, allow => qr/canceling statement due to (statement timeout|user request)/);
done_testing();
