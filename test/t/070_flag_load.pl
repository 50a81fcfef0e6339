# 070_flag_load.pl: the tfm_flag trigger under load, a short run of test/bench/flag_load.sh
# (16 clients insert random real e-mails for 10 s through pgbench; FLAG_LOAD_CLIENTS and
# FLAG_LOAD_SECONDS change that): every transaction committed one row, none failed, every flag
# equals a recomputed tfm_score >= threshold, the server log has no error and the postmaster
# did not restart
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use Test::More;
use IPC::Run ();
use TfmTest;

TfmTest::require_env();

my $db = 'tap_flag_070';
my $clients = $ENV{FLAG_LOAD_CLIENTS} || 16;
my $seconds = $ENV{FLAG_LOAD_SECONDS} || 10;
my $off = log_offset();
my $started = psql('postgres', 'SELECT pg_postmaster_start_time()');
my ($out, $err) = ('', '');
my $ok = eval {
	local $ENV{USE_RUNNING} = 1;
	local $ENV{KEEP_DB} = 1;
	local $ENV{DB} = $db;
	local $ENV{CLIENTS} = $clients;
	local $ENV{DURATION} = $seconds;
	local $ENV{TRAIN_ROWS} = 300;
	IPC::Run::run([ "$FindBin::Bin/../bench/flag_load.sh" ], '<', \'', '>', \$out, '2>', \$err,
		IPC::Run::timeout($TIMEOUT + $seconds));
	1;
};
my $rc = $ok ? $? >> 8 : -1;
is($rc, 0, 'flag_load.sh passed its own checks') or diag("$@\nstdout:\n$out\nstderr:\n$err");
my ($line) = $out =~ /^result: (.*)$/m;
my %r = map { split /=/, $_, 2 } split ' ', $line // '';
note($_) for grep { /^(ok|NOT OK|per-insert|trained|number of|tps)/ } split /\n/, $out;

cmp_ok($r{processed} // 0, '>=', $clients, "pgbench committed at least one insert per client ($r{processed})");
is($r{failed}, 0, 'no pgbench transaction failed');
is($r{rows}, $r{processed}, 'the table has one row per transaction pgbench counted');
is($r{logged}, $r{processed}, 'the per-transaction log has one line per transaction');
is($r{not_done}, 0, 'no transaction logged as failed or skipped');
is($r{clients}, $clients, 'every client inserted rows');
is($r{null_flags}, 0, 'every row got a flag');
is($r{mismatches}, 0, 'every flag equals tfm_score(t, model, label) >= threshold, recomputed');
cmp_ok($r{flagged} // 0, '>', 0, "some rows flagged ($r{flagged})");
cmp_ok($r{unflagged} // 0, '>', 0, "some rows not flagged ($r{unflagged})");
is($r{log_errors}, 0, 'the script found no error, deadlock or crash in the server log');
is($r{same_postmaster}, 1, 'the script saw the same postmaster before and after');
is(psql('postgres', 'SELECT pg_postmaster_start_time()'), $started, 'postmaster start time unchanged');
check_no_crash($off);
diag("flag under load, $clients clients, $seconds s: $r{tps} tps, per insert p50 $r{p50_ms} ms, "
	  . "p90 $r{p90_ms} ms, p99 $r{p99_ms} ms, max $r{max_ms} ms") if defined $r{tps};
drop_db($db) if psql('postgres', "SELECT count(*) FROM pg_database WHERE datname = '$db'");
done_testing();
