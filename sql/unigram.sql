-- sql/unigram.sql (issue 14): SentencePiece Unigram tokenizers (tokenizer.json model "Unigram").
-- The directories under PG_TFM_UNIGRAM come from test/make_unigram_models.js:
--   t5_bert  a BERT-shaped config with RANDOM weights and the REAL t5-small tokenizer.json (Precompiled
--            normalizer, WhitespaceSplit + Metaspace, template $A </s>);
--   xlmr     an XLM-RoBERTa config with RANDOM weights and the t5-small tokenizer.json DERIVED into
--            XLM-R's shape (<s> $A </s>, Replace " {2,}", Metaspace alone, an lstrip/rstrip added token);
--   first    t5_bert with Metaspace prepend_scheme "first", split false, a Strip normalizer and an added
--            token matched in normalized text;
--   first_ws WhitespaceSplit + Metaspace prepend_scheme "first"; never: Metaspace prepend_scheme never
--            after Precompiled + NFKC;
--   bytes    t5_bert with byte_fallback and <0xXX> pieces (DERIVED: they replace 256 rare pieces);
--   bad_*    hostile or unsupported tokenizer.json files.
-- Reference ids (refs.jsonl): Hugging Face's Rust tokenizers (npm `tokenizers`) on the same files.
\getenv uni PG_TFM_UNIGRAM
SET pg_tfm_test.uni = :'uni';
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || replace(SQLERRM, current_setting('pg_tfm_test.uni'), '<uni>');
END $$;
CREATE TEMP TABLE refs (j jsonb);
\set f :uni '/refs.jsonl'
COPY refs FROM :'f' WITH (FORMAT csv, QUOTE e'\x01', DELIMITER e'\x02');

-- 1. imports: a BERT encoder and an XLM-R (RoBERTa-family) encoder, both with a Unigram tokenizer
SELECT name, architecture, task, dim, max_tokens
FROM unnest(ARRAY['t5_bert', 'xlmr', 'first', 'first_ws', 'never', 'bytes']) d, tfm_import(d, :'uni' || '/' || d);

-- 2. token ids equal Hugging Face's on every text (special tokens included, untruncated)
SELECT j->>'model' AS model, count(*) AS texts,
       count(*) FILTER (WHERE tfm_tokenize(j->>'text', j->>'model') =
                        ARRAY(SELECT jsonb_array_elements_text(j->'ids')::int)) AS identical,
       max(jsonb_array_length(j->'ids')) AS longest
FROM refs WHERE NOT j ? 'text2' GROUP BY 1 ORDER BY 1;
SELECT j->>'model' AS model, left(j->>'text', 40) AS mismatch, tfm_tokenize(j->>'text', j->>'model') AS got, j->'ids' AS want
FROM refs WHERE NOT j ? 'text2' AND
  tfm_tokenize(j->>'text', j->>'model') IS DISTINCT FROM ARRAY(SELECT jsonb_array_elements_text(j->'ids')::int);

-- 3. the encoders run on these ids: one vector per text, finite, the same alone and in bulk
SELECT m, cardinality(tfm_embed('Bonjour le monde, 你好', m)) AS dim,
       (SELECT bool_and(v = v AND abs(v) < 1e6) FROM unnest(tfm_embed('Bonjour le monde, 你好', m)) v) AS finite,
       (SELECT bool_and(e.embedding = tfm_embed(t[e.ordinality], m))
        FROM (SELECT ARRAY['Bonjour le monde, 你好', repeat('long text ', 400), ''] AS t) a,
             LATERAL tfm_embed(a.t, m) e) AS bulk_same
FROM unnest(ARRAY['t5_bert', 'xlmr']) m;

-- 4. hostile and unsupported tokenizer.json files: refused at import with an SQLSTATE, never a crash
SELECT d, pg_temp.err(format('SELECT tfm_import(%L, %L)', 'x', :'uni' || '/' || d)) AS result
FROM unnest(ARRAY['bad_score_inf', 'bad_score_neg_inf', 'bad_score_string', 'bad_unk_range', 'bad_no_unk',
                  'bad_too_many_pieces', 'bad_long_piece', 'bad_entry', 'bad_charsmap_base64', 'bad_charsmap_size',
                  'bad_charsmap_trie', 'bad_added_range', 'bad_lowercase', 'bad_regex', 'bad_whitespace',
                  'bad_bert_processing', 'bad_no_suffix', 'bad_single_word', 'bad_metaspace_mismatch']) d;

-- 4b. truncation to max_tokens keeps the template's closing token and reads only a prefix of a long
-- text (cut at a blank): 2,000 "Hello" are embedded as the first 513 (t5_bert: $A </s>, 514 tokens) or
-- 510 (xlmr: <s> $A </s>, 512 tokens)
SELECT tfm_tokenize(repeat('Hello ', 3), 't5_bert') AS t5_ids, tfm_tokenize(repeat('Hello ', 3), 'xlmr') AS xlmr_ids;
SELECT tfm_embed(repeat('Hello ', 2000), 't5_bert') = tfm_embed(repeat('Hello ', 513), 't5_bert') AS t5_truncated,
       tfm_embed(repeat('Hello ', 2000), 't5_bert') <> tfm_embed(repeat('Hello ', 512), 't5_bert') AS t5_not_shorter,
       tfm_embed(repeat('Hello ', 2000), 'xlmr') = tfm_embed(repeat('Hello ', 510), 'xlmr') AS xlmr_truncated,
       tfm_embed(repeat('Hello ', 2000), 'xlmr') <> tfm_embed(repeat('Hello ', 509), 'xlmr') AS xlmr_not_shorter;

-- 5. text pairs: XLM-R's template <s> A </s> </s> B </s> (on a RoBERTa-family encoder) gives Hugging Face's
-- ids; another Unigram pair template (t5's $A </s> $B </s>) is refused rather than guessed
SELECT count(*) AS pairs,
       count(*) FILTER (WHERE tfm_tokenize(j->>'text', j->>'text2', 'xlmr') =
                        ARRAY(SELECT jsonb_array_elements_text(j->'ids')::int)) AS identical
FROM refs WHERE j->>'model' = 'xlmr_pair';
SELECT left(j->>'text', 30) AS mismatch, tfm_tokenize(j->>'text', j->>'text2', 'xlmr') AS got, j->'ids' AS want
FROM refs WHERE j->>'model' = 'xlmr_pair' AND
  tfm_tokenize(j->>'text', j->>'text2', 'xlmr') IS DISTINCT FROM ARRAY(SELECT jsonb_array_elements_text(j->'ids')::int);
SELECT tfm_tokenize('Hello', 'world', 'xlmr') AS xlmr_pair;
SELECT pg_temp.err($$SELECT tfm_tokenize('a', 'b', 't5_bert')$$);

SELECT tfm_drop(m) FROM unnest(ARRAY['t5_bert', 'xlmr', 'first', 'first_ws', 'never', 'bytes']) m;
