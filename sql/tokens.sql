-- sql/tokens.sql (issue 14): tfm_tokens(input, model), the token strings Hugging Face's encoding.tokens gives,
-- and WordPiece tokenizers read from vocab.txt + tokenizer_config.json when a directory has no tokenizer.json.
-- References (PG_TFM_TOKENS/refs.jsonl, test/make_token_refs.js): ids and token strings from Hugging Face's
-- Rust tokenizers (npm tokenizers@0.23.2) for the REAL tokenizer files of all-MiniLM-L6-v2, bge-small-en-v1.5,
-- distilbert-sst2, ms-marco-MiniLM-L12-v2 (WordPiece), tiny-random-roberta, roberta-base (byte-level BPE) and
-- GPT-2 (vocab.json + merges.txt), and t5-small's SentencePiece Unigram tokenizer.json (on a BERT config with
-- RANDOM weights, test/make_unigram_models.js). The models around the bge / distilbert / ms-marco / roberta-base tokenizers
-- have RANDOM weights (only their tokenizers are checked here); MiniLM, tiny-random-roberta and GPT-2 tiny
-- are the files as they are.
\getenv model_dir PG_TFM_MODEL_DIR
\getenv tokens PG_TFM_TOKENS
\getenv fam PG_TFM_FAMILIES
\getenv golden PG_TFM_GOLDEN
\getenv uni PG_TFM_UNIGRAM
SET pg_tfm_test.tokens = :'tokens';
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE h text;
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
  RETURN SQLSTATE || ': ' || replace(SQLERRM, current_setting('pg_tfm_test.tokens'), '<tokens>') ||
         coalesce(' (' || nullif(h, '') || ')', '');
END $$;
CREATE TEMP TABLE refs (j jsonb);
\set f :tokens '/refs.jsonl'
COPY refs FROM :'f' WITH (FORMAT csv, QUOTE e'\x01', DELIMITER e'\x02');
CREATE TEMP TABLE r AS
SELECT j->>'tokenizer' AS tokenizer, j->>'text' AS text,
       ARRAY(SELECT jsonb_array_elements_text(j->'ids')::int) AS ids,
       ARRAY(SELECT jsonb_array_elements_text(j->'tokens')) AS tokens
FROM refs;

SET client_min_messages = warning;
SELECT m, name FROM (VALUES
  ('minilm', :'model_dir'), ('bge', :'tokens' || '/json_bge'), ('distilbert', :'tokens' || '/json_distilbert'),
  ('msmarco', :'tokens' || '/json_msmarco'), ('roberta_tiny', :'fam' || '/roberta_tiny'),
  ('roberta_base', :'fam' || '/roberta_base'), ('gpt2', :'golden' || '/gpt2/tiny'),
  ('t5', :'uni' || '/t5_bert')) v(m, d),
  LATERAL tfm_import('tk_' || m, d) ORDER BY 1;
RESET client_min_messages;

-- 1. ids and token strings equal the Rust library's on every text (special tokens included, untruncated)
SELECT tokenizer, count(*) AS texts,
       count(*) FILTER (WHERE tfm_tokenize(text, 'tk_' || tokenizer) = ids) AS same_ids,
       count(*) FILTER (WHERE tfm_tokens(text, 'tk_' || tokenizer) = tokens) AS same_tokens
FROM r GROUP BY 1 ORDER BY 1;
-- (none differ; an added token with lstrip, RoBERTa's <mask>, holds the white space it absorbed: " <mask>")
SELECT tokenizer, left(text, 40) AS mismatch, tfm_tokens(text, 'tk_' || tokenizer) AS got, tokens AS want
FROM r WHERE tfm_tokens(text, 'tk_' || tokenizer) IS DISTINCT FROM tokens ORDER BY 1, 2;
-- what the strings look like: "##" continuations, byte-level "Ġ" spaces, special tokens as the vocabulary spells them
SELECT m, tfm_tokens('Tokenizing ΣΊΣΥΦΟΣ, naïvely!', 'tk_' || m) AS tokens
FROM unnest(ARRAY['minilm', 'roberta_base', 'gpt2', 't5']) m ORDER BY 1;
SELECT tfm_tokens('a <mask> b', 'tk_roberta_base') AS added_token, tfm_tokens('', 'tk_minilm') AS empty,
       tfm_tokens(NULL, 'tk_minilm') IS NULL AS null_input;
-- one string per id, always
SELECT tokenizer, bool_and(cardinality(tfm_tokens(text, 'tk_' || tokenizer)) = cardinality(tfm_tokenize(text, 'tk_' || tokenizer)))
       AS one_string_per_id
FROM r GROUP BY 1 ORDER BY 1;
-- the default model (pg_tfm.default_model) when model is omitted
SET pg_tfm.default_model = 'tk_minilm';
SELECT tfm_tokens('Hello, world!') AS default_model;
RESET pg_tfm.default_model;

-- 2. WordPiece without tokenizer.json: vocab.txt (id = line), tokenizer_config.json (do_lower_case,
-- strip_accents, tokenize_chinese_chars, special tokens, added_tokens_decoder), special_tokens_map.json;
-- the same ids and strings as the tokenizer.json path, for every text
SELECT m, name, architecture, task FROM unnest(ARRAY['bge', 'distilbert', 'msmarco']) m,
  LATERAL tfm_import('vt_' || m, :'tokens' || '/vocab_' || m) ORDER BY 1;
SELECT tokenizer, count(*) AS texts,
       count(*) FILTER (WHERE tfm_tokenize(text, 'vt_' || tokenizer) = ids) AS same_ids,
       count(*) FILTER (WHERE tfm_tokens(text, 'vt_' || tokenizer) = tokens) AS same_tokens,
       count(*) FILTER (WHERE tfm_tokenize(text, 'vt_' || tokenizer) = tfm_tokenize(text, 'tk_' || tokenizer)) AS same_as_json
FROM r WHERE tokenizer IN ('bge', 'distilbert', 'msmarco') GROUP BY 1 ORDER BY 1;
-- the pair template too (the cross-encoder: [CLS] a [SEP] b [SEP]), and the stored tokenizer equals the
-- converted file's parts that pg_tfm reads
SELECT tfm_tokenize('what is a cat', 'a cat is an animal', 'vt_msmarco') =
       tfm_tokenize('what is a cat', 'a cat is an animal', 'tk_msmarco') AS same_pair,
       (SELECT tokenizer->'normalizer' FROM tfm.model WHERE name = 'vt_bge') =
       (SELECT tokenizer->'normalizer' FROM tfm.model WHERE name = 'tk_bge') AS same_normalizer,
       (SELECT tokenizer->'model'->'vocab' FROM tfm.model WHERE name = 'vt_bge') =
       (SELECT tokenizer->'model'->'vocab' FROM tfm.model WHERE name = 'tk_bge') AS same_vocab,
       (SELECT tokenizer->'added_tokens' FROM tfm.model WHERE name = 'vt_msmarco') =
       (SELECT tokenizer->'added_tokens' FROM tfm.model WHERE name = 'tk_msmarco') AS same_added_tokens;
-- do_lower_case false keeps case (and accents: strip_accents follows lowercase); bge's vocabulary has no
-- capitals, so cased words are [UNK]
SELECT name FROM tfm_import('vt_cased', :'tokens' || '/vocab_cased');
SELECT tfm_tokens('Hello Café hello', 'vt_cased') AS cased, tfm_tokens('Hello Café hello', 'vt_bge') AS uncased;
-- special tokens named by tokenizer_config.json alone (an AddedToken object for unk_token)
SELECT name FROM tfm_import('vt_config_only', :'tokens' || '/vocab_config_only');
SELECT count(*) FILTER (WHERE tfm_tokenize(text, 'vt_config_only') = ids) AS same_ids FROM r WHERE tokenizer = 'bge';
-- refused: a special token vocab.txt lacks, an empty line (ids would shift), settings BertTokenizer's
-- pipeline would not follow; a directory with no tokenizer names the files it looked for
SELECT d, pg_temp.err(format('SELECT tfm_import(%L, %L)', 'x', :'tokens' || '/' || d)) AS result
FROM unnest(ARRAY['vocab_bad_special', 'vocab_empty_line', 'vocab_basic_off']) d;
SELECT pg_temp.err(format('SELECT tfm_import(%L, %L)', 'x', :'tokens' || '/no_tokenizer')) AS no_tokenizer;

SELECT count(tfm_drop(name)) AS dropped FROM tfm.models WHERE name LIKE 'tk\_%' OR name LIKE 'vt\_%';
