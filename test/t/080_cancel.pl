# 080_cancel.pl: how fast long pg_tfm statements stop on pg_cancel_backend and on statement_timeout
# (per-row embedding, bulk tfm_embed(text[]) of long texts, tfm_import, CALL tfm_train with a head
# and with full fine-tuning); each must end with the cancel error within the idle round trip (a
# control query plus a session query, the longest of 5, measured first) plus PG_TFM_CANCEL_BOUND_MS
# (default 500 ms: the backend's own reaction on a loaded 2-core machine; the figures are printed;
# a latency over it is repeated up to twice, and the last try decides: a stall of the machine passes,
# a slow path does not),
# leave the session usable and leave nothing behind: no model row, no cache or temporary file, no
# progress file. A statement that ends before the cancel or the timeout reaches it ("finished
# first", possible for the import, whose length depends on the machine) is its own outcome: not a
# failure, counted and reported; the delays and the timeout of the import are fractions of its
# measured idle duration, and every kind of statement must really be cancelled at least once.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use Test::More;
use Time::HiRes qw(time sleep);
use TfmTest;

TfmTest::require_env();

my $allowance = $ENV{PG_TFM_CANCEL_BOUND_MS} || 500;
my $db = new_db('tap_cancel_080');
my $oid = db_oid($db);
my $off = log_offset();
my $s = session($db);
my $ctl = session($db);
my $pid = $s->pid;
my $warm = 'The session is usable after the cancel.';
$s->query('SET max_parallel_workers_per_gather = 0');
my $expected = $s->query(embed_sql($warm));
like($expected, qr/^\{(?:[-0-9.e]+,){383}[-0-9.e]+\}$/, 'a 384-d embedding before the cancels');
my $models = psql($db, 'SELECT count(*) FROM tfm.model');
my @files = cache_files($oid);
my %figures;
my %outcomes;    # what => { cancelled => n, 'finished first' => n }

my $rt = idle_round_trip($ctl, $s);
my $bound = $rt + $allowance;
diag(sprintf('idle round trip %.0f ms: cancel bound %.0f ms (+ PG_TFM_CANCEL_BOUND_MS %d)', $rt, $bound, $allowance));

# wait until A's statement runs (not just sent) or has ended, then sleep until $seconds after sending it
sub running_for
{
	my ($seconds) = @_;
	ok(wait_until(sub { $s->done || $ctl->query("SELECT state = 'active' AND query NOT LIKE 'SET %' FROM pg_stat_activity WHERE pid = $pid") eq 't' }),
		'the statement is running (or already ended)');
	my $left = $s->{sent_at} + $seconds - time;
	sleep $left if $left > 0;
}

# after a cancel: the error, the session works, nothing was left behind
sub check_after
{
	my ($what, $err, $re) = @_;
	like($err, $re, "$what: ends with the cancel error");
	is($s->query('SELECT 1'), '1', "$what: the session answers afterwards");
	is($s->query(embed_sql($warm)), $expected, "$what: and embeds as before");
	is(psql($db, 'SELECT count(*) FROM tfm.model'), $models, "$what: no new model row");
	is_deeply([ cache_files($oid) ], \@files, "$what: no new cache file");
	is_deeply([ tmp_files($oid) ], [], "$what: no temporary file");
	ok(!-e TfmTest::cache_dir() . "/progress_$pid.json", "$what: no progress file");
}

# a short statement (an import) may finish before the cancel: its own outcome, counted, not a
# failure; an import that completed made a model: drop it, so the next checks see the same catalog
sub finished_first
{
	my ($what, $delay) = @_;
	$s->wait if $s->{banner};    # still to collect when it finished before the cancel was sent
	diag("$what finished before the cancel (after ${delay} s); counted apart");
	$outcomes{$what}{'finished first'}++;
	psql($db, "SELECT tfm_drop(name) FROM (SELECT DISTINCT name FROM tfm.models WHERE name = 'cancelled') m");
	return;    # nothing timed (within_bound)
}

# send sql, let it run for delay seconds (or until ready->() holds), cancel it; 1 when the cancel ended
# it, 0 when it finished first
sub cancel
{
	my ($what, $sql, $delay, $ready) = @_;
	my $cancelled = 0;
	within_bound($bound, sub {
		$s->send($sql);
		running_for($delay);
		ok(wait_until($ready), "$what: reached the step to cancel") if $ready;
		return finished_first($what, $delay) if $s->done;
		my $t0 = time;
		$ctl->query("SELECT pg_cancel_backend($pid)");
		my (undef, $err) = $s->wait;
		my $ms = (time - $t0) * 1000;
		# the cancel may also reach the backend just after the statement ended (idle: ignored)
		return finished_first($what, $delay) if !defined $err || $err eq '';
		push @{ $figures{"$what, pg_cancel_backend"} }, $ms;
		$outcomes{$what}{cancelled}++;
		$cancelled = 1;
		check_after($what, $err, qr/canceling statement due to user request/);
		return ($ms, sprintf("%s: pg_cancel_backend to ERROR %.0f ms", $what, $ms));
	});
	return $cancelled;
}

# run sql under statement_timeout (ms); 1 when the timeout ended it, 0 when it finished first
sub time_out
{
	my ($what, $sql, $timeout_ms) = @_;
	my $timed_out = 0;
	$timeout_ms = int($timeout_ms) || 1;
	within_bound($bound, sub {
		$s->query("SET statement_timeout = $timeout_ms");
		my (undef, $err) = $s->query($sql);
		my $ms = $s->elapsed * 1000 - $timeout_ms;
		$s->query('RESET statement_timeout');
		return finished_first("$what (timeout)", $timeout_ms / 1000) if !defined $err || $err eq '';
		$outcomes{"$what (timeout)"}{cancelled}++;
		push @{ $figures{"$what, statement_timeout"} }, $ms;
		$timed_out = 1;
		check_after("$what (timeout)", $err, qr/canceling statement due to statement timeout/);
		return ($ms, sprintf("%s: statement_timeout (%d ms) to ERROR %.0f ms late", $what, $timeout_ms, $ms));
	});
	return $timed_out;
}

my $per_row = "SELECT count(tfm_embed(repeat('word ', 300) || g, 'minilm')) FROM generate_series(1, 100000) g";
my $bulk = "SELECT count(*) FROM tfm_embed(ARRAY(SELECT repeat('word ', 300) || g FROM generate_series(1, 5000) g), 'minilm')";
my $train_q = "SELECT repeat(''word '', 60) || g, (g %% 2)::text FROM generate_series(1, %d) g";
my $train_head = sprintf("CALL tfm_train('cancelled', 'minilm', '$train_q', 'classification', '{\"epochs\": 50}')", 3000);
my $train_full = sprintf("CALL tfm_train('cancelled', 'minilm', '$train_q', 'classification', "
	  . "'{\"fine_tune\": \"full\", \"epochs\": 50, \"batch_size\": 16}')", 64);
my $in_full = sub {
	$ctl->query("SELECT count(*) FROM tfm_training_progress() WHERE pid = $pid AND progress->>'phase' = 'full'") eq '1';
};

for my $delay (0.5, 1.3)
{
	cancel('per-row tfm_embed', $per_row, $delay);
	cancel('bulk tfm_embed(text[])', $bulk, $delay);
	cancel('CALL tfm_train (head)', $train_head, $delay + 1);
}
# the import's idle duration (the shorter of two): its cancels and timeouts come at fractions of it
my $import_s = 1e9;
for (1 .. 2)
{
	my (undef, $err) = $s->query(import_sql('cancelled'));
	is($err, '', 'an import to time') or diag($err);
	$import_s = $s->elapsed if $s->elapsed < $import_s;
	psql($db, "SELECT tfm_drop('cancelled')");
}
diag(sprintf('an import takes %.0f ms here', $import_s * 1000));
my $imports = 0;
$imports += cancel('tfm_import', import_sql('cancelled'), $_ * $import_s) for (0.15, 0.3, 0.5, 0.7);
cmp_ok($imports, '>=', 2, "tfm_import was cancelled while running at least twice ($imports of 4)");
cancel('CALL tfm_train (full)', $train_full, 0.5, $in_full);
time_out('per-row tfm_embed', $per_row, 1500);
time_out('bulk tfm_embed(text[])', $bulk, 1500);
# a third of the import's duration, then shorter ones until the timeout really ends one
my $import_timeouts = 0;
for my $f (0.33, 0.15, 0.05)
{
	last if $import_timeouts += time_out('tfm_import', import_sql('cancelled'), $f * $import_s * 1000);
}
is($import_timeouts, 1, 'statement_timeout ended an import while it ran');
time_out('CALL tfm_train (head)', $train_head, 2500);

# the same with pg_tfm.blas_threads = 2: bulk encoding and training's features run helper threads,
# which a cancel stops at their next layer and joins before the error reaches the client
$s->query('SET pg_tfm.blas_threads = 2');
cancel('bulk tfm_embed(text[]), 2 threads', $bulk, $_) for (0.5, 1.3);
cancel('CALL tfm_train (head), 2 threads', $train_head, 1.5);
time_out('bulk tfm_embed(text[]), 2 threads', $bulk, 1500);
my @tasks = glob("/proc/$pid/task/*");
cmp_ok(scalar(@tasks), '<=', 2, "no encoder helper thread outlives the cancels (threads: @{[ scalar @tasks ]}; OpenBLAS keeps one)");
$s->query('RESET pg_tfm.blas_threads');

# every kind of statement was really cancelled at least once
for my $k (sort keys %outcomes)
{
	my $o = $outcomes{$k};
	diag(sprintf('%-45s cancelled %d, finished first %d', $k, $o->{cancelled} // 0, $o->{'finished first'} // 0));
	cmp_ok($o->{cancelled} // 0, '>=', 1, sprintf('%s: cancelled %d times, finished first %d times',
		$k, $o->{cancelled} // 0, $o->{'finished first'} // 0));
}
for my $k (sort keys %figures)
{
	my @v = sort { $a <=> $b } @{ $figures{$k} };
	diag(sprintf("%-45s %s ms", $k, join(', ', map { sprintf('%.0f', $_) } @v)));
}
diag("latencies over the bound, run again: " . bound_repeats());
check_no_crash($off, allow => qr/canceling statement due to (user request|statement timeout)/);
done_testing();
