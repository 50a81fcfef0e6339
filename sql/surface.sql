-- the SQL surface: NULLs, defaults, shapes, errors with their SQLSTATEs

-- NULL in, NULL out
SELECT tfm_embed(NULL) IS NULL AS a, tfm_embed(NULL, 'minilm') IS NULL AS b,
       tfm_tokenize(NULL) IS NULL AS c, tfm_tokenize(NULL, 'minilm') IS NULL AS d;
-- no model and no default
SELECT err($$SELECT tfm_embed('hello')$$);
SELECT err($$SELECT tfm_embed('hello', NULL)$$);
SET pg_tfm.default_model = 'minilm';
SELECT array_length(tfm_embed('hello'), 1) AS dim;
SELECT tfm_tokenize('Hello, world!');
SELECT tfm_tokenize('');
-- an empty string still embeds ([CLS] [SEP]) and the vector has unit length
SELECT round(sqrt((SELECT sum(x * x) FROM unnest(tfm_embed('')) x))::numeric, 5) AS norm;
-- the model argument overrides the default; NULL model means the default
SELECT tfm_embed('hello', NULL) = tfm_embed('hello', 'minilm') AS same;
-- unknown model
SELECT err($$SELECT tfm_embed('hello', 'nope')$$);
SELECT err($$SELECT tfm_tokenize('hello', 'nope')$$);
SELECT err($$SELECT tfm_drop('nope')$$);
-- a huge text is truncated to max_tokens, never an error
SELECT array_length(tfm_tokenize(repeat('word ', 100000)), 1) AS ntokens,
       array_length(tfm_embed(repeat('word ', 100000)), 1) AS dim;
-- truncation keeps the first 255 tokens and [SEP]: a text of 300 words embeds like its first 255
SELECT (SELECT max(abs(a - b)) FROM unnest(tfm_embed(repeat('alpha ', 300)), tfm_embed(repeat('alpha ', 254) || 'beta')) t(a, b)) < 1e-6 AS truncated;
-- many rows in one query resolve the model once and agree with single calls
SELECT count(DISTINCT e) AS distinct_embeddings
FROM (SELECT tfm_embed('same text') e FROM generate_series(1, 5)) s;
-- bad GUC values are refused
SELECT err($$SET pg_tfm.blas_threads = 0$$);
SELECT err($$SET pg_tfm.no_such_setting = 1$$);
-- the functions are PARALLEL SAFE and STRICT where documented; the forms naming their model are
-- IMMUTABLE (postgres_fdw pushdown, expression indexes), those reading pg_tfm.default_model STABLE
SELECT oid::regprocedure AS function, proparallel, proisstrict, provolatile FROM pg_proc
WHERE proname IN ('tfm_embed', 'tfm_tokenize', 'tfm_classify', 'tfm_score', 'tfm_predict') ORDER BY oid::regprocedure::text;
-- the bulk path: one call for many texts, NULL elements give NULL, results equal the per-row path
SELECT ordinality, array_length(embedding, 1) AS dim
FROM tfm_embed(ARRAY['short', NULL, 'a much longer text that needs more tokens than the others', ''], 'minilm');
SELECT bool_and((SELECT max(abs(a - b)) FROM unnest(e.embedding, tfm_embed(t.x, 'minilm')) u(a, b)) < 1e-5) AS bulk_equals_per_row
FROM unnest(ARRAY['short', 'a much longer text that needs more tokens than the others', '', 'Hello, world!']) WITH ORDINALITY t(x, i)
JOIN tfm_embed(ARRAY['short', 'a much longer text that needs more tokens than the others', '', 'Hello, world!'], 'minilm') e
  ON e.ordinality = t.i;
SELECT count(*) AS rows FROM tfm_embed(ARRAY[]::text[], 'minilm');
