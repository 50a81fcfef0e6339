# asan_active.pl (scripts/asan.sh only): the backends of the cluster scripts/asan.sh started really run
# the sanitized pg_tfm: after a pg_tfm call a backend maps libasan and the installed pg_tfm.so, and
# that pg_tfm.so needs libasan
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t";
use Test::More;
use TfmTest;

TfmTest::require_env();
my $off = log_offset();    # before any call: the log check below covers every statement of this file
my $db = new_db('tap_asan_active');
like(psql($db, embed_sql('sanitized')), qr/^\{(?:[-0-9.e]+,){383}[-0-9.e]+\}$/, 'an embedding from the sanitized build');
my $maps = psql($db, "SELECT tfm_embed('x', 'minilm') IS NOT NULL; SELECT pg_read_file('/proc/self/maps')");
like($maps, qr{/libasan\.so[.0-9]*$}m, 'the backend maps libasan');
my ($so) = $maps =~ m{(\S+/pg_tfm\.so)$}m;
ok($so, 'the backend maps pg_tfm.so') or diag($maps);
like(`ldd $so 2>&1`, qr/libasan/, "$so is built with -fsanitize=address") if $so;
check_no_crash($off);
done_testing();
