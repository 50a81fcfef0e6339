-- tfm_flag (C, src/flag.c) against flag_ref, the PL/pgSQL body it replaced: both set the same flags on
-- the same rows (text and feature-vector models, thresholds, NULL input, INSERT and UPDATE) and refuse
-- the same misuse with the same SQLSTATE and message
SET client_min_messages = warning;
\getenv bad PG_TFM_BAD

-- the reference: tfm_flag as 0.2.0 development had it, in PL/pgSQL
CREATE FUNCTION flag_ref() RETURNS trigger AS $$
DECLARE
    doc jsonb;
    score real;
    threshold numeric := 0.5;
    flag_type oid;
    input_is_array boolean;
    cols text[];
BEGIN
    IF TG_NARGS < 4 OR TG_NARGS > 5 THEN
        RAISE EXCEPTION 'tfm_flag needs (model, text column, flag column, label [, threshold])'
            USING ERRCODE = '22023';
    END IF;
    IF TG_LEVEL <> 'ROW' OR TG_WHEN <> 'BEFORE' THEN
        RAISE EXCEPTION 'tfm_flag must be a BEFORE ... FOR EACH ROW trigger' USING ERRCODE = '39P01';
    END IF;
    IF TG_NARGS = 5 THEN
        IF TG_ARGV[4] IS NULL
           OR TG_ARGV[4] !~ '^\s*([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,3})?\s*$' THEN
            RAISE EXCEPTION 'tfm_flag threshold must be a number between 0 and 1, not "%"', TG_ARGV[4]
                USING ERRCODE = '22023', HINT = 'Pass the threshold as the fifth trigger argument, for example ''0.8''.';
        END IF;
        threshold := TG_ARGV[4]::numeric;
        IF threshold > 1 THEN
            RAISE EXCEPTION 'tfm_flag threshold must be a number between 0 and 1, not "%"', TG_ARGV[4]
                USING ERRCODE = '22023', HINT = 'The threshold is compared with a probability (tfm_score).';
        END IF;
    END IF;
    doc := pg_catalog.to_jsonb(NEW);
    -- the input columns: one, or a comma-separated list of numeric columns forming the feature vector
    cols := ARRAY(SELECT pg_catalog.btrim(c) FROM pg_catalog.unnest(pg_catalog.string_to_array(TG_ARGV[1], ',')) c);
    IF NOT doc ?& cols OR NOT doc ? TG_ARGV[2] THEN
        RAISE EXCEPTION 'table %.% has no column % or %', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_ARGV[1], TG_ARGV[2]
            USING ERRCODE = '42703';
    END IF;
    -- the column's type, or a domain's base type (a domain over boolean is a boolean column)
    SELECT CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END INTO flag_type
    FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
    WHERE a.attrelid = TG_RELID AND a.attname = TG_ARGV[2]::name AND a.attnum > 0 AND NOT a.attisdropped;
    IF flag_type IS DISTINCT FROM 'pg_catalog.bool'::pg_catalog.regtype THEN
        RAISE EXCEPTION 'tfm_flag flag column % of table %.% must be boolean, not %', TG_ARGV[2], TG_TABLE_SCHEMA,
            TG_TABLE_NAME, pg_catalog.format_type(flag_type, NULL) USING ERRCODE = '42804';
    END IF;
    SELECT t.typcategory OPERATOR(pg_catalog.=) 'A' INTO input_is_array
    FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
    WHERE a.attrelid = TG_RELID AND a.attname = TG_ARGV[1]::name AND a.attnum > 0 AND NOT a.attisdropped;
    IF pg_catalog.cardinality(cols) OPERATOR(pg_catalog.>) 1 THEN
        -- a NULL value is an error (22004), as a NULL element of a feature vector
        score := public.tfm_score(
            ARRAY(SELECT (doc->>u.c)::pg_catalog.float8 FROM pg_catalog.unnest(cols) WITH ORDINALITY AS u(c, o) ORDER BY u.o),
            TG_ARGV[0], TG_ARGV[3]);
    ELSIF input_is_array THEN
        -- a NULL vector scores NULL (no flag), as a NULL text does; NULL or NaN elements are errors
        score := public.tfm_score(
            CASE WHEN pg_catalog.jsonb_typeof(doc->TG_ARGV[1]) OPERATOR(pg_catalog.=) 'array' THEN
                COALESCE((SELECT pg_catalog.array_agg(e.v::pg_catalog.float8 ORDER BY e.o)
                          FROM pg_catalog.jsonb_array_elements_text(doc->TG_ARGV[1]) WITH ORDINALITY AS e(v, o)),
                         '{}'::pg_catalog.float8[]) END,
            TG_ARGV[0], TG_ARGV[3]);
    ELSE
        score := public.tfm_score(doc->>TG_ARGV[1], TG_ARGV[0], TG_ARGV[3]);
    END IF;
    RETURN pg_catalog.jsonb_populate_record(NEW, pg_catalog.jsonb_build_object(TG_ARGV[2],
               score >= threshold::real));
END $$ LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp;

-- a text classifier (odd_shape from test/make_bad_models.js: random weights, hidden 20) and an MLP
\set d :bad '/odd_shape'
SELECT name FROM tfm_import('fl_odd', :'d', '{"max_tokens": 32}');
CREATE TABLE fl_rows AS
  SELECT CASE WHEN i % 2 = 0 THEN 'cheap pills, buy now ' || i ELSE 'notes from the review meeting ' || i END AS body,
         CASE WHEN i % 2 = 0 THEN 'spam' ELSE 'ham' END AS label
  FROM generate_series(1, 40) i;
CALL tfm_train('fl_cls', 'fl_odd', 'SELECT body, label FROM fl_rows', 'classification', '{"epochs": 2}');
CREATE TABLE fl_tx AS
  SELECT (i % 7)::float8 AS a, (i % 3)::int AS b, (i % 7) > 3 AS fraud FROM generate_series(1, 200) i;
CALL tfm_train('fl_mlp', 'mlp', 'SELECT ARRAY[a, b], fraud FROM fl_tx', 'classification', '{"hidden": [8], "seed": 3}');

-- same(cols, args, rows [, flag_type]): two tables of input columns cols and a flag column flagged,
-- one with tfm_flag(args), one with flag_ref(args); rows (a query) inserted into both, then updated
-- (the flag inverted, so the trigger must set it again on UPDATE); the flags (t/f/n) in insertion
-- order, and whether both tables agree
CREATE FUNCTION same(cols text, args text, rows text, flag_type text DEFAULT 'bool') RETURNS text AS $$
DECLARE
  names text := regexp_replace(cols, '(\w+) [^,]+', '\1', 'g');
  c text; r text; cu text; ru text;
  q text := 'SELECT string_agg(coalesce(left(flagged::text, 1), ''n''), '''' ORDER BY id) FROM ';
BEGIN
  EXECUTE 'DROP TABLE IF EXISTS fl_c, fl_r';
  EXECUTE format('CREATE TABLE fl_c (id serial, %s, flagged %s)', cols, flag_type);
  EXECUTE format('CREATE TABLE fl_r (id serial, %s, flagged %s)', cols, flag_type);
  EXECUTE format('CREATE TRIGGER f BEFORE INSERT OR UPDATE ON fl_c FOR EACH ROW EXECUTE FUNCTION tfm_flag(%s)', args);
  EXECUTE format('CREATE TRIGGER f BEFORE INSERT OR UPDATE ON fl_r FOR EACH ROW EXECUTE FUNCTION flag_ref(%s)', args);
  EXECUTE format('INSERT INTO fl_c (%s) %s', names, rows);
  EXECUTE format('INSERT INTO fl_r (%s) %s', names, rows);
  EXECUTE q || 'fl_c' INTO c;
  EXECUTE q || 'fl_r' INTO r;
  UPDATE fl_c SET flagged = NOT flagged;
  UPDATE fl_r SET flagged = NOT flagged;
  EXECUTE q || 'fl_c' INTO cu;
  EXECUTE q || 'fl_r' INTO ru;
  RETURN c || CASE WHEN c = r THEN ' same' ELSE ' DIFFER: ref ' || r END
           || CASE WHEN cu = c AND ru = r THEN ', same after update' ELSE ', DIFFER after update: ' || cu || ' ' || ru END;
END $$ LANGUAGE plpgsql;

-- texts of both kinds and a NULL text; thresholds from 0 to 1 in every accepted spelling
\set texts '$$VALUES (''cheap pills, buy now 2''), (''notes from the review meeting 3''), (NULL), (''buy now''), (''meeting notes''), (''pills'')$$'
SELECT args, same('body text', args, :texts) AS flags
FROM (VALUES ($$'fl_cls', 'body', 'flagged', 'spam'$$),
             ($$'fl_cls', 'body', 'flagged', 'ham'$$),
             ($$'fl_cls', 'body', 'flagged', 'spam', '0'$$),
             ($$'fl_cls', 'body', 'flagged', 'spam', '1'$$),
             ($$'fl_cls', 'body', 'flagged', 'spam', ' .25 '$$),
             ($$'fl_cls', 'body', 'flagged', 'spam', '5e-1'$$),
             ($$'fl_cls', 'body', 'flagged', 'spam', '0.75'$$)) t(args);
-- the scores are tfm_score's to the bit: at a threshold equal to a row's own score its flag is true
SELECT same('body text', format($$'fl_cls', 'body', 'flagged', 'spam', '%s'$$,
            tfm_score('pills', 'fl_cls', 'spam')), $$VALUES ('pills')$$) AS at_own_score;
-- a varchar input column and a domain over boolean as the flag column
CREATE DOMAIN fl_bool AS boolean;
SELECT same('body varchar(40)', $$'fl_cls', 'body', 'flagged', 'spam', '0.5'$$, :texts, 'fl_bool') AS varchar_domain;

-- feature vectors: real[], float8[], int[], numeric[] columns and a NULL vector; lists of columns
\set vectors '$$VALUES (ARRAY[6, 2]), (ARRAY[1, 0]), (NULL), (ARRAY[5, 1]), (ARRAY[0, 2])$$'
SELECT cols, same(cols, $$'fl_mlp', 'v', 'flagged', 'true'$$, :vectors) AS flags
FROM (VALUES ('v real[]'), ('v float8[]'), ('v int[]'), ('v numeric[]')) t(cols);
SELECT same('v real[]', $$'fl_mlp', 'v', 'flagged', 'true', '0.9'$$, :vectors) AS high_threshold,
       same('v real[]', $$'fl_mlp', 'v', 'flagged', 'false'$$, :vectors) AS other_label;
SELECT same('a float8, b int', $$'fl_mlp', 'a, b', 'flagged', 'true'$$,
            $$VALUES (6, 2), (1, 0), (5, 1), (0.5, 2)$$) AS list,
       same('a numeric, b bigint', $$'fl_mlp', 'a,b', 'flagged', 'true', '0.3'$$,
            $$VALUES (6, 2), (1, 0), (5, 1), (0.5, 2)$$) AS list_numeric,
       same('a text, b real', $$'fl_mlp', 'a ,  b', 'flagged', 'true'$$,
            $$VALUES ('6', 2), (' 1.0', 0)$$) AS list_text_numbers;

-- refusal(cols, args, row): the first insert's outcome under tfm_flag, and flag_ref's when it differs
CREATE FUNCTION refusal(cols text, args text, row_ text, timing text DEFAULT 'BEFORE', level text DEFAULT 'ROW')
RETURNS text AS $$
DECLARE c text; r text;
BEGIN
  EXECUTE 'DROP TABLE IF EXISTS fl_c, fl_r';
  EXECUTE format('CREATE TABLE fl_c (%s)', cols);
  EXECUTE format('CREATE TABLE fl_r (%s)', cols);
  EXECUTE format('CREATE TRIGGER f %s INSERT ON fl_c FOR EACH %s EXECUTE FUNCTION tfm_flag(%s)', timing, level, args);
  EXECUTE format('CREATE TRIGGER f %s INSERT ON fl_r FOR EACH %s EXECUTE FUNCTION flag_ref(%s)', timing, level, args);
  c := err(format('INSERT INTO fl_c VALUES %s', row_));
  -- (the table's name aside; PostgreSQL's domain_check qualifies a domain outside flag_ref's search_path)
  r := replace(replace(err(format('INSERT INTO fl_r VALUES %s', row_)), 'fl_r', 'fl_c'), 'domain public.', 'domain ');
  RETURN c || CASE WHEN c = r THEN '' ELSE ' | ref: ' || r END;
END $$ LANGUAGE plpgsql;

-- every refusal, with its SQLSTATE and message (the same from tfm_flag and flag_ref)
CREATE DOMAIN fl_checked AS boolean CHECK (VALUE);
SELECT refusal(cols, args, row_) AS outcome
FROM (VALUES ('body text, flagged bool', $$'fl_cls', 'body', 'flagged'$$, $$('x')$$),
             ('body text, flagged bool', $$'fl_cls', 'body', 'flagged', 'spam', '0.5', 'x'$$, $$('x')$$),
             ('body text, flagged bool', $$'fl_cls', 'body', 'flagged', 'spam', 'NaN'$$, $$('x')$$),
             ('body text, flagged bool', $$'fl_cls', 'body', 'flagged', 'spam', '1.5'$$, $$('x')$$),
             ('body text, flagged bool', $$'fl_cls', 'body', 'flagged', 'spam', '-0.1'$$, $$('x')$$),
             ('body text, flagged bool', $$'fl_cls', 'body', 'flagged', 'spam', 'abc'$$, $$('x')$$),
             ('body text, flagged bool', $$'fl_cls', 'body', 'flagged', 'spam', ''$$, $$('x')$$),
             ('body text, flagged bool', $$'fl_cls', 'body', 'flagged', 'spam', '1e999999'$$, $$('x')$$),
             ('body text, flagged bool', $$'fl_cls', 'text', 'flagged', 'spam'$$, $$('x')$$),
             ('body text, flagged bool', $$'fl_cls', 'body', 'flag', 'spam'$$, $$('x')$$),
             ('a int, b int, flagged bool', $$'fl_mlp', 'a, c', 'flagged', 'true'$$, $$(1, 2)$$),
             ('body text, flagged int', $$'fl_cls', 'body', 'flagged', 'spam'$$, $$('x')$$),
             ('body text, flagged date', $$'fl_cls', 'body', 'flagged', 'spam'$$, $$('x')$$),
             ('body text, flagged fl_checked', $$'fl_cls', 'body', 'flagged', 'spam', '1'$$, $$('x')$$),
             ('body text, flagged bool', $$'fl_nope', 'body', 'flagged', 'spam'$$, $$('x')$$),
             ('body text, flagged bool', $$'fl_cls', 'body', 'flagged', 'eggs'$$, $$('x')$$),
             ('body text, flagged bool', $$'fl_odd', 'body', 'flagged', 'spam'$$, $$('x')$$),
             ('body text, flagged bool', $$'fl_mlp', 'body', 'flagged', 'true'$$, $$('x')$$),
             ('v real[], flagged bool', $$'fl_cls', 'v', 'flagged', 'spam'$$, $$('{1, 2}')$$),
             ('v real[], flagged bool', $$'fl_mlp', 'v', 'flagged', 'true'$$, $$('{1, NULL}')$$),
             ('v real[], flagged bool', $$'fl_mlp', 'v', 'flagged', 'true'$$, $$('{}')$$),
             ('v real[], flagged bool', $$'fl_mlp', 'v', 'flagged', 'true'$$, $$('{1, 2, 3}')$$),
             ('v real[], flagged bool', $$'fl_mlp', 'v', 'flagged', 'true'$$, $$('{1, NaN}')$$),
             ('v float8[], flagged bool', $$'fl_mlp', 'v', 'flagged', 'true'$$, $$('{1, -Infinity}')$$),
             ('a int, b int, flagged bool', $$'fl_mlp', 'a, b', 'flagged', 'true'$$, $$(1, NULL)$$),
             ('a text, b int, flagged bool', $$'fl_mlp', 'a, b', 'flagged', 'true'$$, $$('abc', 1)$$)) t(cols, args, row_);
SELECT refusal('body text, flagged bool', $$'fl_cls', 'body', 'flagged', 'spam'$$, $$('x')$$, 'AFTER') AS after_row,
       refusal('body text, flagged bool', $$'fl_cls', 'body', 'flagged', 'spam'$$, $$('x')$$, 'BEFORE', 'STATEMENT') AS before_statement;

-- the C trigger is not SECURITY DEFINER and sets no search_path of its own
SELECT p.prosecdef, p.proconfig, l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
WHERE p.oid = 'tfm_flag'::regproc;

-- clean up
DROP TABLE fl_c, fl_r, fl_rows, fl_tx;
DROP FUNCTION same(text, text, text, text), refusal(text, text, text, text, text), flag_ref();
DROP DOMAIN fl_bool, fl_checked;
SELECT count(*) AS dropped FROM (SELECT tfm_drop(n) FROM unnest(ARRAY['fl_cls', 'fl_mlp', 'fl_odd']) n) d;
