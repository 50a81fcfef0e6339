# 060_upgrade.pl: a database made with the released 0.1.0 (an imported model and a trained head)
# is upgraded with ALTER EXTENSION pg_tfm UPDATE: it ends at the control file's default_version,
# with exactly the member objects (and every definition, volatility, ACL) of a fresh
# CREATE EXTENSION, and its models give the same embeddings and scores as before
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use Test::More;
use TfmTest;

TfmTest::require_env();

my $control = "$FindBin::Bin/../../pg_tfm.control";
open my $fh, '<', $control or die "cannot read $control: $!";
my ($default) = join('', <$fh>) =~ /^\s*default_version\s*=\s*'([^']+)'/m
  or die "no default_version in $control\n";
close $fh;
isnt($default, '0.1.0', "the control file's default_version is $default, a version after 0.1.0");

(my $dir = $MODEL_DIR) =~ s/'/''/g;
my $old = empty_db('tap_upgrade_060_old');
my $new = empty_db('tap_upgrade_060_new');
my $off = log_offset();

# 1. the released version, with models and rows in it
psql($old, "CREATE EXTENSION pg_tfm VERSION '0.1.0'");
is(psql($old, "SELECT extversion FROM pg_extension WHERE extname = 'pg_tfm'"), '0.1.0', 'installed as 0.1.0');
psql($old, tiny_models_sql(table => 'mail', train_options => '{"fine_tune": "head", "epochs": 5}'));
is(psql($old, "SELECT string_agg(name || '\@' || version || ' ' || task, ', ' ORDER BY name) FROM tfm.models"),
	'minilm@1 embedding, tiny@1 classification', 'an imported and a trained model');

my @texts = ('Buy cheap pills now!', 'Agenda of the review meeting', 'ünïcödé and emoji 🙂 text');
my $values_sql = join(";\n", map {
	(my $t = $_) =~ s/'/''/g;
	"SELECT tfm_embed('$t', 'minilm')::text, tfm_classify('$t', 'tiny'), tfm_score('$t', 'tiny', 'spam')::text, "
	  . "tfm_tokenize('$t', 'minilm')::text"
} @texts) . ";\nSELECT e.ordinality, e.embedding::text FROM tfm_embed(ARRAY['"
  . join("', '", map { (my $t = $_) =~ s/'/''/g; $t } @texts) . "'], 'minilm') e ORDER BY 1";
my $before = psql($old, $values_sql);
like($before, qr/^\{(?:[-0-9.e]+,){383}[-0-9.e]+\}\|(spam|ham)\|[0-9.e-]+\|\{/, 'values recorded before the upgrade');
my $models_sql = "SELECT name, version, sha256, cache_key, dim, max_tokens, labels, head IS NOT NULL FROM tfm.model ORDER BY id";
my $models_before = psql($old, $models_sql);

# 2. the upgrade, and a fresh install of the default version elsewhere
my %pre = map { (split / :: /, $_, 2)[0] => $_ } @{ extension_members($old) };
psql($old, 'ALTER EXTENSION pg_tfm UPDATE');
is(psql($old, "SELECT extversion FROM pg_extension WHERE extname = 'pg_tfm'"), $default,
	"ALTER EXTENSION pg_tfm UPDATE went to $default");
is(psql($old, "SELECT default_version FROM pg_available_extensions WHERE name = 'pg_tfm'"), $default,
	'the installed control file says the same default_version');
psql($new, 'CREATE EXTENSION pg_tfm');
is(psql($new, "SELECT extversion FROM pg_extension WHERE extname = 'pg_tfm'"), $default, "a fresh install is $default");

my $upgraded = extension_members($old);
my $fresh = extension_members($new);
cmp_ok(scalar @$fresh, '>', 30, sprintf('the fresh install has %d member objects', scalar @$fresh));
ok(scalar(grep { /^function tfm_embed\(text,text\) :: volatile=/ } @$fresh) == 1, 'the description covers functions');
ok(scalar(grep { /^view tfm\.models :: .*\n SELECT/s } @$fresh) == 1, 'the description covers view definitions');
my %f = map { (split / :: /, $_, 2)[0] => $_ } @$fresh;
my %u = map { (split / :: /, $_, 2)[0] => $_ } @$upgraded;
is_deeply([ sort keys %u ], [ sort keys %f ], 'the upgraded database has the same member objects as a fresh install');
note('members the upgrade changed or added: ' . join(', ', grep { ($pre{$_} // '') ne $f{$_} } sort keys %f));
my @differ = grep { exists $u{$_} && $u{$_} ne $f{$_} } sort keys %f;
is_deeply(\@differ, [], 'every member has the same definition (signature, volatility, parallel safety, body, ACL)')
  or diag(join("\n\n", map { "upgraded: $u{$_}\nfresh:    $f{$_}" } @differ));

# 3. the models survive the upgrade unchanged and give the same values in a new session
is(psql($old, $models_sql), $models_before, 'tfm.model rows unchanged (names, versions, sha256, cache keys, heads)');
my $after = psql($old, $values_sql);
is($after, $before, 'embeddings, bulk embeddings, tokens, classes and scores identical after the upgrade');
psql($old, "SELECT 1 FROM tfm_import('minilm', '$dir', '{\"max_tokens\": 64}')");
is(psql($old, "SELECT max(version) FROM tfm.models WHERE name = 'minilm'"), '2', 'importing after the upgrade adds a version');

# the same model imported into the fresh install embeds the same
psql($new, "SELECT 1 FROM tfm_import('minilm', '$dir', '{\"max_tokens\": 64}')");
(my $t0 = $texts[0]) =~ s/'/''/g;
is(psql($new, "SELECT tfm_embed('$t0', 'minilm')::text"), (split /\|/, $before)[0],
	'a fresh install embeds the same as the upgraded one');

check_no_crash($off);
done_testing();
