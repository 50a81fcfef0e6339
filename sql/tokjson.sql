-- sql/tokjson.sql: hostile and unsupported tokenizer.json variants, imported from client content, are refused
-- with a SQLSTATE: 0A000 names a component pg_tfm does not compute (never silently ignored), 22023 a
-- malformed file. WordPiece: distilbert-base-uncased-finetuned-sst-2-english's real tokenizer.json on a tiny
-- DistilBERT (test/make_family_models.js); GPT-2: the tiny checkpoint of ../shared/golden/gpt2/tiny with its
-- vocab.json + merges.txt written as a tokenizer.json.
\getenv fam PG_TFM_FAMILIES
\getenv golden PG_TFM_GOLDEN
\set gdir :golden '/gpt2/tiny'
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- WordPiece
CREATE TEMP TABLE wp AS
SELECT pg_read_file(:'fam' || '/distilbert/config.json')::jsonb AS config,
       pg_read_file(:'fam' || '/distilbert/tokenizer.json')::jsonb AS tok,
       pg_read_binary_file(:'fam' || '/distilbert/model.safetensors') AS weights;
CREATE TEMP TABLE wpcase (label text, tok jsonb);
INSERT INTO wpcase SELECT 'ok', tok FROM wp;
INSERT INTO wpcase SELECT 'ok_bert_processing', jsonb_set(tok, '{post_processor}',
  '{"type": "BertProcessing", "sep": ["[SEP]", 102], "cls": ["[CLS]", 101]}') FROM wp;
INSERT INTO wpcase SELECT 'ok_untyped_model', tok #- '{model,type}' FROM wp;
INSERT INTO wpcase SELECT 'model_bpe', jsonb_set(tok, '{model,type}', '"BPE"') FROM wp;
INSERT INTO wpcase SELECT 'model_wordlevel', tok #- '{model,type}' #- '{model,continuing_subword_prefix}'
  #- '{model,max_input_chars_per_word}' FROM wp;
INSERT INTO wpcase SELECT 'normalizer_nfkc', jsonb_set(tok, '{normalizer}', '{"type": "NFKC"}') FROM wp;
INSERT INTO wpcase SELECT 'normalizer_null', jsonb_set(tok, '{normalizer}', 'null') FROM wp;
INSERT INTO wpcase SELECT 'pre_whitespace', jsonb_set(tok, '{pre_tokenizer}', '{"type": "Whitespace"}') FROM wp;
INSERT INTO wpcase SELECT 'pre_sequence', jsonb_set(tok, '{pre_tokenizer}',
  '{"type": "Sequence", "pretokenizers": [{"type": "BertPreTokenizer"}]}') FROM wp;
INSERT INTO wpcase SELECT 'post_roberta', jsonb_set(tok, '{post_processor}',
  '{"type": "RobertaProcessing", "sep": ["[SEP]", 102], "cls": ["[CLS]", 101]}') FROM wp;
INSERT INTO wpcase SELECT 'post_missing', tok - 'post_processor' FROM wp;
INSERT INTO wpcase SELECT 'template_no_cls', jsonb_set(tok, '{post_processor,single}',
  (tok->'post_processor'->'single') - 0) FROM wp;
INSERT INTO wpcase SELECT 'ok_mask_single_word', jsonb_set(tok, '{added_tokens}',
  (SELECT jsonb_agg(CASE WHEN a->>'content' = '[MASK]' THEN a || '{"single_word": true, "lstrip": true, "rstrip": true}'
                         ELSE a END ORDER BY o) FROM jsonb_array_elements(tok->'added_tokens') WITH ORDINALITY e(a, o))) FROM wp;
INSERT INTO wpcase SELECT 'added_normalized', jsonb_set(tok, '{added_tokens,1,normalized}', 'true') FROM wp;
INSERT INTO wpcase SELECT 'added_no_content', jsonb_set(tok, '{added_tokens,1,content}', '""') FROM wp;
INSERT INTO wpcase SELECT 'added_id_range', jsonb_set(tok, '{added_tokens,1,id}', '1000000') FROM wp;
INSERT INTO wpcase SELECT 'vocab_array', jsonb_set(tok, '{model,vocab}', '[]') FROM wp;
INSERT INTO wpcase SELECT 'vocab_id_range', jsonb_set(tok, '{model,vocab,hello}', '2147483647') FROM wp;
INSERT INTO wpcase SELECT 'vocab_id_negative', jsonb_set(tok, '{model,vocab,hello}', '-1') FROM wp;
INSERT INTO wpcase SELECT 'vocab_id_nan', jsonb_set(tok, '{model,vocab,hello}', '"NaN"') FROM wp;
INSERT INTO wpcase SELECT 'vocab_empty', jsonb_set(tok, '{model,vocab}', '{}') FROM wp;
INSERT INTO wpcase SELECT 'prefix_long', jsonb_set(tok, '{model,continuing_subword_prefix}',
  to_jsonb(repeat('#', 100))) FROM wp;
INSERT INTO wpcase SELECT 'not_object', '[]' FROM wp;
SELECT label, pg_temp.err(format('SELECT tfm_import(%L, w.config, c.tok, w.weights) FROM wpcase c, wp w WHERE label = %L',
                                 'tj_wp_' || label, label)) AS result
FROM wpcase ORDER BY label;
-- the accepted variants tokenize as the original
SELECT count(*) AS texts,
       count(*) FILTER (WHERE tfm_tokenize(t, 'tj_wp_ok_bert_processing') = tfm_tokenize(t, 'tj_wp_ok') AND
                              tfm_tokenize(t, 'tj_wp_ok_untyped_model') = tfm_tokenize(t, 'tj_wp_ok')) AS identical
FROM unnest(ARRAY['Hello, World!', '[CLS] literal [SEP] specials', 'naïve café', '']) t;
-- [MASK] with single_word, lstrip and rstrip: the ids of Hugging Face's Rust tokenizers 0.23.2 (npm tokenizers,
-- Tokenizer.fromFile on the same tokenizer.json): split out only between non-word characters (regex \w)
SELECT t, tfm_tokenize(t, 'tj_wp_ok_mask_single_word') = want AS same_as_hf
FROM (VALUES ('a[MASK]b', '{101,1037,1031,7308,1033,1038,102}'::int[]), ('a [MASK] b', '{101,1037,103,1038,102}'),
             ('é[MASK]', '{101,1041,1031,7308,1033,102}'), ('_[MASK]', '{101,1035,1031,7308,1033,102}'),
             ('1[MASK]', '{101,1015,1031,7308,1033,102}'), ('-[MASK]-', '{101,1011,103,1011,102}'),
             (E'a\u200d[MASK]', '{101,1037,1031,7308,1033,102}'), ('[MASK]', '{101,103,102}'),
             (E'a\u0301[MASK]', '{101,1037,1031,7308,1033,102}')) v(t, want);

-- GPT-2
CREATE TEMP TABLE g AS
SELECT pg_read_file(:'gdir' || '/config.json')::jsonb AS config, pg_read_binary_file(:'gdir' || '/model.safetensors') AS weights,
       jsonb_build_object('version', '1.0', 'normalizer', NULL,
         'pre_tokenizer', '{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}'::jsonb,
         'post_processor', '{"type": "ByteLevel", "trim_offsets": true}'::jsonb, 'decoder', '{"type": "ByteLevel"}'::jsonb,
         'model', jsonb_build_object('type', 'BPE', 'dropout', NULL, 'vocab', pg_read_file(:'gdir' || '/vocab.json')::jsonb,
           'merges', to_jsonb(ARRAY(SELECT l FROM regexp_split_to_table(pg_read_file(:'gdir' || '/merges.txt'), E'\n')
                                    WITH ORDINALITY AS m(l, i) WHERE l <> '' AND l NOT LIKE '#version%' ORDER BY i)))) AS tok;
CREATE TEMP TABLE gcase (label text, tok jsonb);
INSERT INTO gcase SELECT 'ok', tok FROM g;
INSERT INTO gcase SELECT 'ok_untyped_model', tok #- '{model,type}' FROM g;
INSERT INTO gcase SELECT 'model_wordpiece', jsonb_set(tok, '{model,type}', '"WordPiece"') FROM g;
INSERT INTO gcase SELECT 'normalizer_nfc', jsonb_set(tok, '{normalizer}', '{"type": "NFC"}') FROM g;
INSERT INTO gcase SELECT 'pre_metaspace', jsonb_set(tok, '{pre_tokenizer}', '{"type": "Metaspace"}') FROM g;
INSERT INTO gcase SELECT 'pre_missing', tok - 'pre_tokenizer' FROM g;
INSERT INTO gcase SELECT 'pre_prefix_space', jsonb_set(tok, '{pre_tokenizer,add_prefix_space}', 'true') FROM g;
INSERT INTO gcase SELECT 'pre_no_regex', jsonb_set(tok, '{pre_tokenizer,use_regex}', 'false') FROM g;
INSERT INTO gcase SELECT 'post_template', jsonb_set(tok, '{post_processor}',
  '{"type": "TemplateProcessing", "single": [{"Sequence": {"id": "A", "type_id": 0}}]}') FROM g;
INSERT INTO gcase SELECT 'bpe_dropout', jsonb_set(tok, '{model,dropout}', '0.1') FROM g;
INSERT INTO gcase SELECT 'bpe_byte_fallback', jsonb_set(tok, '{model,byte_fallback}', 'true') FROM g;
INSERT INTO gcase SELECT 'bpe_suffix', jsonb_set(tok, '{model,end_of_word_suffix}', '"</w>"') FROM g;
INSERT INTO gcase SELECT 'merges_object', jsonb_set(tok, '{model,merges}', '{}') FROM g;
INSERT INTO gcase SELECT 'merge_one_part', jsonb_set(tok, '{model,merges,0}', '"Ġ"') FROM g;
INSERT INTO gcase SELECT 'merge_cycle', jsonb_set(tok, '{model,merges}', '["Ġ t", "Ġt Ġ", "Ġ Ġt"]') FROM g;
INSERT INTO gcase SELECT 'byte_missing', tok #- '{model,vocab,Ġ}' FROM g;
INSERT INTO gcase SELECT 'vocab_id_range', jsonb_set(tok, '{model,vocab,Ġthe}', '1000000000') FROM g;
SELECT label, pg_temp.err(format('SELECT tfm_import(%L, x.config, c.tok, x.weights) FROM gcase c, g x WHERE label = %L',
                                 'tj_g_' || label, label)) AS result
FROM gcase ORDER BY label;
-- the literal <|endoftext|> (the config's eos_token_id) is split out as Hugging Face's GPT-2 tokenizers do: ids of
-- the Rust tokenizers 0.23.2 (BPE.fromFile on vocab.json + merges.txt, ByteLevel, addSpecialTokens(['<|endoftext|>']))
SELECT t, tfm_tokenize(t, 'tj_g_ok') = want AS same_as_hf, tfm_tokenize(t, 'tj_g_ok_untyped_model') = want AS untyped
FROM (VALUES ('Hello world, <|endoftext|>!', '{15496,995,11,220,50256,0}'::int[]), ('a<|endoftext|>b', '{64,50256,65}'),
             (' <|endoftext|> x', '{220,50256,2124}'), ('<|endoftext|><|endoftext|>', '{50256,50256}'),
             ('x <|endoftext', '{87,1279,91,437,1659,5239}'), ('', '{}')) v(t, want);
SELECT tfm_tokens('a<|endoftext|>b', 'tj_g_ok') AS tokens;

-- only the accepted variants were stored
SELECT name FROM tfm.models WHERE name LIKE 'tj\_%' ORDER BY name;
SELECT count(*) AS dropped FROM (SELECT tfm_drop(name) FROM tfm.models WHERE name LIKE 'tj\_%') d;
