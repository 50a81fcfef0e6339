-- pg_tfm.max_memory and texts of any length (issue #6)
\getenv model_dir PG_TFM_MODEL_DIR
SELECT array_length(tfm_embed('the cache file is built within the default budget', 'minilm'), 1) AS dim;
SHOW pg_tfm.max_memory;

-- a text is cut to the model's max_tokens without tokenizing (or fetching) the rest: a 50 MB text
-- embeds within a 64 MB budget and a few seconds, as its first 256 tokens do
SET pg_tfm.max_memory = '64MB';
SET statement_timeout = '20s';
SELECT tfm_embed(repeat('spam ', 10000000), 'minilm') = tfm_embed(repeat('spam ', 300), 'minilm') AS same_as_prefix;
-- a stored (toasted) long text is read by slices; the per-row, bulk and scoring paths agree
CREATE TEMP TABLE long_docs AS SELECT repeat('word, ', 2000000) AS body;
SELECT tfm_embed(body, 'minilm') = tfm_embed(repeat('word, ', 200), 'minilm') AS same_as_prefix FROM long_docs;
SELECT bool_and((SELECT max(abs(a - b)) FROM unnest(e.embedding, tfm_embed(repeat('word, ', 200), 'minilm')) u(a, b)) < 1e-5)
       AS bulk_same
FROM long_docs, tfm_embed(ARRAY[body, body], 'minilm') e;
-- the prefix is cut at a blank: a word the window would split is tokenized whole
SELECT tfm_embed(repeat('a', 8190) || ' ' || repeat('unbelievable ', 500), 'minilm')
     = tfm_embed(repeat('a', 8190) || ' ' || repeat('unbelievable ', 300), 'minilm') AS cut_at_blank;
-- a text without blanks is tokenized whole, within the budget
SELECT err($$SELECT tfm_embed(repeat('x', 10000000), 'minilm')$$);
RESET statement_timeout;

-- a tiny budget: each large work area is refused before it is allocated, with 53200 and a hint
SET pg_tfm.max_memory = '1MB';
SELECT array_length(tfm_embed('a short text still fits', 'minilm'), 1) AS dim;
SELECT err($$SELECT tfm_embed(repeat('spam ', 1000), 'minilm')$$);
SELECT err($$SELECT count(*) FROM tfm_embed(ARRAY(SELECT 'text ' || g FROM generate_series(1, 2000) g), 'minilm')$$);
SELECT err($$CALL tfm_train('lim', 'minilm', 'SELECT * FROM (VALUES (''a'', ''x''), (''b'', ''y'')) v(t, l)',
                            'classification', '{"fine_tune": "full", "epochs": 1}')$$);
SELECT err(format('SELECT tfm_import(%L, %L)', 'lim', :'model_dir'));
\set wfile :model_dir '/model.fp16.safetensors'
SELECT err(format('SELECT tfm_import(%L, %L::jsonb, %L::jsonb, pg_read_binary_file(%L))', 'lim',
                  pg_read_file(:'model_dir' || '/config.json'), pg_read_file(:'model_dir' || '/tokenizer.json'), :'wfile'));
DO $$
DECLARE h text;
BEGIN
  PERFORM tfm_embed(repeat('spam ', 1000), 'minilm');
EXCEPTION WHEN out_of_memory THEN
  GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
  RAISE NOTICE 'hint: %', h;
END $$;
SELECT count(*) AS lim_models FROM tfm.models WHERE name = 'lim';
RESET pg_tfm.max_memory;
SELECT array_length(tfm_embed(repeat('spam ', 1000), 'minilm'), 1) AS dim_after_reset;

-- only superusers set it
CREATE ROLE tfm_lim_user;
SET ROLE tfm_lim_user;
SELECT err($$SET pg_tfm.max_memory = '100GB'$$);
RESET ROLE;
DROP ROLE tfm_lim_user;
