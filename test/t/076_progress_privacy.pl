# 076_progress_privacy.pl: what other roles can see of a session's work, and progress files.
# tfm_training_progress() shows a role only the trainings of sessions whose role it has the
# privileges of, unless it is a superuser or a member of pg_read_all_stats (as pg_stat_activity);
# tfm_cache() shows them paths relative to the data directory. A training ended by
# pg_terminate_backend leaves no progress file; a file left by a backend that is gone (or by an
# earlier backend with the same pid) is never shown and is removed when any training starts; a
# damaged file does not make tfm_training_progress() fail for everyone, and a '"' in a model
# name is escaped. tfm.cache, tfm_cache_files() and SET pg_tfm.verify_cache are refused (42501)
# to roles without superuser; errors about cache files show paths under the data directory
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use Test::More;
use Time::HiRes ();
use TfmTest;

TfmTest::require_env();
$SIG{PIPE} = 'IGNORE';    # the psql of a terminated session has exited

my $db = empty_db('tap_privacy_076');
my ($alice, $bob, $watcher) = ('tfm_priv_alice', 'tfm_priv_bob', 'tfm_priv_watcher');
my $dir = TfmTest::cache_dir();
my $off = log_offset();

psql('postgres', "DROP ROLE IF EXISTS $alice, $bob, $watcher; CREATE ROLE $alice LOGIN; CREATE ROLE $bob LOGIN; "
	  . "CREATE ROLE $watcher LOGIN IN ROLE pg_read_all_stats");
psql($db, "CREATE EXTENSION pg_tfm");
psql($db, tiny_models_sql());
psql($db, <<"SQL");
GRANT CREATE ON SCHEMA tfm TO $alice;
CREATE TABLE long_rows AS SELECT repeat('word ', 60) || g AS body, (g % 2)::text AS label FROM generate_series(1, 64) g;
GRANT SELECT ON long_rows, train TO $alice;
SQL

# a background session logged in as a role
sub session_as
{
	my ($role) = @_;
	local $ENV{PGUSER} = $role;
	return session($db);
}

# one-shot SQL as a role (SET ROLE in a superuser's session): (rc, stdout, stderr) with SQLSTATEs in stderr
sub as_role
{
	my ($role, $sql) = @_;
	return psql_result($db, "\\set VERBOSITY sqlstate\nSET client_min_messages = warning;\n"
		  . ($role ? "SET ROLE $role;\n" : '') . $sql);
}

# the pids tfm_training_progress() shows a role (undef: the superuser), sorted, and whether it failed
sub progress_pids
{
	my ($role) = @_;
	my ($rc, $out, $err) = as_role($role, 'SELECT pid FROM tfm_training_progress() ORDER BY pid');
	return $rc == 0 ? join(',', split /\n/, $out) : "ERROR $err";
}

# write a progress file by hand (a stand-in for one a backend left or wrote), mtime seconds ago
sub fake_progress
{
	my ($pid, $json, $age) = @_;
	my $path = "$dir/progress_$pid.json";
	open my $fh, '>', $path or die "$path: $!";
	print $fh $json;
	close $fh;
	chmod 0644, $path;
	my $t = time() - ($age // 0);
	utime $t, $t, $path if $age;
	return $path;
}

# --- 42501 for the cache listings and the verification setting ------------------------------------

for my $c ([ 'tfm.cache', 'SELECT count(*) FROM tfm.cache' ], [ 'tfm_cache_files()', 'SELECT count(*) FROM tfm_cache_files()' ],
	[ 'SET pg_tfm.verify_cache', "SELECT tfm_tokenize('x', 'minilm') IS NULL; SET pg_tfm.verify_cache = full" ])
{
	my ($rc, $out, $err) = as_role($bob, $c->[1]);
	like($err, qr/ERROR:\s+42501/, "$c->[0] as a role without superuser: 42501") or diag($err);
	($rc, $out, $err) = as_role($watcher, $c->[1]);
	like($err, qr/ERROR:\s+42501/, "$c->[0] as a member of pg_read_all_stats: 42501") or diag($err);
	($rc, $out, $err) = as_role(undef, $c->[1]);
	is($rc, 0, "$c->[0] as a superuser works") or diag($err);
}

# --- tfm_cache(): no data directory for roles that may not see it ---------------------------------

my $file = qr/pg_tfm\/\d+_\d+_[0-9a-f-]{36}\.bin/;
my ($rc, $path_bob, $err) = as_role($bob, "SELECT tfm_embed('x', 'minilm') IS NULL; SELECT path FROM tfm_cache()");
like($path_bob, qr/^f\n$file$/, 'tfm_cache() shows a role without privileges the path under the data directory')
  or diag($err);
my (undef, $path_watch) = as_role($watcher, "SELECT tfm_embed('x', 'minilm') IS NULL; SELECT path FROM tfm_cache()");
like($path_watch, qr/^f\n\/.*\/$file$/, 'tfm_cache() shows a member of pg_read_all_stats the full path');
my (undef, $path_su) = as_role(undef, "SELECT tfm_embed('x', 'minilm') IS NULL; SELECT path FROM tfm_cache()");
like($path_su, qr/^f\n\/.*\/$file$/, 'tfm_cache() shows a superuser the full path');
is((split /\n/, $path_su)[1], (split /\n/, $path_watch)[1], 'the same file');

# errors about cache files name them relative to the data directory too (here: the directory is not
# writable when bob makes the first call of a new model version)
psql($db, import_sql('fresh'));
chmod 0500, $dir or die "chmod $dir: $!";
my ($frc, $fout, $ferr) = eval { psql_result($db, "\\set VERBOSITY verbose\nSET ROLE $bob;\nSELECT tfm_embed('x', 'fresh') IS NULL") };
chmod 0700, $dir or die "chmod $dir: $!";
like($ferr, qr/ERROR:\s+42501: could not (open lock|create model cache) file "pg_tfm\/\d+_\d+[^"]*": Permission denied/,
	'an error about a cache file shows the path under the data directory');
my $pgdata = TfmTest::pgdata();
unlike($ferr, qr/\Q$pgdata\E/, 'and not the data directory');
is(psql($db, "SELECT tfm_embed('x', 'fresh') IS NULL"), 'f', 'the model works once the directory is writable');

# --- tfm_training_progress(): only one's own sessions ---------------------------------------------

my $a = session_as($alice);
my $a2 = session_as($alice);
my $b = session_as($bob);
my ($apid, $bpid) = ($a->pid, $b->pid);
$a->send("CALL tfm_train('alice_model', 'minilm', 'SELECT body, label FROM long_rows', 'classification', "
	  . "'{\"fine_tune\": \"full\", \"epochs\": 50, \"batch_size\": 16}')");
ok(wait_until(sub { progress_pids(undef) =~ /\b$apid\b/ }), "alice's training shows in tfm_training_progress()")
  or diag(progress_pids(undef));
is(progress_pids(undef), $apid, 'the superuser sees it');
is(progress_pids($watcher), $apid, 'a member of pg_read_all_stats sees it');
is($a2->query("SELECT pid || ' ' || (progress->>'model') FROM tfm_training_progress()"), "$apid alice_model",
	"alice's other session sees it");
is(progress_pids($alice), $apid, 'a session with SET ROLE alice sees it');
is($b->query('SELECT count(*) FROM tfm_training_progress()'), '0', "bob's session does not see alice's training");
is(progress_pids($bob), '', 'SET ROLE bob does not see it either');

# --- pg_terminate_backend leaves no progress file ---------------------------------------------------

ok(-e "$dir/progress_$apid.json", "alice's progress file exists while she trains");
psql($db, "SELECT pg_terminate_backend($apid)");
ok(wait_until(sub { psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $apid") eq '0' }),
	'the training backend is gone');
$a->close;
ok(!-e "$dir/progress_$apid.json", 'pg_terminate_backend left no progress file');
is(psql($db, "SELECT count(*) FROM tfm.model WHERE name = 'alice_model'"), '0', 'and no model row');

# --- files left behind: never shown, removed at the next start of a training -----------------------

my $doc = '{"model": "ghost", "phase": "head", "epoch": 1, "epochs": 2, "step": 1, "steps": 2}';
my $dead = fake_progress($apid, $doc);                       # its backend is gone
my $reused = fake_progress($bpid, $doc, 3600);               # bob's pid, but written before his backend started
is(progress_pids(undef), '', 'a file of a pid that is no backend, or older than the backend now holding its pid, is not shown');
psql($db, "CALL tfm_train('tiny2', 'minilm', 'SELECT body, label FROM train', 'classification', '{\"epochs\": 1}')");
ok(!-e $dead, 'the next training removed the file of the backend that is gone');
ok(!-e $reused, 'and the one older than the backend now holding its pid');

# --- a damaged file, and a name that needs escaping ------------------------------------------------

fake_progress($bpid, '{"model": "a"b", "phase": ');
is(progress_pids(undef), '', 'a damaged file is skipped: tfm_training_progress() does not fail');
fake_progress($bpid, '{"model": "a\"b", "phase": "head", "epoch": 1, "epochs": 2, "step": 1, "steps": 2}');
is($b->query("SELECT progress->>'model' FROM tfm_training_progress()"), 'a"b', 'bob sees his own session');
is(progress_pids($alice), '', 'alice does not see bob\'s');
unlink "$dir/progress_$bpid.json";

# a real training with a '"' in its name: every poll of tfm_training_progress() meanwhile works and
# shows the name as it is (where the name is refused before training, there is nothing to show)
my $t = session($db);
my $tpid = $t->pid;
$t->send("CALL tfm_train('q\"uote', 'minilm', 'SELECT body, label FROM long_rows', 'classification', "
	  . "'{\"fine_tune\": \"full\", \"epochs\": 1, \"batch_size\": 16}')");
my ($polls, $seen, @bad) = (0, 0);
until ($t->done)
{
	my ($prc, $out, $perr) = as_role(undef, "SELECT progress->>'model' FROM tfm_training_progress() WHERE pid = $tpid");
	$polls++;
	push @bad, $perr if $prc != 0;
	push @bad, "model shown as <$out>" if $prc == 0 && $out ne '' && $out ne 'q"uote';
	$seen++ if $prc == 0 && $out eq 'q"uote';
	Time::HiRes::sleep(0.05);
}
$t->wait;
is(scalar(@bad), 0, "tfm_training_progress() worked in all $polls polls during a training named q\"uote ($seen showed it)")
  or diag(join "\n", @bad[0 .. ($#bad < 4 ? $#bad : 4)]);
ok(!-e "$dir/progress_$tpid.json", 'the training left no progress file');

$_->close for ($a2, $b, $t);
check_no_crash($off, errors_allowed => 1);
drop_db($db);
psql('postgres', "DROP ROLE $alice, $bob, $watcher");
done_testing();
