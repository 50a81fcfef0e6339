-- sql/stconfig.sql (issue 15): what a model directory says it is.
-- 1. sentence-transformers settings become the default options (pooling, normalize, max_tokens);
-- 2. the pooling modes compute what sentence-transformers' Pooling computes;
-- 3. what pg_tfm cannot compute is refused with 0A000 before any file but config.json is read.
-- The directories under PG_TFM_ST (test/make_st_models.js) hold bge-small-en-v1.5's REAL config,
-- tokenizer and sentence-transformers files, config shrunk to hidden 32 / 2 layers, with RANDOM
-- weights: the numbers check pooling, normalisation and truncation, not bge's real embeddings.
\getenv st PG_TFM_ST
\getenv golden PG_TFM_GOLDEN
SET pg_tfm_test.st = :'st';
SET pg_tfm_test.golden = :'golden';
-- SQLSTATE and message of a statement, directories shown as <st> and <golden>
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || replace(replace(SQLERRM, current_setting('pg_tfm_test.st'), '<st>'),
                                     current_setting('pg_tfm_test.golden'), '<golden>');
END $$;
CREATE FUNCTION pg_temp.maxdiff(a real[], b real[]) RETURNS float8 LANGUAGE sql AS
  $$ SELECT max(abs(x::float8 - y)) FROM unnest(a, b) u(x, y) $$;
CREATE FUNCTION pg_temp.norm(a real[]) RETURNS float8 LANGUAGE sql AS
  $$ SELECT sqrt(sum(x::float8 * x)) FROM unnest(a) x $$;

-- 1. the options in force, as tfm.models shows them: bge's files say CLS pooling, a Normalize
-- module and max_seq_length 512; without modules.json ("plain": the same weights, no
-- sentence-transformers files) pg_tfm's defaults stay (mean, normalised, the position table's 512)
SELECT name, max_tokens, options FROM tfm_import('bge', :'st' || '/bge');
SELECT name, max_tokens, options FROM tfm_import('plain', :'st' || '/plain');
SELECT name, max_tokens, options FROM tfm_import('no_normalize', :'st' || '/no_normalize');
SELECT name, max_tokens, options FROM tfm_import('seq128', :'st' || '/seq128');
SELECT name, max_tokens, options FROM tfm_import('max', :'st' || '/max');
SELECT name, max_tokens, options FROM tfm_import('mean_sqrt_len', :'st' || '/mean_sqrt_len');
SELECT name, max_tokens, options FROM tfm_import('lasttoken', :'st' || '/lasttoken');
SELECT name, max_tokens, options FROM tfm_import('mean_default', :'st' || '/mean_default');
-- explicit options win, key by key
SELECT name, max_tokens, options FROM tfm_import('seq64', :'st' || '/seq128', '{"max_tokens": 64}');
SELECT name, max_tokens, options FROM tfm_import('bge_mean', :'st' || '/bge', '{"pooling": "mean"}');
-- a masked-LM checkpoint ("bert." names) is an encoder used as an embedder
SELECT name, max_tokens, options FROM tfm_import('masked_lm', :'st' || '/masked_lm', '{"pooling": "cls"}');

-- references: the same weights without sentence-transformers files, options given explicitly
SELECT count(*) FROM (
  SELECT tfm_import('r_' || n, :'st' || '/plain', o::jsonb) FROM (VALUES
    ('cls', '{"pooling": "cls"}'),
    ('cls_raw', '{"pooling": "cls", "normalize": false}'),
    ('cls128', '{"pooling": "cls", "max_tokens": 128}'),
    ('max', '{"pooling": "max"}'),
    ('mean_raw', '{"pooling": "mean", "normalize": false}'),
    ('max_raw', '{"pooling": "max", "normalize": false}'),
    ('last_raw', '{"pooling": "lasttoken", "normalize": false}'),
    ('msl_raw', '{"pooling": "mean_sqrt_len_tokens", "normalize": false}'),
    ('cls2', '{"pooling": "cls", "normalize": false, "max_tokens": 2}'),
    ('last2', '{"pooling": "lasttoken", "normalize": false, "max_tokens": 2}'),
    ('mean2', '{"pooling": "mean", "normalize": false, "max_tokens": 2}'),
    ('max2', '{"pooling": "max", "normalize": false, "max_tokens": 2}'),
    ('msl2', '{"pooling": "mean_sqrt_len_tokens", "normalize": false, "max_tokens": 2}')) v(n, o)) s;

CREATE TEMP TABLE t AS SELECT i, x FROM (VALUES
  (1, 'What is the capital of France?'),
  (2, 'BGE pools the [CLS] state; MiniLM averages every token.'),
  (3, 'short'),
  (4, repeat('a long text of many words, ', 60) || 'the end')) v(i, x);
CREATE TEMP TABLE e AS SELECT i, x, m, tfm_embed(x, m) AS v, array_length(tfm_tokenize(x, m), 1) AS n
FROM t, unnest(ARRAY['bge', 'plain', 'no_normalize', 'seq128', 'max', 'mean_sqrt_len', 'lasttoken',
  'mean_default', 'seq64', 'bge_mean', 'masked_lm', 'r_cls', 'r_cls_raw', 'r_cls128', 'r_max', 'r_mean_raw',
  'r_max_raw', 'r_last_raw', 'r_msl_raw', 'r_cls2', 'r_last2', 'r_mean2', 'r_max2', 'r_msl2']) m;
-- a pair: (model a, model b, texts, largest difference over all texts and components)
CREATE TEMP VIEW cmp AS
SELECT a.m AS a, b.m AS b, count(*) AS texts, max(pg_temp.maxdiff(a.v, b.v)) AS diff
FROM e a JOIN e b USING (i) GROUP BY a.m, b.m;
SELECT i, n AS tokens FROM e WHERE m = 'bge' ORDER BY i;

-- bge's files give the CLS vector, normalised: equal to the explicit reference, not to mean pooling
SELECT a, b, texts, diff = 0 AS identical, diff > 0.01 AS differ FROM cmp WHERE (a, b) IN
  (('bge', 'r_cls'), ('bge', 'plain'), ('bge_mean', 'plain'), ('masked_lm', 'r_cls'), ('mean_default', 'plain'),
   ('no_normalize', 'r_cls_raw'), ('no_normalize', 'r_cls'), ('max', 'r_max'), ('lasttoken', 'r_last_raw'))
ORDER BY a, b;
-- normalised exactly when the directory has a Normalize module
SELECT m, bool_and(abs(pg_temp.norm(v) - 1) < 1e-6) AS unit_length, min(pg_temp.norm(v)) > 1.01 AS longer
FROM e WHERE m IN ('bge', 'no_normalize', 'max', 'lasttoken') GROUP BY m ORDER BY m;
-- max_seq_length 128: the 424-token text is cut at 128 tokens as with an explicit max_tokens 128,
-- and the cut changes the vector
SELECT a, b, diff = 0 AS identical, diff > 0.01 AS differ FROM cmp WHERE (a, b) IN
  (('seq128', 'r_cls128'), ('seq128', 'bge'), ('seq64', 'seq128')) ORDER BY a, b;
SELECT m, n AS tokens FROM e WHERE i = 4 AND m IN ('bge', 'seq128', 'seq64') ORDER BY m;

-- 2. the pooling modes against their definitions. With max_tokens 2 every text is [CLS] [SEP], so
-- cls and lasttoken give the two token states: mean = (cls + last) / 2, max = greatest(cls, last),
-- mean_sqrt_len_tokens = (cls + last) / sqrt(2)
SELECT count(*) AS components,
       count(*) FILTER (WHERE abs(mean.v[k] - (cls.v[k] + last.v[k]) / 2) <= 1e-6) AS mean_ok,
       count(*) FILTER (WHERE mx.v[k] = greatest(cls.v[k], last.v[k])) AS max_ok,
       count(*) FILTER (WHERE abs(msl.v[k] - (cls.v[k] + last.v[k]) / sqrt(2)) <= 1e-5) AS msl_ok,
       count(*) FILTER (WHERE cls.v[k] <> last.v[k]) AS cls_differs_from_last
FROM e cls JOIN e last USING (i) JOIN e mean USING (i) JOIN e mx USING (i) JOIN e msl USING (i),
     generate_series(1, 32) k
WHERE cls.m = 'r_cls2' AND last.m = 'r_last2' AND mean.m = 'r_mean2' AND mx.m = 'r_max2' AND msl.m = 'r_msl2';
-- on whole texts: max is at least every pooled token it can see (cls, last), and is one of the
-- tokens' values (never above the largest); mean_sqrt_len = mean * sqrt(tokens)
SELECT count(*) AS components,
       count(*) FILTER (WHERE mx.v[k] >= cls.v[k] AND mx.v[k] >= last.v[k]) AS max_ge_cls_and_last,
       count(*) FILTER (WHERE mx.v[k] > mean.v[k]) AS max_above_mean,
       count(*) FILTER (WHERE abs(msl.v[k] - mean.v[k] * sqrt(mean.n)) <= 1e-5 * greatest(1, abs(msl.v[k]))) AS msl_ok
FROM e cls JOIN e last USING (i) JOIN e mean USING (i) JOIN e mx USING (i) JOIN e msl USING (i),
     generate_series(1, 32) k
WHERE cls.m = 'r_cls_raw' AND last.m = 'r_last_raw' AND mean.m = 'r_mean_raw' AND mx.m = 'r_max_raw' AND msl.m = 'r_msl_raw';
-- the bulk path pools as the per-row path, bit for bit
SELECT m.m, count(*) AS rows, count(*) FILTER (WHERE b.embedding = e.v) AS identical
FROM unnest(ARRAY['max', 'lasttoken', 'r_msl_raw']) m,
     LATERAL tfm_embed(ARRAY(SELECT x FROM t ORDER BY i), m) b, e
WHERE e.m = m.m AND e.i = b.ordinality GROUP BY m.m ORDER BY m.m;
-- training's forward (tfm._train_step pools with the model's pooling, padding in the batch) gives
-- the vectors inference gives; the gradient of each mode is checked in test/unit/test_grad.c
SELECT m.m, count(*) AS values,
       count(*) FILTER (WHERE abs(e.v[k] - (j->'pooled_first4'->(e.i - 1)->>(k - 1))::float8) <= 1e-5 * greatest(1, abs(e.v[k]))) AS agree
FROM unnest(ARRAY['r_max_raw', 'r_last_raw', 'r_msl_raw']) m,
     LATERAL (SELECT tfm._train_step(m,
       (SELECT array_agg(id ORDER BY i, o) FROM t, unnest(tfm_tokenize(t.x, m)) WITH ORDINALITY u(id, o) WHERE i < 4),
       (SELECT array_agg(array_length(tfm_tokenize(t.x, m), 1) ORDER BY i) FROM t WHERE i < 4),
       ARRAY[0, 1, 0]) AS j) s, e, generate_series(1, 4) k
WHERE e.m = m.m AND e.i < 4 GROUP BY m.m ORDER BY m.m;

-- heads trained on these models pool as their base does: the trained model's options keep the
-- pooling (a head on lasttoken states, a full fine-tune through max pooling's backward)
CREATE TEMP TABLE mail AS
  SELECT 'message number ' || i || repeat(' buy cheap pills now', i % 2 * 3) AS body,
         CASE WHEN i % 2 = 1 THEN 'spam' ELSE 'ham' END AS label
  FROM generate_series(1, 24) i;
SET client_min_messages = warning;  -- no per-epoch timings
CALL tfm_train('last_head', 'lasttoken', 'SELECT body, label FROM mail', 'classification', '{"epochs": 2}');
CALL tfm_train('max_full', 'max', 'SELECT body, label FROM mail', 'classification', '{"epochs": 2, "fine_tune": "full"}');
RESET client_min_messages;
SELECT name, task, max_tokens, options->>'pooling' AS pooling, options->>'normalize' AS normalize
FROM tfm.models WHERE name IN ('last_head', 'max_full') ORDER BY name;
SELECT m, count(*) FILTER (WHERE tfm_classify(body, m) IN ('spam', 'ham')) AS classified
FROM mail, unnest(ARRAY['last_head', 'max_full']) m GROUP BY m ORDER BY m;
SELECT tfm_drop('last_head'), tfm_drop('max_full');

-- 3. refused with 0A000, naming what and what pg_tfm supports. The golden folders have no weights:
-- config.json alone decides (tiny-random-roberta, a RobertaModel, imports: sql/families.sql; the
-- cross-encoder and the DistilBERT sst-2 classifier pass it and lack weights: sql/seqcls.sql and
-- sql/heads.sql import them with random weights)
SELECT d, pg_temp.err(format('SELECT tfm_import(%L, %L)', 'x', :'golden' || '/models/' || d)) AS result
FROM unnest(ARRAY['ms-marco-MiniLM-L12-v2', 'distilbert-base-uncased-finetuned-sst-2-english']) d;
-- directories with config.json alone (RoBERTa is computed now: its directory lacks the tokenizer files)
SELECT d, pg_temp.err(format('SELECT tfm_import(%L, %L)', 'x', :'st' || '/' || d)) AS result
FROM unnest(ARRAY['token_classification', 'question_answering', 'gelu_new', 'relative_key', 'decoder',
                  'roberta_config_only']) d;
-- sentence-transformers settings pg_tfm does not compute (refused before the weights: none exist)
SELECT d, pg_temp.err(format('SELECT tfm_import(%L, %L)', 'x', :'st' || '/' || d)) AS result
FROM unnest(ARRAY['dense', 'concat', 'weightedmean', 'cased', 'traversal']) d;
-- the content form checks config.json the same way (it reads no sentence-transformers files: pass
-- pooling, normalize and max_tokens as options)
SELECT pg_temp.err(format('SELECT tfm_import(%L, %L::jsonb, %L::jsonb, %L::bytea)', 'x',
  pg_read_file(:'golden' || '/models/ms-marco-MiniLM-L12-v2/config.json'), '{}', '\x')) AS cross_encoder_content;
SELECT pg_temp.err(format('SELECT tfm_import(%L, %L::jsonb, %L::jsonb, %L::bytea)', 'x',
  pg_read_file(:'golden' || '/models/distilbert-base-uncased-finetuned-sst-2-english/config.json'), '{}', '\x')) AS distilbert_content;
-- an unknown pooling option
SELECT pg_temp.err(format('SELECT tfm_import(%L, %L, %L)', 'x', :'st' || '/plain', '{"pooling": "weightedmean"}')) AS unknown_pooling;
SELECT count(*) AS refused_imports_stored FROM tfm.models WHERE name = 'x';

SELECT count(*) AS dropped FROM (SELECT tfm_drop(m) FROM (SELECT DISTINCT m FROM e) n) s;
