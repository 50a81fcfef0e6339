-- issue 16: precisions bf16 (linear layers' weights and inputs rounded to bfloat16, fp32 sums) and
-- int8 (dynamic quantisation of the linear layers: per-output-channel weight scales, per-row
-- activation scales, int32 sums). Quality against fp32 is asserted as cosine bounds on the MiniLM
-- golden texts and SpamAssassin subjects and bodies: bf16 min >= 0.999; int8 mean >= 0.99, min >= 0.97.
-- (Figures: docs/performance.md; the mean/min query's output is discarded as it varies by CPU.)
-- Runs after import (model minilm, fp32, max_tokens 256).
\getenv model_dir PG_TFM_MODEL_DIR
\getenv golden PG_TFM_GOLDEN
\getenv spam PG_TFM_SPAM_CSV
SELECT name, options->>'precision' AS precision, max_tokens
FROM tfm_import('minilm_int8', :'model_dir', '{"max_tokens": 256, "precision": "int8"}');
SELECT name, options->>'precision' AS precision, max_tokens
FROM tfm_import('minilm_bf16', :'model_dir', '{"max_tokens": 256, "precision": "bf16"}');
SELECT name, options->>'precision' AS precision FROM tfm.models WHERE name LIKE 'minilm%' ORDER BY name;
-- not a precision
SELECT err($$SELECT tfm_import('m8', '$$ || :'model_dir' || $$', '{"precision": "int4"}')$$);
SELECT err($$SELECT tfm_import('m8', '$$ || :'model_dir' || $$', '{"precision": 8}')$$);
-- (sequence-classification checkpoints at bf16 and int8: sql/precision_file.sql)

CREATE TEMP TABLE ge8 (j jsonb);
\set f :golden '/minilm/embeddings.jsonl'
COPY ge8 FROM :'f' WITH (FORMAT csv, QUOTE e'\x01', DELIMITER e'\x02');
CREATE TEMP TABLE spam8 (id text, grp text, subject text, body text, label text);
COPY spam8 FROM :'spam' (FORMAT csv, HEADER);
CREATE TEMP TABLE texts8 AS
SELECT 'golden' AS src, j->>'text' AS t FROM ge8
UNION ALL (SELECT 'subjects', subject FROM spam8 WHERE subject <> '' ORDER BY md5(id) LIMIT 300)
UNION ALL (SELECT 'bodies', body FROM spam8 WHERE body <> '' ORDER BY md5(id) LIMIT 60);
-- both embeddings are L2-normalised: the cosine is the dot product
CREATE TEMP TABLE cos8 AS
SELECT src, (SELECT sum(a * b) FROM unnest(f, tfm_embed(t, 'minilm_int8')) u(a, b)) AS int8,
       (SELECT sum(a * b) FROM unnest(f, tfm_embed(t, 'minilm_bf16')) u(a, b)) AS bf16
FROM (SELECT src, t, tfm_embed(t, 'minilm') AS f FROM texts8) s;
\o /dev/null
SELECT src, round(avg(int8)::numeric, 4) AS int8_mean, round(min(int8)::numeric, 4) AS int8_min,
       round(avg(bf16)::numeric, 5) AS bf16_mean, round(min(bf16)::numeric, 5) AS bf16_min
FROM cos8 GROUP BY src;
\o
SELECT src, count(*) AS texts, avg(int8) >= 0.99 AS int8_mean_ge_099, min(int8) >= 0.97 AS int8_min_ge_097,
       min(bf16) >= 0.999 AS bf16_min_ge_0999,
       avg(int8) < 0.9999 AND avg(bf16) < 0.999999 AS not_fp32
FROM cos8 GROUP BY src ORDER BY src;
-- a new connection maps the (built) cache file again and binds its int8 weights where they are: no
-- private copy (11 MB for MiniLM before the cache file stored them) counts against pg_tfm.max_memory
\c -
SET pg_tfm.max_memory = 1;
SELECT cardinality(tfm_embed('a test', 'minilm_int8')) AS dim;
RESET pg_tfm.max_memory;
-- the later test files expect only minilm
SELECT count(*) AS dropped FROM (SELECT tfm_drop(n) FROM unnest(ARRAY['minilm_int8', 'minilm_bf16']) n) d;
