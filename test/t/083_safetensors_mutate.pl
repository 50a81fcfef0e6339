# 083_safetensors_mutate.pl: a bounded run of test/asan/safetensors_mutate.pl in the normal suite
# (no sanitizer needed: an internal error, an out-of-memory error or a crashed backend on a mutated
# safetensors header fails it too). Seeded (ST_SEED, default 0.42) and bounded: at most
# ST_MUTATIONS mutants (default 1500) and ST_SECONDS seconds of mutating (default 40), at least
# ST_MIN_MUTATIONS (default 100) of them. scripts/asan.sh runs the same file, longer and sanitized.
use strict;
use warnings;
use FindBin;

$ENV{ST_MUTATIONS} ||= 1500;
$ENV{ST_SECONDS} ||= 40;
my $file = "$FindBin::Bin/../asan/safetensors_mutate.pl";
-r $file or die "cannot read $file\n";
do $file;
die "$file: $@" if $@;
