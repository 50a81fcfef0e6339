# 065_docs.pl: every ```sql block of the documentation runs
#
# For each documentation file below, a fresh database gets the fixture the file assumes, then the
# file's ```sql blocks run in order in one psql session (so SET and temporary tables carry over
# from block to block, as for a reader following along). A failing block fails with its file and
# line and the server's error. A block preceded by the comment <!-- norun --> is skipped (for
# commands that cannot run here, e.g. long trainings); keep those few.
# PG_TFM_DOCS_ONLY=regex runs only the matching files; PG_TFM_DOCS_SHOW=1 prints what the blocks print.
#
# Paths in the documentation are written as '/models/all-MiniLM-L6-v2', '/models/gpt2' and
# '/data/spam.csv'; the test rewrites '/models/ and '/data/ to a temporary folder holding links to
# the real model (PG_TFM_MODEL_DIR, weights linked as model.safetensors), the tiny GPT-2 of the
# golden data (PG_TFM_GOLDEN/gpt2/tiny) and a CSV (id, subject, body, label) of 60 real e-mails
# (30 spam, 30 ham) sampled from the SpamAssassin corpus (PG_TFM_SPAM_CSV).
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use Test::More;
use File::Temp qw(tempdir);
use IPC::Run ();
use Time::HiRes ();
use TfmTest;

TfmTest::require_env(qw(PG_TFM_SPAM_CSV PG_TFM_GOLDEN));

my $repo = "$FindBin::Bin/../..";

# fixtures: what a file assumes before its first block
#   none   an empty database
#   mail   the table mail(id, subject, body, label) with the 60 e-mails, no extension
#   models pg_tfm with 'minilm' (max_tokens 64), 'gpt2' (tiny), the mail table and 'spam', a
#          classifier trained on it
my $only = $ENV{PG_TFM_DOCS_ONLY};    # a regex: run only the files it matches (while writing docs)
my @files = grep { !defined $only || $_->[0] =~ /$only/ } (
	[ 'README.md',                 'mail' ],
	[ 'docs/reference.md',         'models' ],
	[ 'docs/tutorial-training.md', 'none' ],
	[ 'docs/tutorial-trigger.md',  'none' ],
	[ 'docs/gpt2.md',              'none' ],
);
my $max_norun = 6;    # skipped blocks over all files; raise only with a reason

# the temporary folder the documented paths point to (the server reads and writes it)
my $tmp = tempdir('pg_tfm_docs_XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $tmp;
mkdir "$tmp/models";
mkdir "$tmp/models/all-MiniLM-L6-v2";
mkdir "$tmp/data";
chmod 0755, "$tmp/models", "$tmp/models/all-MiniLM-L6-v2";
chmod 0777, "$tmp/data";
my ($weights) = glob("$MODEL_DIR/*.safetensors");
symlink("$MODEL_DIR/$_", "$tmp/models/all-MiniLM-L6-v2/$_") or die "symlink: $!"
  for qw(config.json tokenizer.json);
symlink($weights, "$tmp/models/all-MiniLM-L6-v2/model.safetensors") or die "symlink: $!";
symlink("$ENV{PG_TFM_GOLDEN}/gpt2/tiny", "$tmp/models/gpt2") or die "symlink: $!";
# the cross-encoder of the tfm_score_pair and tfm_rerank examples: ms-marco's real config and tokenizer
# with random weights of a shrunk config (test/make_seqcls_models.js, run by scripts/test.sh)
die "PG_TFM_SEQCLS is not set (scripts/test.sh sets it)" unless $ENV{PG_TFM_SEQCLS};
symlink("$ENV{PG_TFM_SEQCLS}/ce", "$tmp/models/ms-marco-MiniLM-L-12-v2") or die "symlink: $!";

# the SQL of a file with its documented paths pointing into the temporary folder
sub localize
{
	my ($sql) = @_;
	$sql =~ s{'/(models|data)/}{'$tmp/$1/}g;
	return $sql;
}

my $off = log_offset();
my @dbs;

# a fresh database
sub fresh_db
{
	my ($name) = @_;
	psql('postgres', "DROP DATABASE IF EXISTS $name WITH (FORCE)");
	psql('postgres', "CREATE DATABASE $name");
	push @dbs, $name;
	return $name;
}

# the 60-row sample of the corpus, written by the server
psql('postgres', <<"SQL");
CREATE TEMP TABLE spam_all (id text, grp text, subject text, body text, label text);
COPY spam_all FROM '$ENV{PG_TFM_SPAM_CSV}' WITH (FORMAT csv, HEADER);
COPY (SELECT id, subject, body, label
      FROM (SELECT *, row_number() OVER (PARTITION BY label ORDER BY md5(id)) AS r FROM spam_all) s
      WHERE r <= 30 ORDER BY id)
  TO '$tmp/data/spam.csv' WITH (FORMAT csv, HEADER);
SQL
ok(-s "$tmp/data/spam.csv", 'sample of the corpus written');

my $mail_sql = localize(<<'SQL');
CREATE TABLE mail (id text PRIMARY KEY, subject text, body text, label text);
COPY mail FROM '/data/spam.csv' WITH (FORMAT csv, HEADER);
SQL
my $models_sql = localize(<<'SQL') . $mail_sql . <<'SQL';
SET client_min_messages = warning;
CREATE EXTENSION pg_tfm;
SELECT 1 FROM tfm_import('minilm', '/models/all-MiniLM-L6-v2', '{"max_tokens": 64}');
SELECT 1 FROM tfm_import('gpt2', '/models/gpt2');
SQL
CALL tfm_train('spam', 'minilm', $$SELECT subject || E'\n' || body, label FROM mail$$);
SQL
my %fixture = (none => '', mail => $mail_sql, models => $models_sql);

# the ```sql blocks of a file: [line, sql, norun]
sub blocks
{
	my ($file) = @_;
	open my $fh, '<', "$repo/$file" or die "cannot read $file: $!";
	my @lines = <$fh>;
	close $fh;
	my (@out, $cur, $prev);
	for my $i (0 .. $#lines)
	{
		my $l = $lines[$i];
		if ($cur)
		{
			if ($l =~ /^```\s*$/) { push @out, $cur; undef $cur; }
			else { $cur->[1] .= $l; }
			next;
		}
		if ($l =~ /^```sql\s*$/)
		{
			$cur = [ $i + 2, '', defined $prev && $prev =~ /^<!--\s*norun\s*-->\s*$/ ];
			next;
		}
		$prev = $l if $l =~ /\S/;
	}
	die "$file: unterminated ```sql block at line $cur->[0]" if $cur;
	return @out;
}

my $norun = 0;
my $n = 0;
for my $f (@files)
{
	my ($file, $fix) = @$f;
	my @b = blocks($file);
	my @run = grep { !$_->[2] } @b;
	$norun += @b - @run;
	(my $db = 'tap_docs_' . lc $file) =~ s/[^a-z0-9_]+/_/g;
	fresh_db($db);
	my $t0 = Time::HiRes::time();
	psql($db, $fixture{$fix}, timeout => 600) if $fixture{$fix} ne '';
	my $tfix = Time::HiRes::time() - $t0;

	# one script: a marker before each block, stop at the first error
	my $script = "\\set ON_ERROR_STOP 1\n";
	my @starts;    # [script line of a block's first line, its line in the file]
	for my $bl (@run)
	{
		my $sql = $bl->[1];
		(my $bare = $sql) =~ s/--[^\n]*//g;
		ok($bare =~ /;\s*\z/, "$file:$bl->[0]: the block ends with a semicolon")
		  or $sql .= ";\n";
		$script .= "\\echo \@\@block $bl->[0]\n";
		push @starts, [ ($script =~ tr/\n//) + 1, $bl->[0] ];
		$script .= localize($sql) . "\n";
	}
	$script .= "\\echo \@\@done\n";
	my ($out, $err) = ('', '');
	$t0 = Time::HiRes::time();
	eval {
		IPC::Run::run([ 'psql', '-X', '-q', '-d', $db, '-f', '-' ], '<', \$script, '>', \$out, '2>', \$err,
			IPC::Run::timeout(600));
	};
	my $trun = Time::HiRes::time() - $t0;
	note "$file: output of the blocks:\n$out" if $ENV{PG_TFM_DOCS_SHOW};    # to read the results
	my $done = $out =~ /^\@\@done$/m;
	my %started = map { $_ => 1 } $out =~ /^\@\@block (\d+)$/mg;
	my ($last) = ($out =~ /^\@\@block (\d+)$/mg)[-1];
	for my $bl (@run)
	{
		my $where = "$file:$bl->[0]";
		if ($done || ($started{ $bl->[0] } && $bl->[0] != ($last // -1)))
		{
			pass("$where runs");
		}
		elsif (defined $last && $bl->[0] == $last)
		{
			fail("$where runs");
			# psql:<stdin>:N names a line of the script: point at the line of the file
			$err =~ s{psql:<stdin>:(\d+):}{
				my $l = $1;
				my ($st) = grep { $_->[0] <= $l } reverse @starts;
				$st ? "$file:" . ($st->[1] + $l - $st->[0]) . ':' : "psql:<stdin>:$l:";
			}ge;
			diag("$where failed:\n$err");
		}
		else
		{
			fail("$where runs (not reached: an earlier block failed)");
		}
	}
	note sprintf '%s: %d blocks run, %d skipped (<!-- norun -->); fixture %.1f s, blocks %.1f s',
	  $file, scalar(@run), @b - @run, $tfix, $trun;
	$n += @run;
}
cmp_ok($n, '>=', 30, "the documentation has at least 30 runnable sql blocks ($n)") unless defined $only;
cmp_ok($norun, '<=', $max_norun, "at most $max_norun blocks are marked <!-- norun --> ($norun)");

# every function (but the internal tfm._*), view and setting of the extension has an entry in the
# reference: a heading "### `name(...)`", "### `CALL name(...)`", "### `tfm.view` (view)", "### `pg_tfm.x`"
my $catalog = fresh_db('tap_docs_catalog');
my $objects = psql($catalog, <<'SQL');
CREATE EXTENSION pg_tfm;
LOAD 'pg_tfm';
SELECT DISTINCT 'function ' || p.proname FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_tfm'
WHERE p.proname !~ '^_'
UNION ALL
SELECT 'view ' || c.relnamespace::regnamespace || '.' || c.relname FROM pg_class c
  JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_tfm'
WHERE c.relkind = 'v'
UNION ALL
SELECT 'setting ' || name FROM pg_settings WHERE name LIKE 'pg_tfm.%'
ORDER BY 1;
SQL
my $reference = do { local (@ARGV, $/) = ("$repo/docs/reference.md"); <> };
my @objects = split /\n/, $objects;
cmp_ok(scalar(@objects), '>=', 19, 'the extension has functions, views and settings to document (' . scalar(@objects) . ')');
for (@objects)
{
	my ($kind, $name) = split / /;
	my $re = $kind eq 'function' ? qr/^### `(?:CALL )?\Q$name\E\(/m
	  : $kind eq 'view' ? qr/^### `\Q$name\E` \(view\)/m : qr/^### `\Q$name\E`/m;
	like($reference, $re, "docs/reference.md has an entry for $kind $name");
}
# and every entry of the reference names something the extension has
my %known = map { (split / /)[1] => 1 } @objects;
for my $h ($reference =~ /^### `(?:CALL )?([a-z_.]+)/mg)
{
	ok($known{$h}, "docs/reference.md: entry $h names a function, view or setting of the extension");
}

check_no_crash($off);

END
{
	my $rc = $?;
	eval { drop_db($_) } for @dbs;
	$? = $rc;
}
done_testing();
