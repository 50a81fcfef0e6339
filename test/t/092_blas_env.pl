# 092_blas_env.pl: where OpenBLAS's core type comes from. pg_tfm sets OPENBLAS_CORETYPE for the CPU
# (SkylakeX with AVX-512, Haswell with AVX2) before OpenBLAS loads, unless the server's environment has
# its own: then the user's wins, tfm_cpu_info() says so (blas_core_source "environment", blas_core_env
# its value) and each backend LOGs it once. Checked on a cluster started without the variable and on one
# started with OPENBLAS_CORETYPE=Nehalem (the suite's cluster has whatever the caller's environment has).
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use Test::More;
use TfmTest;

my $LOG_RE = qr/OpenBLAS uses core type "Nehalem" from the environment variable OPENBLAS_CORETYPE/;

# 1. a cluster of its own started without the variable (the suite's cluster inherits the caller's
# environment, which may set it): pg_tfm chose (on an AVX2 CPU) or OpenBLAS did, and the variable holds
# our choice
my $plain = node_init('blasplain');
{
	delete local $ENV{OPENBLAS_CORETYPE};
	node_start($plain);
}
my %plain = (node => $plain);
psql('postgres', 'CREATE EXTENSION pg_tfm', %plain);
my ($source, $env, $core, $best) = split /\|/,
  psql('postgres', "SELECT i->>'blas_core_source', coalesce(i->>'blas_core_env', '<null>'), i->>'blas_core', "
	  . "i->>'best' FROM tfm_cpu_info() i", %plain);
if ($best =~ /^avx512/)
{
	is("$source $env", 'pg_tfm SkylakeX', 'AVX-512 CPU: pg_tfm set OPENBLAS_CORETYPE=SkylakeX');
}
elsif ($best eq 'avx2')
{
	is("$source $env", 'pg_tfm Haswell', 'AVX2 CPU: pg_tfm set OPENBLAS_CORETYPE=Haswell');
}
else
{
	is("$source $env", 'openblas <null>', 'no AVX2: OpenBLAS chose by itself');
}
note("cluster without the variable: blas_core $core, source $source, env $env, best level $best; the suite's "
	  . "cluster was started with OPENBLAS_CORETYPE " . ($ENV{OPENBLAS_CORETYPE} // '(unset)'));
# pg_tfm.cpu_features = scalar before OpenBLAS loads: no core type of ours, OpenBLAS chooses
is(psql('postgres', "SET pg_tfm.cpu_features = 'scalar'; SELECT i->>'blas_core_source' || ' ' || "
	  . "coalesce(i->>'blas_core_env', '<null>') FROM tfm_cpu_info() i", %plain),
	'openblas <null>', 'kernels capped at scalar: no OPENBLAS_CORETYPE of ours, OpenBLAS chooses');
my $plain_log = do { local (@ARGV, $/) = ($plain->{log}); <ARGV> };
unlike($plain_log, qr/from the environment variable OPENBLAS_CORETYPE/, 'no override LOGged without the variable');
node_stop($plain);
my $off = log_offset();

# 2. a cluster of its own whose environment sets OPENBLAS_CORETYPE
my $node = node_init('blasenv');
{
	local $ENV{OPENBLAS_CORETYPE} = 'Nehalem';
	node_start($node);
}
my %on = (node => $node);
psql('postgres', 'CREATE EXTENSION pg_tfm', %on);
($source, $env, $core) = split /\|/,
  psql('postgres', "SELECT i->>'blas_core_source', i->>'blas_core_env', lower(i->>'blas_core') FROM tfm_cpu_info() i", %on);
is($source, 'environment', 'blas_core_source: the environment won');
is($env, 'Nehalem', 'blas_core_env: the value OpenBLAS read');
is($core, 'nehalem', 'OpenBLAS runs the Nehalem kernels the variable asked for');

# the LOG: once per backend (two calls in one session, then a second session), only where it overrides ours
psql('postgres', 'SELECT tfm_cpu_info(); SELECT tfm_cpu_info()', %on);
psql('postgres', 'SELECT tfm_cpu_info()', %on);
my $log = do { local (@ARGV, $/) = ($node->{log}); <ARGV> };
my $n = () = $log =~ /$LOG_RE/g;
if ($best =~ /^avx/)
{
	is($n, 3, 'LOGged once per backend (three backends: the first query and two sessions)');
	like($log, qr/$LOG_RE[^\n]*not "(SkylakeX|Haswell)" that pg_tfm chose/, 'the LOG names our choice too');
}
else
{
	is($n, 0, 'no AVX2: nothing of ours overridden, nothing LOGged');
}
# with kernels capped at scalar pg_tfm has no core type, so the variable overrides nothing
my $before = $n;
psql('postgres', "SET pg_tfm.cpu_features = 'scalar'; SELECT tfm_cpu_info()", %on);
$log = do { local (@ARGV, $/) = ($node->{log}); <ARGV> };
$n = () = $log =~ /$LOG_RE/g;
is($n, $before, 'no LOG when pg_tfm had no core type of its own');
unlike($log, qr/terminated by signal|server process .* was terminated/, 'no backend crashed');

node_stop($node);
check_no_crash($off);
done_testing();
