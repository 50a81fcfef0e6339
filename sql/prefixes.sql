-- sql/prefixes.sql (issue 15): query/passage prefixes (e5's "query: " / "passage: ", bge's instruction).
-- The import options prefixes and default_prefix are checked and stored in the model's options;
-- tfm_embed(input, model, kind) is tfm_embed(<prefix of kind> || input, model), exactly.
-- Models: the real all-MiniLM-L6-v2 (PG_TFM_MODEL_DIR), and bge-small-en-v1.5's real config, tokenizer
-- and sentence-transformers files with RANDOM weights (PG_TFM_ST, test/make_st_models.js: the
-- "prompt" directories add a "prompts" dict as newer sentence-transformers versions write it).
\getenv model_dir PG_TFM_MODEL_DIR
\getenv st PG_TFM_ST
\getenv seqcls PG_TFM_SEQCLS
SET pg_tfm_test.st = :'st';
-- SQLSTATE, message and hint of a statement, directories shown as <st>
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE h text;
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
  RETURN SQLSTATE || ': ' || replace(SQLERRM, current_setting('pg_tfm_test.st'), '<st>') ||
         coalesce(' (' || nullif(h, '') || ')', '');
END $$;
CREATE TEMP TABLE txt(i int, t text);
INSERT INTO txt VALUES (1, 'how much protein should a female eat'), (2, 'summit define'),
  (3, 'As a general guideline, the CDC''s average requirement of protein for women ages 19 to 70 is 46 grams per day.'),
  (4, ''), (5, 'Ünïcödé – ✓ 東京');

-- 1. e5-style prefixes on the real MiniLM, shown in tfm.models' options
SELECT name, options FROM tfm_import('pfx', :'model_dir',
  '{"max_tokens": 256, "prefixes": {"query": "query: ", "passage": "passage: "}}');
SELECT options->'prefixes' AS prefixes FROM tfm.models WHERE name = 'pfx';
-- the prefix is prepended, nothing else: equal to pasting it by hand, float for float
SELECT i, tfm_embed(t, 'pfx', 'query') = tfm_embed('query: ' || t, 'pfx') AS query_exact,
       tfm_embed(t, 'pfx', 'passage') = tfm_embed('passage: ' || t, 'pfx') AS passage_exact,
       tfm_embed(t, 'pfx', 'query') <> tfm_embed(t, 'pfx') AS query_differs,
       tfm_embed(t, 'pfx', NULL) = tfm_embed(t, 'pfx') AS null_kind_is_no_prefix
FROM txt ORDER BY i;
-- the bulk form prepends the same prefix to each element (NULL elements stay NULL)
SELECT e.ordinality, e.embedding = tfm_embed('query: ' || a[e.ordinality], 'pfx') AS bulk_exact
FROM (SELECT ARRAY['summit define', NULL, 'how much protein should a female eat'] a) s,
     tfm_embed(s.a, 'pfx', 'query') e ORDER BY 1;
-- NULL input gives NULL, as every tfm_embed
SELECT tfm_embed(NULL::text, 'pfx', 'query') IS NULL AS null_input;

-- 2. unknown kinds name the known ones; a model without prefixes has no kinds (22023)
SELECT pg_temp.err($$SELECT tfm_embed('x', 'pfx', 'document')$$) AS unknown_kind;
SELECT pg_temp.err($$SELECT tfm_embed('x', 'pfx', 'Query')$$) AS kinds_are_case_sensitive;
SELECT pg_temp.err($$SELECT * FROM tfm_embed(ARRAY[]::text[], 'pfx', 'document')$$) AS unknown_kind_bulk;
SELECT name FROM tfm_import('bge', :'st' || '/bge');
SELECT pg_temp.err($$SELECT tfm_embed('x', 'bge', 'query')$$) AS no_prefixes;
SELECT tfm_embed('x', 'bge', NULL) = tfm_embed('x', 'bge') AS null_kind_without_prefixes;

-- 3. the options are checked at import (names 1-63 of [A-Za-z0-9_-], strings of at most 4096 bytes,
-- at most 32 of them; default_prefix one of them)
SELECT o, pg_temp.err(format('SELECT tfm_import(%L, %L, %L)', 'x', :'st' || '/bge', o)) AS result
FROM unnest(ARRAY[
  '{"prefixes": "query: "}',
  '{"prefixes": {}}',
  '{"prefixes": {"query": 1}}',
  '{"prefixes": {"query": null}}',
  '{"prefixes": {"a b": "x"}}',
  '{"prefixes": {"": "x"}}',
  '{"default_prefix": "query"}',
  '{"prefixes": {"query": "q: "}, "default_prefix": "passage"}',
  '{"prefixes": {"query": "q: "}, "default_prefix": 1}',
  '{"prefix": {"query": "q: "}}']) o;
SELECT pg_temp.err(format('SELECT tfm_import(%L, %L, %L)', 'x', :'st' || '/bge',
                          jsonb_build_object('prefixes', jsonb_build_object('q', repeat('x', 4097))))) AS too_long;
SELECT pg_temp.err(format('SELECT tfm_import(%L, %L, %L)', 'x', :'st' || '/bge',
                          jsonb_build_object('prefixes', (SELECT jsonb_object_agg('k' || i, 'x') FROM generate_series(1, 33) i))))
       AS too_many;
-- at the limits: 4096 bytes, 32 prefixes, a 63-character name
SELECT name, length(options->'prefixes'->>'q') AS len FROM tfm_import('long', :'st' || '/bge',
  jsonb_build_object('prefixes', jsonb_build_object('q', repeat('é', 2048))));
SELECT tfm_embed('x', 'long', 'q') = tfm_embed(repeat('é', 2048) || 'x', 'long') AS long_exact;
SELECT name, (SELECT count(*) FROM jsonb_object_keys(options->'prefixes')) AS n FROM tfm_import('many', :'st' || '/bge',
  jsonb_build_object('prefixes', (SELECT jsonb_object_agg(repeat('k', 60) || i, 'p' || i || ': ') FROM generate_series(100, 131) i)));
SELECT tfm_embed('x', 'many', repeat('k', 60) || '117') = tfm_embed('p117: x', 'many') AS named_63;
-- a sequence-classification checkpoint reads pairs and its own [CLS] state: prefixes are refused
SELECT pg_temp.err(format('SELECT tfm_import(%L, %L, %L)', 'x', :'seqcls' || '/cls3', '{"prefixes": {"q": "q: "}}'))
       AS classifier;

-- 4. default_prefix: tfm_embed(input, model) (and kind NULL) prepends it; a kind still picks its own
SELECT name, options->'default_prefix' AS default_prefix FROM tfm_import('dflt', :'st' || '/bge',
  '{"prefixes": {"query": "query: ", "passage": ""}, "default_prefix": "query"}');
SELECT i, tfm_embed(t, 'dflt') = tfm_embed('query: ' || t, 'bge') AS default_exact,
       tfm_embed(t, 'dflt', NULL) = tfm_embed('query: ' || t, 'bge') AS null_kind_default,
       tfm_embed(t, 'dflt', 'passage') = tfm_embed(t, 'bge') AS empty_prefix
FROM txt ORDER BY i;
SELECT bool_and(e.embedding = tfm_embed('query: ' || a[e.ordinality], 'bge')) AS bulk_default_exact
FROM (SELECT ARRAY['summit define', 'protein'] a) s, tfm_embed(s.a, 'dflt') e;

-- 5. sentence-transformers' "prompts" and "default_prompt_name" (config_sentence_transformers.json) are
-- the default prefixes; explicit options win (prefixes given: the file's prompts and default are not read)
SELECT name, options->'prefixes' AS prefixes, options->'default_prefix' AS default_prefix
FROM tfm_import('stp', :'st' || '/prompt');
SELECT tfm_embed('summit define', 'stp') =
       tfm_embed('Represent this sentence for searching relevant passages: summit define', 'bge') AS st_default_exact,
       tfm_embed('summit define', 'stp', 'passage') = tfm_embed('summit define', 'bge') AS st_passage_exact;
SELECT name, options->'prefixes' AS prefixes, options->'default_prefix' AS default_prefix
FROM tfm_import('stp_nodefault', :'st' || '/prompt_nodefault');
SELECT tfm_embed('summit define', 'stp_nodefault') = tfm_embed('summit define', 'bge') AS no_default_no_prefix;
SELECT name, options->'prefixes' AS prefixes, options->'default_prefix' AS default_prefix
FROM tfm_import('stp_mine', :'st' || '/prompt', '{"prefixes": {"q": "q: "}}');
SELECT name, options->'prefixes' AS prefixes, options->'default_prefix' AS default_prefix
FROM tfm_import('stp_mine2', :'st' || '/prompt', '{"prefixes": {"q": "q: "}, "default_prefix": "q"}');
SELECT pg_temp.err(format('SELECT tfm_import(%L, %L)', 'x', :'st' || '/prompt_bad')) AS bad_prompts;

-- 6. the content form takes the same options; GPT-2 models have no prefixes (22023) and tfm_embed refuses
-- them with or without a kind (42809)
\getenv golden PG_TFM_GOLDEN
SELECT name, options->'prefixes' AS prefixes
FROM tfm_import('content', pg_read_file(:'st' || '/bge/config.json')::jsonb, pg_read_file(:'st' || '/bge/tokenizer.json')::jsonb,
                pg_read_binary_file(:'st' || '/bge/model.safetensors'), '{"prefixes": {"q": "q: "}}');
SELECT tfm_embed('summit define', 'content', 'q') = tfm_embed('q: summit define', 'content') AS content_exact;
SELECT pg_temp.err(format('SELECT tfm_import(%L, %L, %L)', 'x', :'golden' || '/gpt2/tiny', '{"prefixes": {"q": "q: "}}'))
       AS gpt2_prefixes;
SELECT name FROM tfm_import('g2', :'golden' || '/gpt2/tiny');
SELECT pg_temp.err($$SELECT tfm_embed('x', 'g2', 'q')$$) AS gpt2_embed;

SELECT tfm_drop(name) FROM unnest(ARRAY['pfx', 'bge', 'long', 'many', 'dflt', 'stp', 'stp_nodefault', 'stp_mine',
  'stp_mine2', 'content', 'g2']) name;
