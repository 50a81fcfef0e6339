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

our @EXPORT = qw(psql psql_result new_db drop_db db_oid model_id cache_dir cache_files
  tmp_files log_offset log_since wait_until no_backends_in check_no_crash pgdata
  session embed_sql $TIMEOUT $MODEL_DIR);

our $TIMEOUT = $ENV{PG_TFM_TAP_TIMEOUT} || 180;
our $MODEL_DIR = $ENV{PG_TFM_MODEL_DIR};
my @sessions;    # every background session, closed at exit
my @databases;   # every database a test made, dropped at exit

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
	my @cmd = ('psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $db, '-f', '-');
	push @cmd, '-F', $opt{sep} if defined $opt{sep};
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

# drop a test database; returns the cache files of it the drop left behind (then removes them)
sub drop_db
{
	my ($name) = @_;
	my $oid = db_oid($name);
	psql('postgres', "DROP DATABASE IF EXISTS $name WITH (FORCE)");
	@databases = grep { $_ ne $name } @databases;
	return () unless $oid;
	my @left = grep { basename($_) =~ /^${oid}_/ } glob(cache_dir() . '/*');
	unlink @left;
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
	my @err = grep { /\b(ERROR|FATAL):/ && !/terminating connection due to administrator command/ }
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

# a background psql session
sub session
{
	my ($db) = @_;
	my $s = TfmTest::Session->new($db);
	push @sessions, $s;
	return $s;
}

END
{
	my $rc = $?;
	$_->close for @sessions;
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
