# 075_shadow.pl: no object another role created can run instead of a built-in or one of pg_tfm's,
# whatever the caller's search_path. A non-superuser role with CREATE on a schema "evil" (first on
# the superuser's path: evil, pg_catalog, public), on public (before CREATE EXTENSION, so the install
# and upgrade scripts bind their views with it on the path) and on schema tfm (as roles allowed to
# create models have) creates shadows of every function, aggregate and operator pg_tfm's SQL uses:
# same-signature copies (which win when their schema comes first), text overloads (which win for
# untyped NULLs and literals), exact-type overloads where pg_catalog has only a polymorphic or
# cross-type one (text || int, bigint || text, to_jsonb(table row)), and overloads of pg_tfm's own
# internal functions. Each shadow raises a WARNING "SHADOW RAN" and returns the right value; the
# pg_stat_get_activity ones also try ALTER ROLE ... SUPERUSER. Then the superuser, with that path,
# installs pg_tfm and calls every user-facing function, procedure, view and the trigger: no shadow
# may run, results must equal those of a session with a clean path, the role must stay
# unprivileged, and every SQL/PL/pgSQL function of pg_tfm must carry search_path = pg_catalog, pg_temp
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use Test::More;
use TfmTest;

TfmTest::require_env('PG_TFM_GOLDEN', 'PG_TFM_SEQCLS');

(my $dir = $MODEL_DIR) =~ s/'/''/g;
(my $gpt2 = "$ENV{PG_TFM_GOLDEN}/gpt2/tiny") =~ s/'/''/g;
(my $seqcls = $ENV{PG_TFM_SEQCLS}) =~ s/'/''/g;    # checkpoints with heads, random weights (test/make_seqcls_models.js)
my $db = empty_db('tap_shadow_075');
my $role = 'tfm_shadow_evil';
my $EVIL = "SET search_path = evil, pg_catalog, public;\nSET client_min_messages = warning;\n";
my $CLEAN = "SET search_path = pg_catalog, public;\nSET client_min_messages = warning;\n";
my $off = log_offset();

# run SQL as the superuser with the evil path (or another prefix): it must succeed and no shadow may run
sub run_ok
{
	my ($what, $sql, $prefix) = @_;
	my ($rc, $out, $err) = psql_result($db, ($prefix // $EVIL) . $sql);
	is($rc, 0, "$what: succeeds") or diag($err);
	unlike($err, qr/SHADOW RAN/, "$what: no shadow ran") or diag(join "\n", grep { /SHADOW RAN/ } split /\n/, $err);
	return $out;
}

# the same SQL with the evil path and with a clean one: equal results, no shadow in either
sub same_as_clean
{
	my ($what, $sql) = @_;
	my $evil = run_ok("$what (path evil, pg_catalog, public)", $sql);    # first: it builds the cache files
	my $clean = run_ok("$what (clean path)", $sql, $CLEAN);
	is($evil, $clean, "$what: the same result whatever the path");
	return $evil;
}

# --- the hostile role and its shadows --------------------------------------------------------------

psql('postgres', "DROP ROLE IF EXISTS $role; CREATE ROLE $role LOGIN");
psql($db, <<"SQL");
CREATE SCHEMA evil AUTHORIZATION $role;
GRANT CREATE ON SCHEMA public TO $role;
CREATE TABLE public.train AS
  SELECT CASE WHEN i % 2 = 0 THEN 'cheap pills, buy now, limited offer ' || i
              ELSE 'notes from the project review meeting ' || i END AS body,
         CASE WHEN i % 2 = 0 THEN 'spam' ELSE 'ham' END AS label,
         (i % 7)::float8 AS target
  FROM generate_series(1, 40) i;
CREATE TABLE public.mail (body text, flagged boolean);
SQL

# functions: [name, argument types, return type, the real result]
my @functions = (
	[ 'to_jsonb', 'anyelement', 'jsonb', 'pg_catalog.to_jsonb($1)' ],
	[ 'to_jsonb', 'text', 'jsonb', 'pg_catalog.to_jsonb($1)' ],
	[ 'to_jsonb', 'public.mail', 'jsonb', 'pg_catalog.to_jsonb($1)' ],
	[ 'jsonb_populate_record', 'anyelement, jsonb', 'anyelement', 'pg_catalog.jsonb_populate_record($1, $2)' ],
	[ 'jsonb_populate_record', 'public.mail, jsonb', 'public.mail', 'pg_catalog.jsonb_populate_record($1, $2)' ],
	[ 'jsonb_populate_record', 'text, text', 'text', '$1' ],
	[ 'jsonb_build_object', 'text, boolean', 'jsonb', 'pg_catalog.jsonb_build_object($1, $2)' ],
	[ 'jsonb_build_object', 'text, text', 'jsonb', 'pg_catalog.jsonb_build_object($1, $2)' ],
	[ 'current_database', '', 'name', 'pg_catalog.current_database()' ],
	[ 'gen_random_uuid', '', 'uuid', 'pg_catalog.gen_random_uuid()' ],
	[ 'now', '', 'timestamptz', 'pg_catalog.now()' ],
	[ 'array_remove', 'anyarray, anyelement', 'anyarray', 'pg_catalog.array_remove($1, $2)' ],
	[ 'array_remove', 'text, text', 'text', '$1' ],
	[ 'pg_extension_config_dump', 'text, text', 'text', 'NULL' ],
	[ 'quote_ident', 'text', 'text', 'pg_catalog.quote_ident($1)' ],
);
# operators: [operator, left type, right type, result type]
my @operators = (
	[ '=', 'text', 'text', 'boolean' ], [ '=', 'bigint', 'bigint', 'boolean' ],
	[ '=', 'integer', 'integer', 'boolean' ], [ '=', 'oid', 'oid', 'boolean' ],
	[ '=', 'name', 'name', 'boolean' ], [ '=', 'uuid', 'uuid', 'boolean' ],
	[ '=', 'bigint', 'integer', 'boolean' ], [ '=', 'regrole', 'regrole', 'boolean' ],
	[ '=', 'name', 'text', 'boolean' ],
	[ '<>', 'text', 'text', 'boolean' ], [ '<>', 'integer', 'integer', 'boolean' ],
	[ '||', 'text', 'text', 'text' ], [ '||', 'text', 'integer', 'text' ], [ '||', 'bigint', 'text', 'text' ],
	[ '||', 'text', 'uuid', 'text' ], [ '||', 'anyarray', 'anyarray', 'anyarray' ],
	[ '||', 'regrole[]', 'regrole[]', 'regrole[]' ],
	[ '?', 'jsonb', 'text', 'boolean' ], [ '->>', 'jsonb', 'text', 'text' ], [ '->', 'jsonb', 'text', 'jsonb' ],
	[ '>=', 'real', 'real', 'boolean' ], [ '<', 'integer', 'integer', 'boolean' ],
	[ '>', 'integer', 'integer', 'boolean' ], [ '+', 'integer', 'integer', 'integer' ],
	[ '+', 'bigint', 'bigint', 'bigint' ], [ '~', 'text', 'text', 'boolean' ],
);

# SQL creating the shadows in a schema (as the hostile role)
sub shadows_sql
{
	my ($s) = @_;
	my $sql = "SET ROLE $role;\n";
	my $warn = sub { "RAISE WARNING 'SHADOW RAN: %', \$w\$$_[0]\$w\$;" };
	for my $f (@functions)
	{
		my ($name, $args, $ret, $expr) = @$f;
		$sql .= "CREATE FUNCTION $s.$name($args) RETURNS $ret LANGUAGE plpgsql SET search_path = pg_catalog AS \$f\$\n"
		  . "BEGIN " . $warn->("$s.$name($args)") . " RETURN $expr; END \$f\$;\n";
	}
	my $i = 0;
	for my $o (@operators)
	{
		my ($op, $l, $r, $ret) = @$o;
		$i++;
		$sql .= "CREATE FUNCTION $s.shadow_op_$i(a $l, b $r) RETURNS $ret LANGUAGE plpgsql SET search_path = pg_catalog AS \$f\$\n"
		  . "BEGIN " . $warn->("$s.$op($l, $r)") . " RETURN a OPERATOR(pg_catalog.$op) b; END \$f\$;\n"
		  . "CREATE OPERATOR $s.$op (LEFTARG = $l, RIGHTARG = $r, FUNCTION = $s.shadow_op_$i);\n";
	}
	# aggregates: string_agg(text, text), max(integer), array_agg(bigint)
	$sql .= <<"SQL";
CREATE FUNCTION $s.shadow_sagg(st text, v text, d text) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog AS \$f\$
BEGIN @{[ $warn->("$s.string_agg(text, text)") ]} RETURN CASE WHEN st IS NULL THEN v ELSE st || d || v END; END \$f\$;
CREATE AGGREGATE $s.string_agg(text, text) (SFUNC = $s.shadow_sagg, STYPE = text);
CREATE FUNCTION $s.shadow_max(st integer, v integer) RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog AS \$f\$
BEGIN @{[ $warn->("$s.max(integer)") ]} RETURN GREATEST(st, v); END \$f\$;
CREATE AGGREGATE $s.max(integer) (SFUNC = $s.shadow_max, STYPE = integer);
CREATE FUNCTION $s.shadow_aagg(st bigint[], v bigint) RETURNS bigint[] LANGUAGE plpgsql SET search_path = pg_catalog AS \$f\$
BEGIN @{[ $warn->("$s.array_agg(bigint)") ]} RETURN pg_catalog.array_append(st, v); END \$f\$;
CREATE AGGREGATE $s.array_agg(bigint) (SFUNC = $s.shadow_aagg, STYPE = bigint[]);
SQL
	# the function of the audit's exploit, in the text form an untyped NULL prefers and in the exact
	# form: it makes the hostile role a superuser when a superuser runs it
	for my $arg ('text', 'integer')
	{
		$sql .= <<"SQL";
CREATE FUNCTION $s.pg_stat_get_activity(p $arg) RETURNS TABLE (pid integer) LANGUAGE plpgsql SET search_path = pg_catalog AS \$f\$
BEGIN
  @{[ $warn->("$s.pg_stat_get_activity($arg)") ]}
  BEGIN EXECUTE 'ALTER ROLE $role SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
  RETURN QUERY SELECT a.pid FROM pg_catalog.pg_stat_get_activity(NULL::integer) a;
END \$f\$;
SQL
	}
	return $sql . "RESET ROLE;\n";
}

psql($db, shadows_sql('public'));
psql($db, shadows_sql('evil'));
# in each schema: the functions, one function per operator, 3 aggregates with their 3 state functions,
# 2 forms of pg_stat_get_activity
is(psql($db, "SELECT count(*) FROM pg_proc WHERE pronamespace = 'evil'::regnamespace"),
	scalar(@functions) + scalar(@operators) + 6 + 2, 'the shadow functions exist');
is(psql($db, "SELECT count(*) FROM pg_operator WHERE oprnamespace = 'evil'::regnamespace"),
	scalar(@operators), 'the shadow operators exist');

# --- install, with the hostile path and the shadows in public --------------------------------------

run_ok('CREATE EXTENSION pg_tfm', 'CREATE EXTENSION pg_tfm SCHEMA public');
# what a role that may create models can add to schema tfm: overloads of pg_tfm's internal functions
psql($db, <<"SQL");
GRANT CREATE ON SCHEMA tfm TO $role;
SET ROLE $role;
CREATE FUNCTION tfm._import_path(a text, b text, c text) RETURNS bigint LANGUAGE plpgsql AS
  \$f\$ BEGIN RAISE WARNING 'SHADOW RAN: tfm._import_path(text, text, text)'; RETURN NULL; END \$f\$;
CREATE FUNCTION tfm._import_path(a text, b text, c anyelement) RETURNS bigint LANGUAGE plpgsql AS
  \$f\$ BEGIN RAISE WARNING 'SHADOW RAN: tfm._import_path(text, text, anyelement)'; RETURN NULL; END \$f\$;
CREATE FUNCTION tfm._import_content(a text, b text, c text, d text, e text) RETURNS bigint LANGUAGE plpgsql AS
  \$f\$ BEGIN RAISE WARNING 'SHADOW RAN: tfm._import_content(text, ...)'; RETURN NULL; END \$f\$;
CREATE FUNCTION public.tfm_score(a text, b text, c anyelement) RETURNS real LANGUAGE plpgsql AS
  \$f\$ BEGIN RAISE WARNING 'SHADOW RAN: public.tfm_score(text, text, anyelement)'; RETURN 1; END \$f\$;
RESET ROLE;
SQL

# functions and operators outside pg_catalog that pg_tfm's objects were bound to (views' rules, column
# defaults, constraints, the objects themselves) and that are not pg_tfm's own: pg_depend records no
# dependencies on built-in (pinned) objects, so any row here is a function another role could own
my $BOUND_SQL = <<'SQL';
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'pg_tfm'),
members AS (SELECT d.classid, d.objid FROM pg_depend d, ext
            WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'),
owned AS (SELECT classid, objid FROM members
          UNION ALL SELECT 'pg_rewrite'::regclass, r.oid FROM pg_rewrite r JOIN members m ON m.objid = r.ev_class
          UNION ALL SELECT 'pg_attrdef'::regclass, a.oid FROM pg_attrdef a JOIN members m ON m.objid = a.adrelid
          UNION ALL SELECT 'pg_constraint'::regclass, c.oid FROM pg_constraint c JOIN members m ON m.objid = c.conrelid)
SELECT coalesce(string_agg(DISTINCT pg_describe_object(d.classid, d.objid, 0) || ' uses '
                           || pg_describe_object(d.refclassid, d.refobjid, 0), '; '), '')
FROM pg_depend d JOIN owned o ON o.classid = d.classid AND o.objid = d.objid
WHERE d.refclassid IN ('pg_proc'::regclass, 'pg_operator'::regclass)
  AND NOT EXISTS (SELECT FROM members m WHERE m.classid = d.refclassid AND m.objid = d.refobjid)
  AND coalesce((SELECT pronamespace FROM pg_proc WHERE d.refclassid = 'pg_proc'::regclass AND oid = d.refobjid),
               (SELECT oprnamespace FROM pg_operator WHERE d.refclassid = 'pg_operator'::regclass AND oid = d.refobjid))
      <> 'pg_catalog'::regnamespace
SQL
is(psql($db, $BOUND_SQL), '', 'no view, default or constraint of pg_tfm is bound to a function or operator outside pg_catalog');

# the same after ALTER EXTENSION UPDATE of a 0.1.0 installed with the shadows in public
my $up = empty_db('tap_shadow_075_up');
psql($up, "GRANT CREATE ON SCHEMA public TO $role; CREATE TABLE public.mail (body text, flagged boolean);");
psql($up, shadows_sql('public'));
psql($up, "CREATE EXTENSION pg_tfm VERSION '0.1.0'");
like(psql($up, $BOUND_SQL), qr/rule _RETURN on view tfm\.models uses operator (?:public\.)?\|\|\(text,integer\)/,
	'0.1.0 bound tfm.models to the shadow ||(text, integer) in public (the check can fail)');
my ($urc, $uout, $uerr) = psql_result($up, 'ALTER EXTENSION pg_tfm UPDATE');
is($urc, 0, 'ALTER EXTENSION pg_tfm UPDATE succeeds') or diag($uerr);
unlike($uerr, qr/SHADOW RAN/, 'no shadow ran during the upgrade');
is(psql($up, $BOUND_SQL), '', 'after the upgrade nothing of pg_tfm is bound to a function or operator outside pg_catalog');
drop_db($up);

is(psql($db, <<'SQL'), '', 'every SQL and PL/pgSQL function of pg_tfm runs with search_path = pg_catalog, pg_temp');
SELECT string_agg(p.oid::regprocedure::text, ', ')
FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
WHERE d.classid = 'pg_proc'::regclass AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_tfm')
  AND p.prolang IN (SELECT oid FROM pg_language WHERE lanname IN ('sql', 'plpgsql'))
  AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)
SQL

# --- every user-facing function, procedure, view and the trigger, as the superuser ----------------

is(run_ok('tfm_import(name, path, options)',
		"SELECT name, version, architecture, task, dim, max_tokens, base FROM tfm_import('minilm', '$dir', '{\"max_tokens\": 64}')"),
	'minilm|1|bert|embedding|384|64|', 'tfm_import (path form) returns the new row');
is(run_ok('tfm_import(name, config, tokenizer, weights, options)',
		"SELECT name, version, architecture, dim, max_tokens FROM tfm_import('minilm_c', "
		  . "pg_catalog.pg_read_file('$dir/config.json')::jsonb, pg_catalog.pg_read_file('$dir/tokenizer.json')::jsonb, "
		  . "pg_catalog.pg_read_binary_file('$dir/model.fp16.safetensors'), '{\"max_tokens\": 64}')"),
	'minilm_c|1|bert|384|64', 'tfm_import (content form) returns the new row');
is(run_ok('tfm_import of a GPT-2', "SELECT name, architecture FROM tfm_import('gpt2tiny', '$gpt2')"),
	'gpt2tiny|gpt2', 'tfm_import of the tiny GPT-2');
run_ok('CALL tfm_train (classification)',
	"CALL tfm_train('tiny', 'minilm', 'SELECT body, label FROM public.train', 'classification', '{\"epochs\": 5}')");
run_ok('CALL tfm_train (regression)',
	"CALL tfm_train('tinyreg', 'minilm', 'SELECT body, target FROM public.train', 'regression', '{\"epochs\": 3}')");

my @t = ('cheap pills, buy now, limited offer 2', 'notes from the project review meeting 3');
my $in = "ARRAY['$t[0]', '$t[1]']::text[]";
same_as_clean('tfm.models', 'SELECT name, version, architecture, task, labels, dim, max_tokens, params, sha256, base, owner '
	  . 'FROM tfm.models ORDER BY id');
is(psql($db, "SELECT sha256 FROM tfm.models WHERE name = 'minilm_c'"), psql($db, "SELECT sha256 FROM tfm.models WHERE name = 'minilm'"),
	'the content form imported the same weights');
like(psql($db, "SELECT base FROM tfm.models WHERE name = 'tiny'"), qr/^minilm\@1$/, 'tfm.models shows the base');
for my $i (0, 1)
{
	same_as_clean("inference on text $i",
		"SELECT tfm_tokenize('$t[$i]', 'minilm')::text, tfm_embed('$t[$i]', 'minilm')::text, "
		  . "tfm_embed('$t[$i]', 'minilm_c')::text, tfm_classify('$t[$i]', 'tiny'), "
		  . "tfm_score('$t[$i]'::text, 'tiny'::text, 'spam'::text)::text, tfm_predict('$t[$i]', 'tinyreg')::text");
}
is(psql($db, "SELECT tfm_classify('$t[0]', 'tiny') || ' ' || tfm_classify('$t[1]', 'tiny')"), 'spam ham',
	'the classifier trained with the hostile path works');
same_as_clean('tfm_embed(text[]) (bulk)', "SELECT ordinality, embedding::text FROM tfm_embed($in, 'minilm') ORDER BY 1");
# sequence-classification checkpoints: a cross-encoder and a classifier with its head (issue 15)
is(run_ok('tfm_import of checkpoints with heads',
		"SELECT name, task FROM tfm_import('ce', '$seqcls/ce'); SELECT name, task FROM tfm_import('cls3', '$seqcls/cls3')"),
	"ce|cross-encoder\ncls3|classification", 'tfm_import of a cross-encoder and a classifier checkpoint');
same_as_clean('pairs and reranking', "SELECT tfm_tokenize('$t[0]', '$t[1]', 'ce')::text, "
	  . "tfm_score_pair('$t[0]', '$t[1]', 'ce')::text, tfm_classify('$t[0]', 'cls3'), "
	  . "tfm_score('$t[0]'::text, 'cls3'::text, 'neutral'::text)::text; "
	  . "SELECT ordinality, score::text FROM tfm_rerank('$t[0]', $in, 'ce') ORDER BY 1");
run_ok('tfm_drop of the checkpoints', "SELECT tfm_drop('ce'); SELECT tfm_drop('cls3')");
same_as_clean('the forms with pg_tfm.default_model',
	"SET pg_tfm.default_model = 'tiny'; SELECT tfm_tokenize('$t[0]')::text, tfm_embed('$t[0]')::text, "
	  . "tfm_classify('$t[0]'); SET pg_tfm.default_model = 'tinyreg'; SELECT tfm_predict('$t[0]')::text");
same_as_clean('tfm_evaluate', "SELECT tfm_evaluate('tiny', 'SELECT body, label FROM public.train')::text, "
	  . "tfm_evaluate('tinyreg', 'SELECT body, target FROM public.train')::text");
same_as_clean('tfm_generate', "SELECT tfm_generate('The quick brown fox', 'gpt2tiny', 5), "
	  . "tfm_tokenize('Hello, world!', 'gpt2tiny')::text");
like(same_as_clean('tfm.cache', 'SELECT name, version, model_id, bytes FROM tfm.cache ORDER BY model_id'),
	qr/^minilm\|1\|\d+\|\d+$/m, 'tfm.cache lists minilm');
like(run_ok('tfm.cache (mapped_by)', "SELECT tfm_embed('x', 'minilm') IS NULL; SELECT name, mapped_by FROM tfm.cache ORDER BY 1"),
	qr/^minilm\|[1-9]\d*$/m, 'tfm.cache: this session maps minilm');
like(run_ok('tfm_cache_files()', 'SELECT database, model_id, cache_key, bytes, mapped_by FROM tfm_cache_files()'),
	qr/^\d+\|\d+\|[0-9a-f-]{36}\|\d+\|\d+$/m, 'tfm_cache_files() lists the files');
run_ok('tfm_cache()', 'SELECT model_id, name, sha256, path, bytes, hits FROM tfm_cache()');
run_ok('tfm_training_progress()', 'SELECT pid, progress FROM tfm_training_progress()');

my $rights = run_ok('tfm_grant, tfm_revoke, tfm_has_usage', <<"SQL");
SELECT tfm_revoke('tiny', 'public');
SELECT tfm_has_usage('tiny', '$role');
SELECT tfm_grant('tiny', '$role'::regrole);
SELECT tfm_has_usage('tiny', '$role');
SELECT tfm_revoke('tiny', '$role'::regrole);
SELECT tfm_has_usage('tiny', '$role');
SELECT tfm_has_usage('nosuchmodel', '$role') IS NULL;
SELECT tfm_grant('tiny', 'public');
SELECT tfm_has_usage('tiny', '$role');
SQL
is(join(',', grep { $_ ne '' } split /\n/, $rights), 'f,t,f,t,t', 'the rights changed as asked');

run_ok('the tfm_flag trigger', <<"SQL");
CREATE TRIGGER flag BEFORE INSERT ON public.mail FOR EACH ROW
  EXECUTE FUNCTION public.tfm_flag('tiny', 'body', 'flagged', 'spam', '0.5');
INSERT INTO public.mail (body) VALUES ('$t[0]'), ('$t[1]');
SQL
is(psql($db, "SELECT string_agg(flagged::text, ',' ORDER BY body) FROM public.mail"), 'true,false',
	'tfm_flag flagged the spam and only the spam');

run_ok('tfm_drop', "SELECT tfm_drop('tinyreg'); SELECT tfm_drop('minilm_c')");
is(psql($db, "SELECT string_agg(name, ',' ORDER BY id) FROM tfm.models"), 'minilm,gpt2tiny,tiny', 'tfm_drop dropped them');

# the shadows do run where a path picks them (as the hostile role itself: the test can fail)
like((psql_result($db, "SET ROLE $role; SET search_path = evil, pg_catalog; "
		  . "SELECT 'a'::text = 'a'::text, pg_stat_get_activity(NULL) IS NULL, 1::bigint || 'x'"))[2],
	qr/^(?=.*SHADOW RAN: evil\.=\(text, text\))(?=.*SHADOW RAN: evil\.pg_stat_get_activity\(text\))(?=.*SHADOW RAN: evil\.\|\|\(bigint, text\))/s,
	'the shadows run where the path picks them');
is(psql('postgres', "SELECT rolsuper FROM pg_roles WHERE rolname = '$role'"), 'f', 'the hostile role is not a superuser');

check_no_crash($off, errors_allowed => 1);
drop_db($db);
psql('postgres', "DROP ROLE $role");
done_testing();
