-- checks that run before the work (issue 13): model names, label counts, regression targets,
-- non-finite weights, tfm_flag's arguments, privileges before parsing, config values, the budget
-- of tfm._train_step. Tiny random-weight models only (odd_shape from test/make_bad_models.js, the
-- tiny GPT-2 of ../shared/golden), so the file runs in seconds. Every error shows its SQLSTATE.
\getenv bad PG_TFM_BAD
\getenv golden PG_TFM_GOLDEN
\set odd :bad '/odd_shape'
\set gpt2 :golden '/gpt2/tiny'
\set oddw :odd '/model.safetensors'
\set gpt2w :gpt2 '/model.safetensors'
-- training NOTICEs (losses, seconds) are left out: they vary between machines
SET client_min_messages = warning;
DROP ROLE IF EXISTS tfm_chk_a, tfm_chk_b;
-- chk(q): run a statement, show 'ok' or its SQLSTATE and message (paths shortened to <dir>/)
CREATE OR REPLACE FUNCTION chk(q text) RETURNS text AS $$
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN regexp_replace(SQLSTATE || ': ' || SQLERRM, '"/[^"]*/', '"<dir>/', 'g');
END $$ LANGUAGE plpgsql;
-- st_retype(weights, dtype, tensor, value): a safetensors buffer with the same tensor names and
-- shapes, all of dtype and zero, except that the first element of the tensors named LIKE tensor
-- is value (little-endian bytes): a way to make F32, F16 and BF16 checkpoints of any model
CREATE FUNCTION st_retype(w bytea, dtype text, tensor text DEFAULT NULL, val bytea DEFAULT NULL)
RETURNS bytea AS $$
DECLARE
  hlen bigint := 0;
  hdr jsonb;
  newhdr jsonb := '{}';
  parts bytea[] := '{}';
  r record;
  d bigint;
  n bigint;
  sz int := CASE dtype WHEN 'F32' THEN 4 ELSE 2 END;
  off bigint := 0;
  part bytea;
  htext bytea;
BEGIN
  FOR i IN REVERSE 7..0 LOOP hlen := hlen * 256 + get_byte(w, i); END LOOP;
  hdr := convert_from(substring(w FROM 9 FOR hlen::int), 'UTF8')::jsonb;
  FOR r IN SELECT key, value FROM jsonb_each(hdr) WHERE key <> '__metadata__' ORDER BY key LOOP
    n := 1;
    FOR d IN SELECT jsonb_array_elements_text(r.value->'shape')::bigint LOOP n := n * d; END LOOP;
    part := decode(repeat('00', (n * sz)::int), 'hex');
    IF r.key LIKE tensor THEN part := overlay(part PLACING val FROM 1); END IF;
    parts := parts || part;
    newhdr := newhdr || jsonb_build_object(r.key, jsonb_build_object('dtype', dtype, 'shape', r.value->'shape',
                                                                     'data_offsets', jsonb_build_array(off, off + n * sz)));
    off := off + n * sz;
  END LOOP;
  htext := convert_to(newhdr::text, 'UTF8');
  RETURN (SELECT string_agg(set_byte('\x00'::bytea, 0, ((octet_length(htext)::bigint >> (8 * i)) & 255)::int), ''::bytea ORDER BY i)
          FROM generate_series(0, 7) i)
         || htext || (SELECT string_agg(p, ''::bytea ORDER BY o) FROM unnest(parts) WITH ORDINALITY u(p, o));
END $$ LANGUAGE plpgsql;

-- the base: a BERT with random weights (hidden 20, 2 layers), and its parts as content
SELECT name, version, dim FROM tfm_import('chk', :'odd', '{"max_tokens": 32, "normalize": false}');
CREATE TABLE chk_content AS
SELECT pg_read_file(:'odd' || '/config.json')::jsonb AS config,
       pg_read_file(:'odd' || '/tokenizer.json')::jsonb AS tokenizer,
       pg_read_binary_file(:'oddw') AS weights;
GRANT SELECT ON chk_content TO PUBLIC;
CREATE TABLE chk_mail AS
SELECT CASE WHEN i % 2 = 0 THEN 'cheap pills buy now ' || i ELSE 'notes from the meeting ' || i END AS body,
       CASE WHEN i % 2 = 0 THEN 'spam' ELSE 'ham' END AS label
FROM generate_series(1, 24) i;
GRANT SELECT ON chk_mail TO PUBLIC;

-- 1. model names: the catalog's rule (^[A-Za-z0-9_.:-]{1,63}$) before any work. The query divides
-- by zero when its rows are read: a name checked only when storing would show 22012 (or train first)
SELECT chk($$CALL tfm_train('a"b', 'chk', 'SELECT body, (1/0)::text FROM chk_mail')$$);
SELECT chk($$CALL tfm_train('', 'chk', 'SELECT body, (1/0)::text FROM chk_mail')$$);
SELECT chk($$CALL tfm_train(repeat('x', 64), 'chk', 'SELECT body, (1/0)::text FROM chk_mail')$$);
SELECT chk($$CALL tfm_train('tab	name', 'chk', 'SELECT body, (1/0)::text FROM chk_mail')$$);
SELECT chk($$CALL tfm_train(repeat('é', 80), 'chk', 'SELECT body, (1/0)::text FROM chk_mail')$$);  -- shown cut at 100 bytes
SELECT chk($$CALL tfm_train('ok.name:1-2_3', 'chk', 'SELECT body, (1/0)::text FROM chk_mail')$$);  -- a valid name reaches the query
SELECT chk($$SELECT tfm_import('a"b', config, tokenizer, weights) FROM chk_content$$);
SELECT chk($$SELECT tfm_import('', '{}', '{}', '\x00')$$);
SELECT chk(format('SELECT tfm_import(%L, %L)', 'a"b', :'odd'));
SELECT chk(format('SELECT tfm_import(%L, %L)', repeat('y', 64), :'odd'));
SELECT count(*) AS bad_names FROM tfm.models WHERE name !~ '^[A-Za-z0-9_.:-]{1,63}$';

-- 6. the content form checks the right to the name before looking at the content: garbage from
-- a non-owner gives 42501, not a parse error
CREATE ROLE tfm_chk_a;
CREATE ROLE tfm_chk_b;
GRANT CREATE ON SCHEMA tfm TO tfm_chk_a;
SET ROLE tfm_chk_a;
SELECT name, version FROM chk_content, tfm_import('chk_owned', config, tokenizer, weights, '{"max_tokens": 32}');
SET ROLE tfm_chk_b;
\set VERBOSITY sqlstate
-- an existing name of another role, garbage content (the owner's name is in the detail)
SELECT tfm_import('chk_owned', '{}', '{}', '\x00');
SELECT tfm_import('chk_owned', '{"model_type": "gpt2"}', '[]', '\x0102');
-- a new name without CREATE on schema tfm
SELECT tfm_import('chk_new', '{}', '{}', '\x00');
\set VERBOSITY default
SELECT chk($$SELECT tfm_import('chk_new', '{}', '{}', '\x00')$$);
RESET ROLE;

-- 2. labels: at most 1000 distinct labels, checked while the rows are read (the 1001st label stops
-- the reading before the row that divides by zero is fetched)
SELECT chk($$CALL tfm_train('chk_many', 'chk',
  'SELECT ''text '' || i, CASE WHEN i < 1300 THEN ''label '' || i ELSE (1 / (i - 1300))::text END FROM generate_series(1, 2000) i',
  'classification', '{"epochs": 1}')$$);
DO $$
DECLARE h text;
BEGIN
  CALL tfm_train('chk_many', 'chk', 'SELECT ''text '' || i, ''label '' || i FROM generate_series(1, 1001) i');
EXCEPTION WHEN program_limit_exceeded THEN
  GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
  RAISE WARNING 'hint: %', h;
END $$;
-- 1000 labels train; beyond 100 labels the confusion matrix is given as its non-zero cells
CALL tfm_train('chk_1000', 'chk', 'SELECT ''text '' || i, ''label '' || i FROM generate_series(1, 1000) i',
               'classification', '{"epochs": 1}');
SELECT array_length(labels, 1) AS labels, metrics->'confusion' ? 'matrix' AS dense,
       jsonb_array_length(metrics->'confusion'->'cells') AS cells,
       (SELECT sum((c->>2)::int) FROM jsonb_array_elements(metrics->'confusion'->'cells') c) AS counted,
       jsonb_array_length(metrics->'confusion'->'labels') AS confusion_labels
FROM tfm.models WHERE name = 'chk_1000';
-- metrics scale with the rows, not with labels squared: 24,000 distinct labels, directly...
SELECT m->>'n' AS n, (SELECT count(*) FROM jsonb_object_keys(m->'labels')) AS labels,
       jsonb_array_length(m->'confusion'->'cells') AS cells, m->'confusion' ? 'matrix' AS dense,
       m->'confusion'->'cells'->0 AS first_cell, m->>'accuracy' AS accuracy
FROM (SELECT tfm._classification_metrics(array_agg('t' || i ORDER BY i), array_agg('p' || i ORDER BY i)) AS m
      FROM generate_series(1, 12000) i) s;
-- ...and through tfm_evaluate with 12,000 labels the model never saw
CALL tfm_train('chk_cls', 'chk', 'SELECT body, label FROM chk_mail', 'classification', '{"epochs": 3}');
SELECT e->>'n' AS n, (SELECT count(*) FROM jsonb_object_keys(e->'labels')) AS labels,
       jsonb_array_length(e->'confusion'->'cells') AS cells,
       e->'confusion'->'labels'->0 AS first_label, e->'confusion'->'labels'->2 AS first_unseen
FROM (SELECT tfm_evaluate('chk_cls', 'SELECT ''t '' || i, ''l'' || lpad(i::text, 5, ''0'') FROM generate_series(1, 12000) i') AS e) s;
-- training's own metrics are computed in chunks of 4096 rows: 5000 rows without a validation split
CALL tfm_train('chk_5000', 'chk', 'SELECT ''text '' || i, (i % 3)::text FROM generate_series(1, 5000) i',
               'classification', '{"epochs": 1, "validation_fraction": 0}');
SELECT metrics->>'n' AS n, (SELECT sum(x::int) FROM jsonb_array_elements(metrics->'confusion'->'matrix') r,
                                   jsonb_array_elements_text(r) x) AS counted,
       (SELECT sum((v->>'support')::int) FROM jsonb_each(metrics->'labels') l(k, v)) AS support
FROM tfm.models WHERE name = 'chk_5000';
-- a few labels keep the dense matrix
SELECT tfm._classification_metrics('{a,b,b,c}', '{a,b,c,c}')->'confusion' AS small;
SELECT chk($$SELECT tfm._classification_metrics('{a,NULL}', '{a,b}')$$);

-- 3. regression targets: within [-1e30, 1e30], checked while reading; JSON never holds NaN or Infinity
SELECT chk($$CALL tfm_train('chk_reg', 'chk', 'SELECT body, CASE WHEN label = ''spam'' THEN 1e308 ELSE -1e308 END FROM chk_mail', 'regression', '{"epochs": 1}')$$);
SELECT chk($$CALL tfm_train('chk_reg', 'chk', 'SELECT body, CASE WHEN label = ''spam'' THEN 1e300 ELSE 0 END FROM chk_mail', 'regression', '{"epochs": 1}')$$);
-- (the row that divides by zero comes in a later batch of the cursor: the check stops the reading first)
SELECT chk($$CALL tfm_train('chk_reg', 'chk', 'SELECT ''t'' || i, CASE WHEN i = 1 THEN -2e30 ELSE 1 / (i - 300) END FROM generate_series(1, 400) i', 'regression', '{"epochs": 1}')$$);
CALL tfm_train('chk_reg', 'chk', 'SELECT body, CASE WHEN label = ''spam'' THEN 1e30 ELSE -1e30 END FROM chk_mail',
               'regression', '{"epochs": 1}');
SELECT round(log((options->>'target_std')::float8)) AS log10_target_std, jsonb_typeof(metrics->'mse') AS mse,
       abs(tfm_predict('cheap pills buy now', 'chk_reg')) < 1e31 AS finite_prediction
FROM tfm.models WHERE name = 'chk_reg';
-- metrics that are not representable are null, never NaN or Infinity
SELECT tfm._regression_metrics('{1e308,-1e308}', '{-1e308,1e308}') AS overflow;
SELECT tfm._regression_metrics('{1,NaN}', '{1,2}') AS nan_input;
SELECT tfm._regression_metrics('{1,2}', '{Infinity,2}') AS inf_input;

-- 4. non-finite weights are refused at import with the tensor's name (22P03), in every float
-- dtype, BERT and GPT-2; the same checkpoints without the bad value import
\set VERBOSITY sqlstate
SELECT tfm_import('chk_nan', config, tokenizer, st_retype(weights, 'F32', 'encoder.layer.1.output.dense.weight', '\x0000c07f')) FROM chk_content;
\set VERBOSITY default
SELECT chk($$SELECT tfm_import('chk_nan', config, tokenizer, st_retype(weights, 'F32', 'encoder.layer.1.output.dense.weight', '\x0000c07f')) FROM chk_content$$);
SELECT chk($$SELECT tfm_import('chk_nan', config, tokenizer, st_retype(weights, 'F32', 'embeddings.LayerNorm.bias', '\x0000807f')) FROM chk_content$$);
SELECT chk($$SELECT tfm_import('chk_nan', config, tokenizer, st_retype(weights, 'F32', 'encoder.layer.0.attention.self.query.bias', '\x000080ff')) FROM chk_content$$);
SELECT chk($$SELECT tfm_import('chk_nan', config, tokenizer, st_retype(weights, 'F16', 'embeddings.word_embeddings.weight', '\x007e')) FROM chk_content$$);
SELECT chk($$SELECT tfm_import('chk_nan', config, tokenizer, st_retype(weights, 'F16', 'encoder.layer.1.output.LayerNorm.weight', '\x007c')) FROM chk_content$$);
SELECT chk($$SELECT tfm_import('chk_nan', config, tokenizer, st_retype(weights, 'BF16', 'encoder.layer.0.intermediate.dense.bias', '\xc07f')) FROM chk_content$$);
SELECT chk($$SELECT tfm_import('chk_nan', config, tokenizer, st_retype(weights, 'BF16', 'embeddings.position_embeddings.weight', '\x80ff')) FROM chk_content$$);
-- the largest finite values are not refused: F16 65504, BF16 and F32 3.4e38
SELECT name, version FROM chk_content, tfm_import('chk_f16', config, tokenizer, st_retype(weights, 'F16', 'encoder.layer.0.output.dense.bias', '\xff7b'));
SELECT name, version FROM chk_content, tfm_import('chk_bf16', config, tokenizer, st_retype(weights, 'BF16', 'encoder.layer.0.output.dense.bias', '\x7f7f'));
SELECT name, version FROM chk_content, tfm_import('chk_f32', config, tokenizer, st_retype(weights, 'F32', 'encoder.layer.0.output.dense.bias', '\xffff7f7f'));
SELECT count(*) AS nan_models FROM tfm.models WHERE name = 'chk_nan';
-- embeddings are finite numbers or an error (22P01), never NaN: a bias of 65504 is harmless, one of
-- 3.4e38 overflows fp32 in the next LayerNorm
SELECT m, chk(format('SELECT tfm_embed(%L, %L)', 'cheap pills', m)) AS embed
FROM unnest(ARRAY['chk_f16', 'chk_bf16', 'chk_f32']) m;
-- the same for 3.4e38 in the word, position and type embeddings (their sum is infinite)
SELECT name, version FROM chk_content,
  tfm_import('chk_ovf', config, tokenizer, st_retype(weights, 'F32', 'embeddings.%_embeddings.weight', '\xffff7f7f'));
SELECT chk($$SELECT tfm_embed('cheap pills', 'chk_ovf')$$);
SELECT chk($$SELECT * FROM tfm_embed(ARRAY['cheap pills', 'meeting'], 'chk_ovf')$$);
-- GPT-2
SELECT name, version FROM tfm_import('chk_gpt2', :'gpt2');
CREATE TABLE chk_gpt2_content AS
SELECT m.config, m.tokenizer, pg_read_binary_file(:'gpt2w') AS weights FROM tfm.model m WHERE m.name = 'chk_gpt2';
SELECT chk($$SELECT tfm_import('chk_nan', config, tokenizer, st_retype(weights, 'F32', '%h.1.mlp.c_fc.weight', '\x0000c07f')) FROM chk_gpt2_content$$);
SELECT chk($$SELECT tfm_import('chk_nan', config, tokenizer, st_retype(weights, 'BF16', '%ln_f.bias', '\xc0ff')) FROM chk_gpt2_content$$);
SELECT name, version FROM chk_gpt2_content, tfm_import('chk_gpt2', config, tokenizer, st_retype(weights, 'BF16'));
SELECT count(*) AS nan_models FROM tfm.models WHERE name = 'chk_nan';

-- 7. config values out of range name the key (not 'options: required key "max_tokens" is missing')
SELECT v, chk(format('SELECT tfm_import(%L, %L::jsonb, %L::jsonb, %L::bytea)', 'chk_cfg',
                     jsonb_set(config, '{max_position_embeddings}', v::jsonb), '{}', '\x00'::bytea)) AS error
FROM chk_content, (VALUES ('1'), ('0'), ('-3'), ('1e9'), ('2.5'), ('"512"')) t(v);
SELECT k, v, chk(format('SELECT tfm_import(%L, %L::jsonb, %L::jsonb, %L::bytea)', 'chk_cfg',
                        jsonb_set(config, ARRAY[k], v::jsonb), '{}', '\x00'::bytea)) AS error
FROM chk_content, (VALUES ('hidden_size', '0'), ('num_hidden_layers', '-1'), ('num_attention_heads', '1e12'),
                          ('intermediate_size', '0'), ('vocab_size', '0'), ('type_vocab_size', '0'),
                          ('layer_norm_eps', '0'), ('layer_norm_eps', '1e400')) t(k, v);
SELECT k, v, chk(format('SELECT tfm_import(%L, %L::jsonb, %L::jsonb, %L::bytea)', 'chk_cfg',
                        jsonb_set(config, ARRAY[k], v::jsonb), '{}', '\x00'::bytea)) AS error
FROM chk_gpt2_content, (VALUES ('n_positions', '1'), ('n_positions', '0'), ('n_embd', '-64'), ('n_layer', '0'),
                               ('n_head', '100000'), ('n_inner', '0'), ('vocab_size', '0')) t(k, v);
SELECT chk(format('SELECT tfm_import(%L, %L::jsonb, %L::jsonb, %L::bytea)', 'chk_cfg',
                  (config - 'n_positions') || '{"n_ctx": 1}', '{}', '\x00'::bytea)) AS n_ctx_1
FROM chk_gpt2_content;

-- 8. tfm._train_step: not executable by PUBLIC; checks pg_tfm.max_memory before allocating
SET ROLE tfm_chk_b;
SELECT chk($$SELECT tfm._train_step('chk', '{101,102}', '{2}', '{0}')$$);
RESET ROLE;
GRANT EXECUTE ON FUNCTION tfm._train_step(text, int[], int[], int[]) TO tfm_chk_b;
SET ROLE tfm_chk_b;
SELECT tfm._train_step('chk', '{101,102}', '{2}', '{0}') ? 'loss' AS granted;
-- a large batch is refused before it is allocated (53200), a small one runs within the same budget
RESET ROLE;
SET pg_tfm.max_memory = '64MB';
SELECT tfm._train_step('chk', '{101,2000,102}', '{3}', '{1}') ? 'loss' AS small_batch;
SELECT chk($$SELECT tfm._train_step('chk', ARRAY(SELECT 1000 + (i % 500) FROM generate_series(1, 2000 * 32) i),
                                    array_fill(32, ARRAY[2000]), array_fill(0, ARRAY[2000]))$$);
SET pg_tfm.max_memory = '1MB';
SELECT chk($$SELECT tfm._train_step('chk', '{101,2000,102}', '{3}', '{1}')$$);
RESET pg_tfm.max_memory;
-- and the model's rights still apply to a granted role
SELECT tfm_revoke('chk', 'public');
SET ROLE tfm_chk_b;
SELECT chk($$SELECT tfm._train_step('chk', '{101,102}', '{2}', '{0}')$$);
RESET ROLE;
SELECT tfm_grant('chk', 'public');
REVOKE EXECUTE ON FUNCTION tfm._train_step(text, int[], int[], int[]) FROM tfm_chk_b;
SELECT has_function_privilege('public', 'tfm._train_step(text, int[], int[], int[])', 'EXECUTE') AS public_may;

-- 5. tfm_flag: every argument checked at the first row, before scoring
CREATE DOMAIN chk_bool AS boolean;
CREATE TABLE chk_flag (body text, flagged bool, note text, n int, d chk_bool);
CREATE FUNCTION chk_trigger(args text, timing text DEFAULT 'BEFORE', level text DEFAULT 'ROW') RETURNS text AS $$
BEGIN
  EXECUTE 'DROP TRIGGER IF EXISTS f ON chk_flag';
  EXECUTE format('CREATE TRIGGER f %s INSERT ON chk_flag FOR EACH %s EXECUTE FUNCTION tfm_flag(%s)', timing, level, args);
  RETURN chk('INSERT INTO chk_flag (body) VALUES (''cheap pills buy now'')');
END $$ LANGUAGE plpgsql;
SELECT args, chk_trigger(args) AS first_insert
FROM (VALUES ($$'chk_cls', 'body', 'flagged', 'spam', 'NaN'$$),
             ($$'chk_cls', 'body', 'flagged', 'spam', '1.5'$$),
             ($$'chk_cls', 'body', 'flagged', 'spam', '-0.1'$$),
             ($$'chk_cls', 'body', 'flagged', 'spam', 'Infinity'$$),
             ($$'chk_cls', 'body', 'flagged', 'spam', 'abc'$$),
             ($$'chk_cls', 'body', 'flagged', 'spam', ''$$),
             ($$'chk_cls', 'body', 'flagged', 'spam', '1e999999'$$),
             ($$'chk_cls', 'body', 'flagged'$$),
             ($$'chk_cls', 'body', 'flagged', 'spam', '0.5', 'extra'$$),
             ($$'chk_cls', 'body', 'note', 'spam'$$),
             ($$'chk_cls', 'body', 'n', 'spam', '0.5'$$),
             ($$'chk_cls', 'body', 'd', 'spam', '0.5'$$),
             ($$'chk_cls', 'body', 'missing', 'spam'$$),
             ($$'chk_cls', 'body', 'flagged', 'no_such_label'$$)) t(args);
SELECT chk_trigger($$'chk_cls', 'body', 'flagged', 'spam'$$, 'AFTER') AS after_row,
       chk_trigger($$'chk_cls', 'body', 'flagged', 'spam'$$, 'BEFORE', 'STATEMENT') AS before_statement;
-- valid thresholds pass: 0 flags every row (a probability is never below 0)
DELETE FROM chk_flag;
SELECT chk_trigger($$'chk_cls', 'body', 'flagged', 'spam', '0'$$) AS zero;
SELECT count(*) AS rows, bool_and(flagged) AS flagged FROM chk_flag;
SELECT chk_trigger($$'chk_cls', 'body', 'flagged', 'spam', ' 1 '$$) AS one,
       chk_trigger($$'chk_cls', 'body', 'flagged', 'spam', '.25'$$) AS quarter,
       chk_trigger($$'chk_cls', 'body', 'flagged', 'spam', '5e-1'$$) AS half,
       chk_trigger($$'chk_cls', 'body', 'flagged', 'spam'$$) AS default_half;
SELECT count(*) AS rows, count(flagged) AS decided FROM chk_flag;

-- clean up
DROP TABLE chk_flag, chk_content, chk_gpt2_content, chk_mail;
DROP DOMAIN chk_bool;
DROP FUNCTION chk_trigger(text, text, text), st_retype(bytea, text, text, bytea);
SELECT count(*) AS dropped FROM (SELECT tfm_drop(n) FROM unnest(ARRAY['chk_cls', 'chk_1000', 'chk_5000', 'chk_reg', 'chk_owned',
  'chk_f16', 'chk_bf16', 'chk_f32', 'chk_ovf', 'chk_gpt2']) n) d;
SELECT tfm_drop('chk');
REVOKE CREATE ON SCHEMA tfm FROM tfm_chk_a;
DROP ROLE tfm_chk_a, tfm_chk_b;
