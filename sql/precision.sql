-- issue 16: precision int8 (dynamic quantisation of the linear layers: per-output-channel weight
-- scales, per-row activation scales, int32 sums). Quality against fp32 is asserted as cosine bounds
-- on the MiniLM golden texts and SpamAssassin subjects and bodies: mean >= 0.99, min >= 0.97.
-- (Figures: docs/performance.md; the mean/min query's output is discarded as it varies by CPU.)
-- Runs after import (model minilm, fp32, max_tokens 256).
\getenv model_dir PG_TFM_MODEL_DIR
\getenv golden PG_TFM_GOLDEN
\getenv spam PG_TFM_SPAM_CSV
SELECT name, options->>'precision' AS precision, max_tokens
FROM tfm_import('minilm_int8', :'model_dir', '{"max_tokens": 256, "precision": "int8"}');
SELECT name, options->>'precision' AS precision FROM tfm.models WHERE name LIKE 'minilm%' ORDER BY name;
-- not a precision, and one not built yet
SELECT err($$SELECT tfm_import('m8', '$$ || :'model_dir' || $$', '{"precision": "int4"}')$$);
SELECT err($$SELECT tfm_import('m8', '$$ || :'model_dir' || $$', '{"precision": "bf16"}')$$);

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
SELECT src, (SELECT sum(a * b) FROM unnest(tfm_embed(t, 'minilm'), tfm_embed(t, 'minilm_int8')) u(a, b)) AS cos
FROM texts8;
\o /dev/null
SELECT src, round(avg(cos)::numeric, 4) AS mean, round(min(cos)::numeric, 4) AS min FROM cos8 GROUP BY src;
\o
SELECT src, count(*) AS texts, avg(cos) >= 0.99 AS mean_ge_099, min(cos) >= 0.97 AS min_ge_097
FROM cos8 GROUP BY src ORDER BY src;
