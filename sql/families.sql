-- sql/families.sql (issue 15): DistilBERT and RoBERTa encoders imported as embedding models.
-- The directories under PG_TFM_FAMILIES come from test/make_family_models.js:
--   distilbert*    distilbert-base-uncased-finetuned-sst-2-english's REAL config.json and tokenizer.json,
--                  config shrunk to dim 32 / 2 layers / 4 heads, RANDOM weights under DistilBERT's names;
--   roberta_tiny*  hf-internal-testing/tiny-random-roberta: its REAL (random-initialised) weights;
--   roberta_base*  roberta-base's REAL tokenizer on a shrunk config with RANDOM weights.
-- References (refs.jsonl): token ids from Hugging Face's Rust tokenizers (npm `tokenizers`), embeddings
-- from test/ref/encoder.js, a plain float64 implementation reading the same safetensors (mean pooling,
-- L2-normalised, ids truncated to max_tokens).
\getenv fam PG_TFM_FAMILIES
SET pg_tfm_test.fam = :'fam';
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || replace(SQLERRM, current_setting('pg_tfm_test.fam'), '<fam>');
END $$;
CREATE TEMP TABLE refs (j jsonb);
\set f :fam '/refs.jsonl'
COPY refs FROM :'f' WITH (FORMAT csv, QUOTE e'\x01', DELIMITER e'\x02');

-- 1. imports: the family in tfm.models' architecture, max_tokens from the position table (RoBERTa:
-- max_position_embeddings - pad_token_id - 1), with and without the task prefix ("distilbert.",
-- "roberta."), tokenizer.json or vocab.json + merges.txt
SELECT name, architecture, task, dim, max_tokens, params, options
FROM unnest(ARRAY['distilbert', 'distilbert_mlm', 'distilbert_sinusoidal', 'roberta_tiny', 'roberta_tiny_files',
                  'roberta_base', 'roberta_base_files']) d, tfm_import(d, :'fam' || '/' || d);

-- 2. token ids equal Hugging Face's Rust tokenizers on every text (special tokens included, untruncated):
-- WordPiece (DistilBERT), byte-level BPE with <s> ... </s> and added tokens (<mask> with lstrip, <pad>)
SELECT j->>'model' AS model, count(*) AS texts,
       count(*) FILTER (WHERE tfm_tokenize(j->>'text', j->>'model') =
                        ARRAY(SELECT jsonb_array_elements_text(j->'ids')::int)) AS identical
FROM refs GROUP BY 1 ORDER BY 1;
-- none differ (a final capital sigma lowercases to σ as in the Rust library, not to ς as in transformers.js)
SELECT j->>'model' AS model, left(j->>'text', 40) AS mismatch, tfm_tokenize(j->>'text', j->>'model') AS got, j->'ids' AS want
FROM refs WHERE tfm_tokenize(j->>'text', j->>'model') IS DISTINCT FROM ARRAY(SELECT jsonb_array_elements_text(j->'ids')::int);

-- 3. embeddings within 1e-4 of the reference, one text at a time and in bulk (padded batches: RoBERTa's
-- positions skip padding, a literal <pad> in the text takes position pad_token_id as in Hugging Face)
CREATE TEMP TABLE diffs AS
SELECT j->>'model' AS model, j->>'text' AS text,
       (SELECT max(abs(a - b::float8)) FROM unnest(tfm_embed(j->>'text', j->>'model'),
               ARRAY(SELECT jsonb_array_elements_text(j->'embedding')::float8)) t(a, b)) AS maxdiff,
       cardinality(tfm_embed(j->>'text', j->>'model')) = jsonb_array_length(j->'embedding') AS same_length
FROM refs;
SELECT model, count(*) AS texts, count(*) FILTER (WHERE maxdiff < 1e-4) AS within_1e4,
       count(*) FILTER (WHERE same_length) AS same_length FROM diffs GROUP BY 1 ORDER BY 1;
-- (none off)
SELECT model, left(text, 40) AS off_text, maxdiff, same_length FROM diffs WHERE NOT (maxdiff < 1e-4 AND same_length);
CREATE TEMP TABLE bulk AS
SELECT m AS model, r.j, e.embedding
FROM unnest(ARRAY['distilbert', 'roberta_tiny', 'roberta_base']) m,
     LATERAL (SELECT array_agg(j ORDER BY j->>'text') AS js FROM refs WHERE j->>'model' = m) s,
     LATERAL tfm_embed(ARRAY(SELECT x->>'text' FROM unnest(s.js) x), m) e,
     LATERAL (SELECT s.js[e.ordinality] AS j) r;
SELECT model, count(*) AS texts,
       count(*) FILTER (WHERE (SELECT max(abs(a - b::float8)) FROM unnest(embedding,
               ARRAY(SELECT jsonb_array_elements_text(j->'embedding')::float8)) t(a, b)) < 1e-4) AS bulk_within_1e4
FROM bulk GROUP BY 1 ORDER BY 1;

-- 4. refused with 0A000 from config.json alone: heads pg_tfm does not compute (token classification,
-- question answering; sequence-classification heads are sql/heads.sql's), activations and position
-- types the kernels lack
SELECT d, pg_temp.err(format('SELECT tfm_import(%L, %L)', 'x', :'fam' || '/' || d)) AS result
FROM unnest(ARRAY['refused_xlmr_qa', 'refused_roberta_tokcls', 'refused_roberta_relative', 'refused_distilbert_tokcls',
                  'refused_distilbert_relu']) d;
-- a RoBERTa tokenizer pg_tfm does not read: refused naming the component
SELECT pg_temp.err(format('SELECT tfm_import(%L, %L::jsonb, %L::jsonb, %L::bytea)', 'x',
  pg_read_file(:'fam' || '/roberta_tiny/config.json'),
  jsonb_set(pg_read_file(:'fam' || '/roberta_tiny/tokenizer.json')::jsonb, '{normalizer}', '{"type": "NFKC"}'),
  pg_read_binary_file(:'fam' || '/roberta_tiny/model.safetensors'))) AS normalizer;
SELECT pg_temp.err(format('SELECT tfm_import(%L, %L::jsonb, %L::jsonb, %L::bytea)', 'x',
  pg_read_file(:'fam' || '/roberta_tiny/config.json'),
  jsonb_set(pg_read_file(:'fam' || '/roberta_tiny/tokenizer.json')::jsonb, '{post_processor}', '{"type": "BertProcessing"}'),
  pg_read_binary_file(:'fam' || '/roberta_tiny/model.safetensors'))) AS post_processor;
-- max_tokens beyond RoBERTa's positions
SELECT pg_temp.err(format('SELECT tfm_import(%L, %L, %L)', 'x', :'fam' || '/roberta_tiny', '{"max_tokens": 511}')) AS too_long;
SELECT count(*) AS refused_imports_stored FROM tfm.models WHERE name = 'x';

-- 5. full fine-tuning runs on both families (DistilBERT: no token-type gradient; RoBERTa: gradients of
-- the positions it read) and stores an encoder that imports back under the family's names: the new
-- version classifies and embeds; with learning rate 1e-9 nothing moves visibly (the encoder round-trips)
CREATE TEMP TABLE rows AS SELECT t, (CASE WHEN t ~ '^[a-m]' THEN 'early' ELSE 'late' END) AS label
  FROM (SELECT DISTINCT lower(left(j->>'text', 200)) AS t FROM refs WHERE j->>'text' ~ '^[A-Za-z]') s;
SET client_min_messages = warning;
CALL tfm_train('ft_distilbert', 'distilbert', 'SELECT t, label FROM rows', 'classification',
               '{"fine_tune": "full", "epochs": 2, "learning_rate": 1e-3, "early_stopping": false, "validation_fraction": 0}');
CALL tfm_train('ft_roberta', 'roberta_tiny', 'SELECT t, label FROM rows', 'classification',
               '{"fine_tune": "full", "epochs": 2, "learning_rate": 1e-3, "early_stopping": false, "validation_fraction": 0}');
CALL tfm_train('ft_roberta0', 'roberta_tiny', 'SELECT t, label FROM rows', 'classification',
               '{"fine_tune": "full", "epochs": 1, "learning_rate": 1e-9, "warmup_fraction": 0, "early_stopping": false, "validation_fraction": 0}');
RESET client_min_messages;
SELECT name, architecture, task, params > 0 AS has_params,
       (SELECT count(*) FROM jsonb_array_elements(training->'history') e WHERE e->>'phase' = 'full') AS full_epochs,
       (SELECT bool_and((e->>'train_loss')::float8 >= 0) FROM jsonb_array_elements(training->'history') e) AS finite_losses,
       (SELECT count(*) FROM rows WHERE tfm_classify(t, name) IN ('early', 'late')) = (SELECT count(*) FROM rows) AS classifies
FROM tfm.models WHERE name LIKE 'ft_%' ORDER BY name;
SELECT (SELECT bool_and(tfm_embed(t, 'ft_roberta') IS DISTINCT FROM tfm_embed(t, 'roberta_tiny')) FROM rows) AS trained_encoder_moved,
       (SELECT max(abs(a - b)) FROM rows, unnest(tfm_embed(t, 'ft_roberta0'), tfm_embed(t, 'roberta_tiny')) u(a, b)) < 1e-6 AS tiny_lr_round_trips;
SELECT tfm_drop('ft_distilbert'), tfm_drop('ft_roberta'), tfm_drop('ft_roberta0');

SELECT count(*) AS dropped FROM (SELECT tfm_drop(d) FROM unnest(ARRAY['distilbert', 'distilbert_mlm',
  'distilbert_sinusoidal', 'roberta_tiny', 'roberta_tiny_files', 'roberta_base', 'roberta_base_files']) d) s;
