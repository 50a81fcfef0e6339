# 089_mlp.pl: MLPs on feature vectors (issue 17) with scikit-learn's real data sets (Debian python3-sklearn,
# made into CSV files by test/make_tabular.js with a fixed 25 % test split): held-out accuracy on digits and
# breast cancer, R² on diabetes, the scoring functions (real[], float8[], bulk) agreeing with tfm_evaluate,
# bad input refused with SQLSTATEs before any training, versions and dump-relevant catalog rows, and a
# BEFORE INSERT trigger flagging transactions from their numbers.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use Test::More;
use TfmTest;
use IPC::Run ();

TfmTest::require_env('PG_TFM_TABULAR');
my $dir = $ENV{PG_TFM_TABULAR};
my $db = empty_db('tap_mlp_089');
my $off = log_offset();

# load a data set: id, split, features real[], label (text) or target
sub load
{
	my ($name, $label_type) = @_;
	psql($db, "CREATE TABLE $name (id int PRIMARY KEY, split text, features real[], label $label_type);\n"
		  . "\\copy $name FROM '$dir/$name.csv' CSV");
}

# the SQLSTATE and message of a statement that must fail (and stderr, to check what ran before)
sub fails
{
	my ($sql) = @_;
	my ($rc, $out, $err) = psql_result($db, "\\set VERBOSITY sqlstate\n$sql");
	my ($state) = $err =~ /ERROR:\s+([0-9A-Z]{5})/;
	my ($rc2, $out2, $msg) = psql_result($db, $sql);
	return ($state // "none (rc $rc)", $msg, $err);
}

# a statement must fail with SQLSTATE want: one test named "what: want"
sub fails_with
{
	my ($sql, $want, $what) = @_;
	my ($state, $msg) = fails($sql);
	is($state, $want, "$what: $want") or diag($msg);
}

psql($db, 'CREATE EXTENSION pg_tfm');
load('digits', 'int');
load('breast_cancer', 'text');
load('diabetes', 'float8');
is(psql($db, "SELECT count(*) || ' ' || count(*) FILTER (WHERE split = 'test') FROM digits"), '1797 449',
	'digits: 1,797 images, 449 held out');

# ---- digits: 64 pixels, 10 classes
my ($rc, $out, $err) = psql_result($db, "CALL tfm_train('digits', 'mlp', "
	  . "'SELECT features, label FROM digits WHERE split = ''train''', 'classification', "
	  . "'{\"hidden\": [64, 32], \"seed\": 1}')");
is($rc, 0, 'digits: training succeeds') or diag($err);
like($err, qr/mlp epoch \d+\/200: train loss/, 'digits: epochs are reported');
my $acc = psql($db, "SELECT (tfm_evaluate('digits', 'SELECT features, label FROM digits WHERE split = ''test''')->>'accuracy')::float8");
cmp_ok($acc, '>=', 0.97, "digits: held-out accuracy $acc >= 0.97");
note("figure: digits held-out accuracy $acc");
is(psql($db, "SELECT round(count(*) FILTER (WHERE tfm_classify(features, 'digits') = label::text)::numeric / count(*), 9) "
		  . "= round(${acc}::numeric, 9) FROM digits WHERE split = 'test'"), 't',
	'digits: tfm_classify row by row agrees with tfm_evaluate');
is(psql($db, "SELECT bool_and(tfm_classify(features::float8[], 'digits') = tfm_classify(features, 'digits')) FROM digits"),
	't', 'digits: float8[] and real[] give the same labels');
is(psql($db, "SELECT tfm_classify_many(array_agg(features ORDER BY id), 'digits') = array_agg(tfm_classify(features, 'digits') ORDER BY id) "
		  . "FROM digits WHERE split = 'test'"), 't', 'digits: the bulk form equals row-by-row scoring');
is(psql($db, "SELECT bool_and(abs(s - tfm_score(features, 'digits', label::text)) < 1e-6) FROM digits d, "
		  . "LATERAL unnest(tfm_score_many(ARRAY[d.features], 'digits', d.label::text)) s WHERE split = 'test'"), 't',
	'digits: tfm_score_many equals tfm_score');
is(psql($db, "SELECT abs(sum(tfm_score(features, 'digits', l::text)) - 1) < 1e-5 FROM digits, generate_series(0, 9) l WHERE id = 1"),
	't', 'digits: the ten probabilities sum to 1');
is(psql($db, "SELECT architecture || ' ' || task || ' ' || dim || ' ' || array_length(labels, 1) || ' ' || params || ' ' "
		  . "|| (training->>'train_rows') || ' ' || (training->>'validation_rows') || ' ' || jsonb_array_length(options->'feature_mean') "
		  . "FROM tfm.models WHERE name = 'digits'"),
	'mlp classification 64 10 6570 1212 136 64',
	'digits: catalog row (64-64-32-10 = 6,570 parameters, 10 % of the 1,348 rows per class validate)');

# ---- breast cancer: 30 features, two labels
($rc, $out, $err) = psql_result($db, "CALL tfm_train('cancer', 'mlp', "
	  . "'SELECT features::float8[], label FROM breast_cancer WHERE split = ''train''', 'classification', "
	  . "'{\"hidden\": [32], \"seed\": 3}')");
is($rc, 0, 'breast cancer: training on float8[] succeeds') or diag($err);
$acc = psql($db, "SELECT (tfm_evaluate('cancer', 'SELECT features, label FROM breast_cancer WHERE split = ''test''')->>'accuracy')::float8");
cmp_ok($acc, '>=', 0.95, "breast cancer: held-out accuracy $acc >= 0.95");
note("figure: breast cancer held-out accuracy $acc");
# metrics by group on feature rows (fairness.c, as for text models): each group's support, accuracy,
# selection rate and true-positive rate, and the parity gap, equal (1e-9) to plain SQL over tfm_classify
is(psql($db, q{WITH p AS (SELECT (id % 3)::text AS g, label, tfm_classify(features, 'cancer') AS pred
                FROM breast_cancer WHERE split = 'test'),
  s AS (SELECT g, count(*)::int AS n, avg((pred = label)::int::float8) AS acc,
               avg((pred = 'malignant')::int::float8) AS sel,
               coalesce(sum((pred = 'malignant' AND label = 'malignant')::int)::float8
                        / nullif(sum((label = 'malignant')::int), 0), 0) AS tpr
        FROM p GROUP BY g),
  e AS (SELECT tfm_evaluate('cancer', $$SELECT features, label, id % 3 FROM breast_cancer WHERE split = 'test'$$,
                            '{"positive": "malignant"}') AS j),
  eg AS (SELECT x->>'group' AS g, (x->>'support')::int AS n, (x->>'accuracy')::float8 AS acc,
                (x->>'selection_rate')::float8 AS sel, (x->>'true_positive_rate')::float8 AS tpr
         FROM e, jsonb_array_elements(e.j->'groups') x)
SELECT count(*) = 3 AND bool_and(s.n = eg.n AND abs(s.acc - eg.acc) < 1e-9 AND abs(s.sel - eg.sel) < 1e-9
                                 AND abs(s.tpr - eg.tpr) < 1e-9)
       AND abs((SELECT (j->'fairness'->>'demographic_parity_difference')::float8 FROM e)
               - (max(s.sel) - min(s.sel))) < 1e-9
FROM s JOIN eg USING (g)}), 't',
	'breast cancer: metrics by group and the parity gap on feature rows equal plain SQL (1e-9)');

# ---- diabetes: regression on 10 raw features
($rc, $out, $err) = psql_result($db, "CALL tfm_train('diabetes', 'mlp', "
	  . "'SELECT features, label FROM diabetes WHERE split = ''train''', 'regression', "
	  . "'{\"hidden\": [32], \"seed\": 5, \"weight_decay\": 0.01}')");
is($rc, 0, 'diabetes: training succeeds') or diag($err);
my $r2 = psql($db, "SELECT (tfm_evaluate('diabetes', 'SELECT features, label FROM diabetes WHERE split = ''test''')->>'r2')::float8");
cmp_ok($r2, '>', 0.3, "diabetes: held-out R² $r2 > 0.3");
note("figure: diabetes held-out R² $r2");
is(psql($db, "SELECT abs((tfm_evaluate('diabetes', 'SELECT features, label FROM diabetes WHERE split = ''test''')->>'mae')::float8 "
		  . "- (SELECT avg(abs(tfm_predict(features, 'diabetes') - label)) FROM diabetes WHERE split = 'test')) < 1e-3"), 't',
	'diabetes: tfm_predict agrees with tfm_evaluate\'s mae');
# (a batch of rows may take another GEMM kernel than a single row: equal to float rounding)
is(psql($db, "SELECT bool_and(abs(b.p - tfm_predict(d.features, 'diabetes')) < 1e-3 * abs(b.p)) AND count(*) = 442 "
		  . "FROM diabetes d JOIN unnest((SELECT tfm_predict_many(array_agg(features ORDER BY id), 'diabetes') FROM diabetes)) "
		  . "WITH ORDINALITY b(p, i) ON b.i = d.id"),
	't', 'diabetes: the bulk form equals row-by-row prediction, in row order');

# ---- a new version under the same name; NULL input gives NULL
psql($db, "CALL tfm_train('cancer', 'mlp', 'SELECT features, label FROM breast_cancer', 'classification', '{\"hidden\": [8], \"epochs\": 3}')");
is(psql($db, "SELECT string_agg(version::text, ',' ORDER BY version) FROM tfm.models WHERE name = 'cancer'"), '1,2',
	'a second training of a name adds version 2');
is(psql($db, "SELECT params FROM tfm.models WHERE name = 'cancer' AND version = 2"), 30 * 8 + 8 + 8 * 2 + 2,
	'version 2 has the new shape (30-8-2)');
is(psql($db, "SELECT tfm_classify(NULL::real[], 'cancer') IS NULL AND tfm_score(NULL::float8[], 'cancer', 'benign') IS NULL"),
	't', 'a NULL feature vector scores NULL');

# ---- grants: the same per-model rights as text models
psql('postgres', 'DROP ROLE IF EXISTS tfm_mlp_user; CREATE ROLE tfm_mlp_user');
psql($db, "SELECT tfm_revoke('cancer', 'public')");
my $as_user = "SET ROLE tfm_mlp_user; SELECT tfm_classify(array_fill(1::real, ARRAY[30]), 'cancer') IS NOT NULL";
fails_with($as_user, '42501', 'a role without usage of the MLP');
psql($db, "SELECT tfm_grant('cancer', 'tfm_mlp_user'::regrole)");
is(psql($db, $as_user), 't', 'after tfm_grant the role scores with it');

# ---- bad training input: an error with its SQLSTATE, before any epoch, and no model stored
my @bad = (
	[ 'NULL feature vector', "SELECT CASE WHEN i = 3 THEN NULL ELSE ARRAY[i, 1]::real[] END, i % 2 FROM generate_series(1, 10) i", '22004' ],
	[ 'NULL element',        "SELECT ARRAY[i, CASE WHEN i = 4 THEN NULL ELSE 1 END]::real[], i % 2 FROM generate_series(1, 10) i", '22004' ],
	[ 'wrong length',        "SELECT CASE WHEN i = 5 THEN ARRAY[i]::real[] ELSE ARRAY[i, 1]::real[] END, i % 2 FROM generate_series(1, 10) i", '2202E' ],
	[ 'NaN',                 "SELECT ARRAY[i, CASE WHEN i = 6 THEN ''NaN''::float8 ELSE 1 END]::float8[], i % 2 FROM generate_series(1, 10) i", '22003' ],
	[ 'Infinity',            "SELECT ARRAY[i, CASE WHEN i = 7 THEN ''-Infinity''::float8 ELSE 1 END]::real[], i % 2 FROM generate_series(1, 10) i", '22003' ],
	[ 'empty array',         "SELECT ''{}''::real[], i % 2 FROM generate_series(1, 10) i", '2202E' ],
	[ 'two-dimensional',     "SELECT ARRAY[[i, 1]]::real[], i % 2 FROM generate_series(1, 10) i", '2202E' ],
	[ 'one class only',      "SELECT ARRAY[i, 1]::real[], ''a'' FROM generate_series(1, 10) i", '22023' ],
	[ 'no rows',             "SELECT ARRAY[i, 1]::real[], i % 2 FROM generate_series(1, 0) i", '22023' ],
	[ 'text features',       "SELECT i::text, i % 2 FROM generate_series(1, 10) i", '42804' ],
	[ 'int[] features',      "SELECT ARRAY[i, 1], i % 2 FROM generate_series(1, 10) i", '42804' ],
);
for my $b (@bad)
{
	my ($what, $query, $want) = @$b;
	my ($state, $msg, $stderr) = fails("CALL tfm_train('bad', 'mlp', '$query', 'classification', '{\"epochs\": 2}')");
	is($state, $want, "training on $what: $want") or diag($msg);
	unlike($stderr, qr/mlp epoch/, "training on $what: refused before any epoch");
}
# bad options: 22023
for my $o (
	[ '{"hidden": [0]}',           'hidden layer of 0 units' ],
	[ '{"hidden": 64}',            'hidden not an array' ],
	[ '{"class_weight": "heavy"}', 'unknown class_weight' ],
	[ '{"fine_tune": "full"}',     'a text-model option' ],
)
{
	fails_with("CALL tfm_train('bad', 'mlp', 'SELECT features, label FROM digits', 'classification', '$o->[0]')", '22023', $o->[1]);
}
is(psql($db, "SELECT count(*) FROM tfm.models WHERE name = 'bad'"), '0', 'no failed training stored a model');

# ---- bad scoring input
fails_with("SELECT tfm_classify(ARRAY[1, 2]::real[], 'digits')", '2202E', 'scoring a vector of the wrong length');
fails_with("SELECT tfm_score(array_fill(0, ARRAY[63]) || 'NaN'::real, 'digits', '3')", '22003', 'scoring a vector holding NaN');
fails_with("SELECT tfm_score(features, 'digits', 'eleven') FROM digits WHERE id = 1", '22023', 'a label the model does not have');
fails_with("SELECT tfm_predict(features, 'digits') FROM digits WHERE id = 1", '42809', 'tfm_predict on a classifier');
fails_with("SELECT tfm_classify('some text', 'digits')", '42809', 'a text given to an MLP');
fails_with("SELECT tfm_classify_many(ARRAY[[1, 2]]::real[], 'digits')", '2202E', 'bulk rows of the wrong width');
fails_with("SELECT tfm_evaluate('digits', 'SELECT ''a''::text, 1')", '42804', 'tfm_evaluate of an MLP over text rows');

# ---- fraud flags from numbers: a BEFORE INSERT trigger (synthetic transactions, seeded)
psql($db, <<'SQL');
SELECT setseed(0.17);
CREATE TABLE tx (id serial PRIMARY KEY, amount float8, night int, new_account int, velocity float8, fraud boolean,
                 flagged boolean);
INSERT INTO tx (amount, night, new_account, velocity, fraud)
SELECT amount, night, new_account, velocity,
       amount > 800 AND (night = 1 OR new_account = 1) AND velocity > 3
FROM (SELECT round((random() ^ 3 * 1500)::numeric, 2)::float8 AS amount, (random() < 0.3)::int AS night,
             (random() < 0.2)::int AS new_account, round((random() * 6)::numeric, 1)::float8 AS velocity
      FROM generate_series(1, 4000)) s;
CALL tfm_train('fraud', 'mlp', 'SELECT ARRAY[amount, night, new_account, velocity], fraud FROM tx', 'classification',
               '{"hidden": [16, 8], "class_weight": "balanced", "seed": 7}');
CREATE TABLE incoming (id int, amount float8, night int, new_account int, velocity float8, flagged boolean);
CREATE TRIGGER flag BEFORE INSERT ON incoming FOR EACH ROW
  EXECUTE FUNCTION tfm_flag('fraud', 'amount, night, new_account, velocity', 'flagged', 'true', '0.5');
CREATE TABLE incoming2 (id int, v real[], flagged boolean);
CREATE TRIGGER flag BEFORE INSERT ON incoming2 FOR EACH ROW EXECUTE FUNCTION tfm_flag('fraud', 'v', 'flagged', 'true');
SQL
like(psql($db, "SELECT options->>'class_weight' IS NULL AND training->>'class_weight' = 'balanced' FROM tfm.models WHERE name = 'fraud'"),
	qr/^t$/, 'fraud: class_weight balanced recorded');
psql($db, "INSERT INTO incoming VALUES (1, 1400, 1, 1, 5.5), (2, 12.5, 0, 0, 0.4), (3, 950, 0, 1, 4.8), (4, 60, 1, 0, 1.0)");
is(psql($db, "SELECT string_agg(id || '=' || flagged, ' ' ORDER BY id) FROM incoming"), '1=true 2=false 3=true 4=false',
	'the trigger flags the two fraud-shaped transactions from their columns');
psql($db, "INSERT INTO incoming2 SELECT id, ARRAY[amount, night, new_account, velocity]::real[] FROM incoming");
psql($db, "INSERT INTO incoming2 VALUES (9, NULL)");
is(psql($db, "SELECT string_agg(id || '=' || coalesce(flagged::text, 'null'), ' ' ORDER BY id) FROM incoming2"),
	'1=true 2=false 3=true 4=false 9=null', 'the trigger reads a real[] column the same way; a NULL vector flags NULL');
is(psql($db, "SELECT bool_and(flagged = (tfm_score(ARRAY[amount, night, new_account, velocity], 'fraud', 'true') >= 0.5)) FROM incoming"),
	't', 'the flags are tfm_score >= threshold');
fails_with("INSERT INTO incoming VALUES (5, NULL, 1, 1, 5.5)", '22004', 'a NULL feature column in the trigger');
my $recall = psql($db, "SELECT (tfm_evaluate('fraud', 'SELECT ARRAY[amount, night, new_account, velocity], fraud FROM tx')->'labels'->'true'->>'recall')::float8");
cmp_ok($recall, '>=', 0.9, "fraud: recall of the rare class $recall >= 0.9 with balanced class weights");

# ---- pg_dump and pg_restore carry MLP models (catalog row: weights, shape, statistics) bit for bit
my $dump = "/tmp/tap_mlp_089_$$.dump";
my $dst = empty_db('tap_mlp_089_restored');
my $scores_sql = "SELECT string_agg(tfm_score(features, 'digits', label::text)::text || ' ' || tfm_classify(features, 'digits'), ',' ORDER BY id) "
  . "FROM digits WHERE id % 50 = 0";
my @tool = (IPC::Run::run(['pg_dump', '-Fc', '-f', $dump, '-d', $db], '2>', \my $dump_err)
	  && IPC::Run::run(['pg_restore', '--exit-on-error', '-d', $dst, $dump], '2>', \my $restore_err));
ok($tool[0], 'pg_dump and pg_restore of the database with MLP models succeed') or diag($restore_err // $dump_err);
is(psql($dst, "SELECT string_agg(name || '\@' || version || ' ' || sha256, ',' ORDER BY name, version) FROM tfm.models"),
	psql($db, "SELECT string_agg(name || '\@' || version || ' ' || sha256, ',' ORDER BY name, version) FROM tfm.models"),
	'the restored catalog has the same model versions');
is(psql($dst, $scores_sql), psql($db, $scores_sql), 'the restored digits model scores bit-identically');
unlink $dump;

check_no_crash($off, errors_allowed => 1);
done_testing();
