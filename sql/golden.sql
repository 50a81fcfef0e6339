-- golden data computed by Hugging Face's tokenizer and ONNX Runtime (../shared/golden/minilm)
\getenv golden PG_TFM_GOLDEN
CREATE TEMP TABLE gt (j jsonb);
CREATE TEMP TABLE ge (j jsonb);
\set f :golden '/minilm/tokens.jsonl'
COPY gt FROM :'f' WITH (FORMAT csv, QUOTE e'\x01', DELIMITER e'\x02');
\set f :golden '/minilm/embeddings.jsonl'
COPY ge FROM :'f' WITH (FORMAT csv, QUOTE e'\x01', DELIMITER e'\x02');

-- every text tokenizes to exactly the reference ids (untruncated)
SELECT count(*) AS texts,
       count(*) FILTER (WHERE tfm_tokenize(j->>'text', 'minilm') =
                        ARRAY(SELECT jsonb_array_elements_text(j->'ids')::int)) AS identical
FROM gt;
SELECT left(j->>'text', 60) AS mismatch FROM gt
WHERE tfm_tokenize(j->>'text', 'minilm') IS DISTINCT FROM ARRAY(SELECT jsonb_array_elements_text(j->'ids')::int);

-- every embedding component within 1e-4 of the reference (max_tokens 256, mean pooling, L2 norm);
-- unnest pads the shorter array with NULLs, which max() skips: the lengths are compared on their own
CREATE TEMP TABLE diffs AS
SELECT j->>'text' AS text,
       (SELECT max(abs(a - b::float8)) FROM unnest(tfm_embed(j->>'text', 'minilm'),
               ARRAY(SELECT jsonb_array_elements_text(j->'embedding')::float8)) t(a, b)) AS maxdiff,
       cardinality(tfm_embed(j->>'text', 'minilm')) = jsonb_array_length(j->'embedding') AS same_length
FROM ge;
SELECT count(*) AS texts, count(*) FILTER (WHERE maxdiff < 1e-4) AS within_1e4,
       count(*) FILTER (WHERE same_length) AS same_length FROM diffs;
SELECT left(text, 60) AS off_text, maxdiff, same_length FROM diffs WHERE NOT (maxdiff < 1e-4 AND same_length);
