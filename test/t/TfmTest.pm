# TfmTest.pm: helpers for the multi-session TAP tests of pg_tfm against an already running cluster
#
# The tests do not start a cluster of their own (initdb refuses root, and CI runs as root);
# they use the one the environment describes:
#   PGHOST, PGPORT, PGUSER   where the running server listens (a superuser)
#   PG_TFM_MODEL_DIR         the all-MiniLM-L6-v2 directory, readable by the server
#   PG_TFM_PGDATA            the server's data directory (cache files, server.log)
#   PG_TFM_PGCTL             command prefix running pg_ctl as the server's user
#                            (only 090_restart.pl needs it)
#   PG_TFM_SERVER_LOG        the server log (default $PG_TFM_PGDATA/server.log)
#   PG_TFM_TAP_TIMEOUT       seconds any single wait may take (default 180)
package TfmTest;

use strict;
use warnings;

use Exporter 'import';
use File::Basename qw(basename);
use IPC::Run ();
use Test::More ();
use Time::HiRes ();

our @EXPORT = qw(psql psql_result new_db empty_db drop_db extension_members free_port pg_tool
  node_init node_basebackup node_start node_stop run_cmd db_oid model_id cache_key cache_dir cache_files
  cache_file_name tmp_files log_offset log_since wait_until no_backends_in check_no_crash pgdata
  session idle_round_trip within_bound bound_repeats shown_path embed_sql emb_diff import_sql tiny_models_sql failed_checks_re header_layout read_header crc32c sample_blocks
  $TIMEOUT $MODEL_DIR);

our $TIMEOUT = $ENV{PG_TFM_TAP_TIMEOUT} || 180;
our $MODEL_DIR = $ENV{PG_TFM_MODEL_DIR};
my @sessions;    # every background session, closed at exit
my @databases;   # every database a test made, dropped at exit
my @nodes;       # every extra cluster a test started, stopped and removed at exit

# skip the whole file when the environment does not describe a cluster
sub require_env
{
	my @need = (qw(PGHOST PGPORT PG_TFM_MODEL_DIR PG_TFM_PGDATA), @_);
	my @missing = grep { !defined $ENV{$_} || $ENV{$_} eq '' } @need;
	Test::More::plan(skip_all => "environment not set: @missing") if @missing;
}

# the server's data directory
sub pgdata { return $ENV{PG_TFM_PGDATA}; }

# where the extension keeps its cache files
sub cache_dir { return pgdata() . '/pg_tfm'; }

# run SQL (several statements allowed) in a one-shot psql; (rc, stdout, stderr)
sub psql_result
{
	my ($db, $sql, %opt) = @_;
	my ($out, $err) = ('', '');
	my @cmd = ('psql', $opt{aligned} ? '-Xq' : '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $db, '-f', '-');
	push @cmd, '-F', $opt{sep} if defined $opt{sep};
	push @cmd, '-h', $opt{node}{sock}, '-p', $opt{node}{port} if $opt{node};
	my $ok = eval {
		IPC::Run::run(\@cmd, '<', \$sql, '>', \$out, '2>', \$err,
			IPC::Run::timeout($opt{timeout} || $TIMEOUT));
		1;
	};
	return (-1, $out, "psql timed out or failed to run: $@") unless $ok;
	chomp $out;
	return ($? >> 8, $out, $err);
}

# run SQL in a one-shot psql and return its output; dies on any error
sub psql
{
	my ($db, $sql, %opt) = @_;
	my ($rc, $out, $err) = psql_result($db, $sql, %opt);
	die "psql -d $db failed (rc $rc): $err\nSQL: $sql\n" if $rc != 0;
	return $out;
}

# a fresh database with pg_tfm and the model imported as 'minilm' (max_tokens 256)
sub new_db
{
	my ($name) = @_;
	psql('postgres', "DROP DATABASE IF EXISTS $name WITH (FORCE)");
	remove_cache_files_of($name);
	psql('postgres', "CREATE DATABASE $name");
	push @databases, $name;
	(my $dir = $MODEL_DIR) =~ s/'/''/g;
	psql($name, "CREATE EXTENSION pg_tfm;\n"
		  . "SELECT 1 FROM tfm_import('minilm', '$dir', '{\"max_tokens\": 256}');");
	return $name;
}

# a fresh database without pg_tfm, dropped at exit like those of new_db
sub empty_db
{
	my ($name) = @_;
	psql('postgres', "DROP DATABASE IF EXISTS $name WITH (FORCE)");
	remove_cache_files_of($name);
	psql('postgres', "CREATE DATABASE $name");
	push @databases, $name;
	return $name;
}

# the query of extension_members (one row per member, column member)
use constant EXTENSION_MEMBERS_SQL => <<'SQL';
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'pg_tfm'),
mem AS (SELECT d.classid, d.objid FROM pg_depend d, ext
        WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e')
SELECT pg_describe_object(m.classid, m.objid, 0) || ' :: ' || coalesce(CASE m.classid
  WHEN 'pg_proc'::regclass THEN (
    SELECT format('volatile=%s parallel=%s strict=%s secdef=%s leakproof=%s cost=%s rows=%s acl=%s config=%s%s',
                  p.provolatile, p.proparallel, p.proisstrict, p.prosecdef, p.proleakproof, p.procost, p.prorows,
                  p.proacl, p.proconfig, E'\n' || pg_get_functiondef(p.oid))
    FROM pg_proc p WHERE p.oid = m.objid)
  WHEN 'pg_class'::regclass THEN (
    SELECT format('kind=%s acl=%s options=%s', c.relkind, c.relacl, c.reloptions)
      || CASE WHEN c.relkind IN ('v', 'm') THEN E'\n' || pg_get_viewdef(c.oid) ELSE '' END
      || coalesce(E'\n' || (SELECT string_agg(format('column %s %s notnull=%s default=%s storage=%s acl=%s', a.attname,
                              format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(ad.adbin, ad.adrelid),
                              a.attstorage, a.attacl), E'\n' ORDER BY a.attnum)
                  FROM pg_attribute a LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '')
      || coalesce(E'\n' || (SELECT string_agg(format('constraint %s %s', co.conname, pg_get_constraintdef(co.oid)), E'\n' ORDER BY co.conname)
                  FROM pg_constraint co WHERE co.conrelid = c.oid), '')
      || coalesce(E'\n' || (SELECT string_agg('index ' || pg_get_indexdef(i.indexrelid), E'\n' ORDER BY pg_get_indexdef(i.indexrelid))
                  FROM pg_index i WHERE i.indrelid = c.oid), '')
      || coalesce(E'\n' || (SELECT string_agg('trigger ' || pg_get_triggerdef(tg.oid), E'\n' ORDER BY tg.tgname)
                  FROM pg_trigger tg WHERE tg.tgrelid = c.oid AND NOT tg.tgisinternal), '')
      || coalesce(E'\n' || (SELECT format('sequence %s start=%s inc=%s min=%s max=%s cache=%s cycle=%s', format_type(s.seqtypid, NULL),
                              s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle)
                  FROM pg_sequence s WHERE s.seqrelid = c.oid), '')
    FROM pg_class c WHERE c.oid = m.objid)
  WHEN 'pg_namespace'::regclass THEN (SELECT format('owner=%s acl=%s', n.nspowner::regrole, n.nspacl) FROM pg_namespace n WHERE n.oid = m.objid)
  WHEN 'pg_type'::regclass THEN (SELECT format('type %s', t.typtype) FROM pg_type t WHERE t.oid = m.objid)
  END, '') || coalesce(E'\ncomment ' || obj_description(m.objid, (SELECT relname FROM pg_class WHERE oid = m.classid)), '') AS member
FROM mem m
UNION ALL
SELECT format('extension %s schema=%s relocatable=%s config=%s condition=%s comment=%s', e.extname, e.extnamespace::regnamespace,
              e.extrelocatable, e.extconfig::regclass[], e.extcondition, obj_description(e.oid, 'pg_extension'))
FROM pg_extension e WHERE e.extname = 'pg_tfm'
SQL

# pg_tfm as the catalogs of a database describe it, one string per member object (pg_depend
# deptype 'e'): its identity and definition (pg_get_functiondef with volatility, parallel safety,
# strictness, cost, rows and ACL; tables with columns, defaults, storage, constraints, indexes,
# triggers and ACLs; pg_get_viewdef; sequences; schemas; comments), plus the extension's own row
# (schema, config tables). Nothing depends on OIDs, so two databases compare with is_deeply.
sub extension_members
{
	my ($db) = @_;
	my $out = psql($db, "SELECT string_agg(member, E'\\n\\x1e\\n' ORDER BY member) FROM (\n" . EXTENSION_MEMBERS_SQL . "\n) s");
	return [ split /\n\x1e\n/, $out ];
}


# oid of a database
sub db_oid
{
	my ($db) = @_;
	return psql('postgres', "SELECT oid FROM pg_database WHERE datname = '$db'");
}

# catalog id of the newest version of a model
sub model_id
{
	my ($db, $name) = @_;
	return psql($db, "SELECT max(id) FROM tfm.model WHERE name = '" . ($name // 'minilm') . "'");
}

# the cache_key (a uuid, one per model version) that names a version's cache file
sub cache_key
{
	my ($db, $id) = @_;
	return psql($db, "SELECT cache_key FROM tfm.model WHERE id = $id");
}

# the name a version's cache file must have: <dboid>_<model id>_<cache_key>.bin
sub cache_file_name
{
	my ($dboid, $id, $key) = @_;
	return "${dboid}_${id}_$key.bin";
}

# SQL importing the test model from PG_TFM_MODEL_DIR under a name (max_tokens 256), returning its id
sub import_sql
{
	my ($name) = @_;
	(my $dir = $MODEL_DIR) =~ s/'/''/g;
	return "SELECT id FROM tfm_import('$name', '$dir', '{\"max_tokens\": 256}')";
}

# SQL importing 'minilm' (max_tokens 64) and training the head classifier 'tiny' on 40 toy rows of
# a table (spam/ham), as the tests of dumps, replicas, upgrades and shards start from
sub tiny_models_sql
{
	my (%o) = @_;
	my $table = $o{table} // 'train';
	my $create = $o{temp} ? 'CREATE TEMP TABLE' : 'CREATE TABLE';
	my $opts = $o{train_options} // '{"epochs": 5}';
	(my $dir = $MODEL_DIR) =~ s/'/''/g;
	return <<"SQL";
SET client_min_messages = warning;
SELECT 1 FROM tfm_import('minilm', '$dir', '{"max_tokens": 64}');
$create $table AS
  SELECT CASE WHEN i % 2 = 0 THEN 'cheap pills, buy now, limited offer ' || i
              ELSE 'notes from the project review meeting ' || i END AS body,
         CASE WHEN i % 2 = 0 THEN 'spam' ELSE 'ham' END AS label
  FROM generate_series(1, 40) i;
CALL tfm_train('tiny', 'minilm', 'SELECT body, label FROM $table', 'classification', '$opts');
SQL
}

# the log line of a cache file that failed its checks and is rebuilt, optionally with a given reason
sub failed_checks_re
{
	my ($path, $reason) = @_;
	my $why = defined $reason ? quotemeta($reason) : '[^)]+';
	my $shown = shown_path($path);
	return qr/pg_tfm: cache file "\Q$shown\E" failed its checks \($why\); rebuilding it/;
}

# a path under the data directory as pg_tfm's messages show it: relative to the data directory
sub shown_path
{
	my ($path) = @_;
	my $dir = pgdata();
	return substr($path, 0, length($dir) + 1) eq "$dir/" ? substr($path, length($dir) + 1) : $path;
}

# cache files (.bin) in the cache directory, optionally only of one database [and model id]
sub cache_files
{
	my ($dboid, $id) = @_;
	my $prefix = defined $dboid ? ($dboid . '_' . (defined $id ? "${id}_" : '')) : '';
	my @f = sort grep { basename($_) =~ /^\Q$prefix\E.*\.bin$/ } glob(cache_dir() . '/*');
	return @f;
}

# temporary files of unfinished builds, optionally only of one database
sub tmp_files
{
	my ($dboid) = @_;
	my $prefix = defined $dboid ? "${dboid}_" : '';
	my @f = sort grep { basename($_) =~ /^\Q$prefix\E.*\.tmp/ } glob(cache_dir() . '/*');
	return @f;
}

# remove whatever files of a database's oid are left in the cache directory (throwaway cluster)
sub remove_cache_files_of
{
	my ($db) = @_;
	my $oid = eval { psql('postgres', "SELECT oid FROM pg_database WHERE datname = '$db'") };
	return unless defined $oid && $oid ne '';
	unlink grep { basename($_) =~ /^${oid}_/ } glob(cache_dir() . '/*');
}

# drop a test database; returns the cache and lock files of it the drop left behind, and removes
# them unless keep => 1 (a test that checks they are swept later)
sub drop_db
{
	my ($name, %opt) = @_;
	my $oid = db_oid($name);
	psql('postgres', "DROP DATABASE IF EXISTS $name WITH (FORCE)");
	@databases = grep { $_ ne $name } @databases;
	return () unless $oid;
	my @left = grep { basename($_) =~ /^${oid}_/ } glob(cache_dir() . '/*');
	unlink @left unless $opt{keep};
	return @left;
}

# the server log
sub log_file { return $ENV{PG_TFM_SERVER_LOG} || pgdata() . '/server.log'; }

# current length of the server log, to read what comes after
sub log_offset { return -s log_file() // 0; }

# the server log from an offset on
sub log_since
{
	my ($off) = @_;
	open my $fh, '<', log_file() or die "cannot read " . log_file() . ": $!";
	seek $fh, $off, 0;
	local $/;
	my $text = <$fh> // '';
	close $fh;
	return $text;
}

# poll a condition until it holds or the timeout passes; true when it held
sub wait_until
{
	my ($cond, $timeout) = @_;
	my $until = Time::HiRes::time() + ($timeout || $TIMEOUT);
	while (Time::HiRes::time() < $until)
	{
		return 1 if $cond->();
		Time::HiRes::sleep(0.05);
	}
	return $cond->() ? 1 : 0;
}

# wait until no backend other than the asking one is connected to a database
sub no_backends_in
{
	my ($db) = @_;
	return wait_until(sub {
		psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE datname = '$db'") eq '0';
	});
}

# check the server log since an offset: no crashed backend, no ERROR or FATAL but those
# matching allow => qr/.../ (errors_allowed => 1 skips that check)
sub check_no_crash
{
	my ($off, %opt) = @_;
	my $log = log_since($off);
	my @crash = grep { /terminated by signal|was terminated|all server processes terminated|PANIC:/ }
	  split /\n/, $log;
	Test::More::ok(!@crash, 'server log: no backend terminated by a signal, no PANIC')
	  or Test::More::diag(join "\n", @crash);
	return if $opt{errors_allowed};
	my @err = grep { /\b(ERROR|FATAL):/ && !/terminating (connection|autovacuum process) due to administrator command/ }
	  split /\n/, $log;
	@err = grep { $_ !~ $opt{allow} } @err if $opt{allow};
	Test::More::ok(!@err, 'server log: no ERROR or FATAL') or Test::More::diag(join "\n", @err);
}

# SQL for an embedding as text (real[] prints shortest-exact floats, so equal text is equal bits)
sub embed_sql
{
	my ($text, $model) = @_;
	$text =~ s/'/''/g;
	return "SELECT tfm_embed('$text', '" . ($model // 'minilm') . "')::text";
}

# --- the cache file header -------------------------------------------------------------------
#
# The offsets of struct TfmFileHeader are not written down here: header_layout() reads the struct
# (and the config structs it embeds) from src/store/cachefile.h, src/model/bert.h and src/model/gpt2.h and lays it
# out with the C rules of x86-64/aarch64 Linux (each member at the next multiple of its alignment;
# char 1, int/uint32/float/enums 4, int64/uint64 8; a struct aligned as its widest member and
# padded to a multiple of that).  Tests check the result against a real file: magic, header_bytes,
# file_size, vocab_off and the header CRC-32C over the bytes before `crc` must all agree.

my %scalar = (char => 1, int => 4, int32 => 4, uint32 => 4, float => 4, TfmArch => 4,
	int64 => 8, uint64 => 8, double => 8);

# read a header file of the repository
sub src_text
{
	my ($file) = @_;
	my $path = File::Basename::dirname(__FILE__) . "/../../src/$file";
	open my $fh, '<', $path or die "cannot read $path: $!";
	local $/;
	my $t = <$fh>;
	$t =~ s{/\*.*?\*/}{}gs;
	$t =~ s{//[^\n]*}{}g;
	return $t;
}

# (size, align, [ [name, offset, size, count] ... ]) of a typedef'd struct in a header file
sub struct_layout
{
	my ($file, $type) = @_;
	my ($body) = src_text($file) =~ /typedef\s+struct\s+\Q$type\E\s*\{(.*?)\}\s*\Q$type\E\s*;/s
	  or die "struct $type not found in src/$file\n";
	my ($off, $align, @fields) = (0, 1);
	for my $decl (grep { /\S/ } split /;/, $body)
	{
		my ($t, $names) = $decl =~ /^\s*(\w+)\s+(.*?)\s*$/s or die "cannot parse '$decl' in $type\n";
		my ($size, $al);
		if (exists $scalar{$t}) { $size = $al = $scalar{$t}; }
		elsif ($t eq 'TfmBertConfig') { ($size, $al) = struct_layout('model/bert.h', $t); }
		elsif ($t eq 'TfmGpt2Config') { ($size, $al) = struct_layout('model/gpt2.h', $t); }
		else { die "unknown member type $t in $type\n"; }
		for my $n (split /\s*,\s*/, $names)
		{
			my ($name, $count) = $n =~ /^(\w+)(?:\[(\d+)\])?$/ or die "cannot parse member '$n' of $type\n";
			$count //= 1;
			$off = ($off + $al - 1) - ($off + $al - 1) % $al;
			push @fields, [ $name, $off, $size * $count, $count ];
			$off += $size * $count;
		}
		$align = $al if $al > $align;
	}
	$off = ($off + $align - 1) - ($off + $align - 1) % $align;
	return ($off, $align, \@fields);
}

# { field => [offset, bytes] } of TfmFileHeader, plus cfg.<member> and gcfg.<member>
sub header_layout
{
	my (undef, undef, $f) = struct_layout('store/cachefile.h', 'TfmFileHeader');
	my %l;
	for my $m (@$f)
	{
		my ($name, $off, $size) = @$m;
		$l{$name} = [ $off, $size ];
		my %sub = (cfg => 'TfmBertConfig', gcfg => 'TfmGpt2Config');
		next unless $sub{$name};
		my (undef, undef, $sf) = struct_layout($name eq 'cfg' ? 'model/bert.h' : 'model/gpt2.h', $sub{$name});
		$l{"$name.$_->[0]"} = [ $off + $_->[1], $_->[2] ] for @$sf;
	}
	return \%l;
}

# the header of a cache file: { raw => bytes, layout => header_layout(), <field> => value }
# (uint64/int64 fields as numbers, key and magic as strings, cfg.* as numbers)
sub read_header
{
	my ($path) = @_;
	my $l = header_layout();
	open my $fh, '<:raw', $path or die "$path: $!";
	read($fh, my $raw, 4096) == 4096 or die "$path: shorter than 4096 bytes\n";
	close $fh;
	my %h = (raw => $raw, layout => $l);
	my $get = sub { my ($name, $fmt) = @_; return unpack $fmt, substr($raw, $l->{$name}[0], $l->{$name}[1]); };
	$h{magic} = $get->('magic', 'a8');
	$h{key} = $get->('key', 'Z*');
	$h{$_} = $get->($_, 'L<') for qw(header_bytes precision arch vocab_crc weights_crc sample_crc crc);
	$h{$_} = $get->($_, 'Q<') for qw(vocab_off vocab_size weights_off weights_bytes file_size);
	$h{model_id} = $get->('model_id', 'q<');
	$h{$_} = $get->($_, /eps$/ ? 'f<' : 'l<') for grep { /^g?cfg\./ } keys %$l;
	$h{crc_of_header} = crc32c(substr($raw, 0, $l->{crc}[0]));
	return \%h;
}

# CRC-32C (Castagnoli, reflected, as PostgreSQL's pg_crc32c) of a string
my @crc_table;
sub crc32c
{
	my ($data) = @_;
	unless (@crc_table)
	{
		for my $i (0 .. 255)
		{
			my $c = $i;
			$c = ($c & 1) ? (($c >> 1) ^ 0x82F63B78) : ($c >> 1) for 1 .. 8;
			push @crc_table, $c;
		}
	}
	my $crc = 0xFFFFFFFF;
	$crc = $crc_table[($crc ^ $_) & 0xFF] ^ ($crc >> 8) for unpack 'C*', $data;
	return $crc ^ 0xFFFFFFFF;
}

# the blocks pg_tfm.verify_cache = sampled checksums: [start, bytes] relative to weights_off;
# block i starts at i * floor(weights_bytes / 64) and is 4096 bytes long (cachefile.c sample_crc)
sub sample_blocks
{
	my ($weights_bytes) = @_;
	my $step = int($weights_bytes / 64);
	return map { my $o = $_ * $step; [ $o, ($weights_bytes - $o < 4096 ? $weights_bytes - $o : 4096) ] } 0 .. 63;
}

# how two embeddings (as text) differ, for a diagnostic: max |difference| and where, or why not comparable
sub emb_diff
{
	my ($x, $y) = @_;
	my @a = ($x // '') =~ /([-0-9.e]+)/g;
	my @b = ($y // '') =~ /([-0-9.e]+)/g;
	return sprintf('not comparable (%d vs %d numbers): got "%.60s"', scalar @a, scalar @b, $x // '') if @a != @b || !@a;
	my ($max, $at, $n) = (0, -1, 0);
	for my $i (0 .. $#a)
	{
		my $d = abs($a[$i] - $b[$i]);
		$n++ if $a[$i] ne $b[$i];
		($max, $at) = ($d, $i) if $d > $max;
	}
	return sprintf('%d of %d elements differ, max |diff| %.3g at %d', $n, scalar @a, $max, $at);
}

# a background psql session
sub session
{
	my ($db) = @_;
	my $s = TfmTest::Session->new($db);
	push @sessions, $s;
	return $s;
}

# a latency scenario against a bound: $run->() runs it once and returns (ms, test name), or (undef) when
# nothing was timed; a latency over $bound is run again up to twice and the last try decides: a stall of
# the machine (seen once in CI on a 2-core VM) passes, a slow path stays slow and fails
my $repeats = 0;
sub within_bound
{
	my ($bound, $run) = @_;
	for my $try (0 .. 2)
	{
		my ($ms, $name) = $run->();
		return 1 unless defined $ms;
		return Test::More::cmp_ok($ms, '<', $bound, $name) if $ms < $bound || $try == 2;
		Test::More::diag(sprintf('%s: over the bound of %.0f ms, repeated', $name, $bound));
		$repeats++;
	}
}

# how many latencies went over their bound and were run again (within_bound)
sub bound_repeats { return $repeats; }

# the idle round trip of a control session and a session: a query of each, the longest of 5 (ms);
# cancel bounds are measured on top of it, so a loaded machine does not fail them
sub idle_round_trip
{
	my ($ctl, $s) = @_;
	my $rt = 0;
	for (1 .. 5)
	{
		my $t = Time::HiRes::time();
		$ctl->query('SELECT 1');
		$s->query('SELECT 1');
		my $ms = (Time::HiRes::time() - $t) * 1000;
		$rt = $ms if $ms > $rt;
	}
	return $rt;
}

# --- extra clusters (a standby, shards) -------------------------------------------------------
#
# A node is { dir => data directory, sock => its socket directory, port, log, base => File::Temp
# directory holding them }. Its programs run as the server's user: the prefix of PG_TFM_PGCTL
# (e.g. runuser -u postgres --) in front of the program next to pg_ctl. It listens only on its
# unix socket in its own directory, and is stopped and removed at exit, also when a test dies.

# a TCP port nothing listens on or binds on loopback, outside the range scripts/lib.sh probes
sub free_port
{
	require IO::Socket::INET;
	for (1 .. 500)
	{
		my $p = 55000 + int(rand(9000));
		my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $p, Proto => 'tcp');
		if ($c) { close $c; next; }
		my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $p, Proto => 'tcp', Listen => 1)
		  or next;
		close $l;
		return $p;
	}
	die "no free port found\n";
}

# the command (a list) running a PostgreSQL program as the server's user
sub pg_tool
{
	my ($prog, @args) = @_;
	my @c = split ' ', ($ENV{PG_TFM_PGCTL} || 'pg_ctl');
	$c[-1] =~ s{pg_ctl$}{$prog} or die "PG_TFM_PGCTL does not end in pg_ctl: $ENV{PG_TFM_PGCTL}\n";
	return (@c, @args);
}

# run a command list; (rc, stdout, stderr)
sub run_cmd
{
	my ($cmd, %opt) = @_;
	my ($out, $err) = ('', '');
	my $ok = eval {
		IPC::Run::run($cmd, '<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout($opt{timeout} || $TIMEOUT));
		1;
	};
	return (-1, $out, $err . "\n$@") unless defined $ok;
	return ($? >> 8, $out, $err);
}

# the user the server runs as (PG_TFM_PGCTL's runuser -u NAME), or undef for ourselves
sub server_user
{
	my ($u) = ($ENV{PG_TFM_PGCTL} || '') =~ /(?:^|\s)-u\s+(\S+)/;
	return $u;
}

# an empty directory for a new node, writable by the server's user
sub node_dirs
{
	my ($name) = @_;
	require File::Temp;
	my $base = File::Temp->newdir("pg_tfm_${name}_XXXX", TMPDIR => 1);
	mkdir "$base/sock" or die "mkdir: $!";
	if (my $u = server_user())
	{
		my ($uid, $gid) = (getpwnam($u))[2, 3];
		chown $uid, $gid, "$base", "$base/sock" or die "chown $base: $!";
	}
	chmod 0755, "$base";
	my $node = { name => $name, base => $base, dir => "$base/data", sock => "$base/sock", log => "$base/server.log",
		port => free_port() };
	push @nodes, $node;
	return $node;
}

# a new cluster made by initdb (trust authentication, UTF8), not started
sub node_init
{
	my ($name) = @_;
	my $node = node_dirs($name);
	my ($rc, $out, $err) = run_cmd([ pg_tool('initdb', '-D', $node->{dir}, '-U', 'postgres', '--auth=trust',
		'-E', 'UTF8', '--locale=C.UTF-8') ]);
	die "initdb of $name failed: $err\n" if $rc;
	return $node;
}

# a standby made by pg_basebackup -R from the running cluster (PGHOST/PGPORT), not started
sub node_basebackup
{
	my ($name) = @_;
	my $node = node_dirs($name);
	my ($rc, $out, $err) = run_cmd([ pg_tool('pg_basebackup', '-D', $node->{dir}, '-R', '-X', 'stream', '-c', 'fast',
		'-h', $ENV{PGHOST}, '-p', $ENV{PGPORT}, '-U', $ENV{PGUSER} || 'postgres') ]);
	die "pg_basebackup for $name failed: $err\n" if $rc;
	return $node;
}

# start a node on its port and socket directory (extra settings as '-c name=value' words)
sub node_start
{
	my ($node, @settings) = @_;
	my $o = join ' ', "-p $node->{port} -k $node->{sock} -c listen_addresses=''", @settings;
	my ($rc, $out, $err) = run_cmd([ pg_tool('pg_ctl', '-D', $node->{dir}, '-l', $node->{log}, '-w', '-t', '120',
		'-o', $o, 'start') ]);
	die "starting $node->{name} failed: $err\n" . (-r $node->{log} ? `tail -20 $node->{log}` : '') if $rc;
	$node->{started} = 1;
	return $node;
}

# stop a node (fast, then immediate) and remove its directory
sub node_stop
{
	my ($node) = @_;
	if ($node->{started})
	{
		my ($rc) = run_cmd([ pg_tool('pg_ctl', '-D', $node->{dir}, '-m', 'fast', '-w', '-t', '60', 'stop') ]);
		run_cmd([ pg_tool('pg_ctl', '-D', $node->{dir}, '-m', 'immediate', '-w', 'stop') ]) if $rc;
		$node->{started} = 0;
	}
	@nodes = grep { $_ != $node } @nodes;
	delete $node->{base};    # File::Temp removes the directory
}

END
{
	my $rc = $?;
	$_->close for @sessions;
	eval { node_stop($_) } for @nodes;
	for my $db (@databases)
	{
		eval { drop_db($db) };
	}
	$? = $rc;
}

package TfmTest::Session;

use strict;
use warnings;

# start psql on a database and learn its backend pid
sub new
{
	my ($class, $db) = @_;
	my $self = bless { db => $db, in => '', out => '', err => '', n => 0 }, $class;
	$self->{timer} = IPC::Run::timer($TfmTest::TIMEOUT);
	$self->{h} = IPC::Run::start(
		[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=0', '-d', $db ],
		'<', \$self->{in}, '>', \$self->{out}, '2>', \$self->{err}, $self->{timer});
	my ($pid) = $self->query('SELECT pg_backend_pid()');
	die "session on $db did not start: $self->{lasterr}\n" unless defined $pid && $pid =~ /^\d+$/;
	$self->{pid} = $pid;
	return $self;
}

# the backend pid
sub pid { return $_[0]{pid}; }

# send SQL without waiting for it to finish
sub send
{
	my ($self, $sql) = @_;
	die "session has a query in flight\n" if $self->{banner};
	$self->{n}++;
	my $banner = "__tfm_done_$self->{n}__";
	$self->{banner} = $banner;
	$self->{out} = '';
	$self->{err} = '';
	$sql .= ';' unless $sql =~ /;\s*\z/;
	$self->{in} .= "$sql\n\\echo $banner\n\\warn $banner\n";
	$self->{h}->pump_nb;
	$self->{sent_at} = Time::HiRes::time();
	return $self;
}

# true when the query in flight has finished (does not block)
sub done
{
	my ($self) = @_;
	my $b = $self->{banner} or return 1;
	$self->{h}->pump_nb;
	return $self->{out} =~ /\Q$b\E\n/ && $self->{err} =~ /\Q$b\E\n/;
}

# wait for the query in flight; (stdout, stderr) in list context, stdout in scalar context
sub wait
{
	my ($self, $timeout) = @_;
	my $b = $self->{banner} or die "no query in flight\n";
	$self->{timer}->start($timeout || $TfmTest::TIMEOUT);
	my $ok = eval {
		$self->{h}->pump until $self->{out} =~ /\Q$b\E\n/ && $self->{err} =~ /\Q$b\E\n/;
		1;
	};
	$self->{timer}->reset;
	$self->{banner} = undef;
	die "session $self->{db}: no answer within the timeout ($@)\nstdout: $self->{out}\nstderr: $self->{err}\n"
	  unless $ok;
	(my $out = $self->{out}) =~ s/\Q$b\E\n//;
	(my $err = $self->{err}) =~ s/\Q$b\E\n//;
	chomp $out;
	$self->{lasterr} = $err;
	$self->{elapsed} = Time::HiRes::time() - $self->{sent_at};
	return wantarray ? ($out, $err) : $out;
}

# send SQL and wait for it
sub query
{
	my ($self, $sql, $timeout) = @_;
	return $self->send($sql)->wait($timeout);
}

# stderr of the last finished query
sub lasterr { return $_[0]{lasterr}; }

# seconds the last finished query took, as seen from the client
sub elapsed { return $_[0]{elapsed}; }

# end the session
sub close
{
	my ($self) = @_;
	return unless $self->{h};
	$self->{in} .= "\\q\n";
	eval {
		$self->{h}->pump_nb;
		$self->{timer}->start(10);
		$self->{h}->finish;
	};
	eval { $self->{h}->kill_kill } if $@;
	$self->{h} = undef;
}

1;
