-- GPT-2: import of a tiny random checkpoint in Hugging Face layout (../shared/golden/gpt2/tiny), logits and
-- greedy continuations against float64 PyTorch, the KV cache against full recomputation, sampling, BPE ids
\getenv golden PG_TFM_GOLDEN
\set dir :golden '/gpt2/tiny'

-- import from the directory: vocab.json + merges.txt, fp32 Conv1D weights with the transformer. prefix
SELECT name, version, architecture, task, dim, max_tokens, params, options
FROM tfm_import('gpt2tiny', :'dir');
SELECT tokenizer->>'type' AS tokenizer_type, jsonb_array_length(tokenizer->'merges') AS merges,
       (SELECT count(*) FROM jsonb_object_keys(tokenizer->'vocab')) AS vocab
FROM tfm.model WHERE name = 'gpt2tiny';

-- the golden cases
\set gfile :dir '/golden.json'
CREATE TEMP TABLE cases AS
SELECT ord, (c->'prompt_ids') AS j, ARRAY(SELECT jsonb_array_elements_text(c->'prompt_ids')::int) AS prompt,
       ARRAY(SELECT jsonb_array_elements_text(c->'last_logits_first8')::float8) AS first8,
       (c->>'last_logits_argmax')::int AS argmax,
       (c->>'last_logits_max')::float8 AS lmax, (c->>'last_logits_logsumexp')::float8 AS lse,
       ARRAY(SELECT jsonb_array_elements_text(c->'greedy_20')::int) AS greedy
FROM jsonb_array_elements(pg_read_file(:'gfile')::jsonb->'cases') WITH ORDINALITY AS t(c, ord);
CREATE TEMP TABLE logits AS
SELECT ord, kv, tfm._gpt2_logits(prompt, 'gpt2tiny', kv) AS l FROM cases, (VALUES (true), (false)) v(kv);
-- first 8 logits within 1e-4, argmax equal, with and without the KV cache
SELECT c.ord, c.j AS prompt_ids, l.kv, array_length(l.l, 1) AS vocab,
       (SELECT max(abs(a - b)) FROM unnest(l.l[1:8], c.first8) t(a, b)) < 1e-4 AS first8_within_1e4,
       (SELECT i - 1 FROM unnest(l.l) WITH ORDINALITY u(x, i) ORDER BY x DESC, i LIMIT 1) = c.argmax AS argmax_equal
FROM cases c JOIN logits l USING (ord) ORDER BY c.ord, l.kv;
-- every one of the 50,257 logits counts: the golden max and logsumexp within 1e-5, every logit finite
SELECT c.ord, l.kv, abs((SELECT max(x) FROM unnest(l.l) x) - c.lmax) < 1e-5 AS max_within_1e5,
       abs((SELECT m + ln(sum(exp(x - m))) FROM unnest(l.l) x, (SELECT max(y) AS m FROM unnest(l.l) y) s GROUP BY m)
           - c.lse) < 1e-5 AS logsumexp_within_1e5,
       (SELECT bool_and(x::float8 NOT IN ('Infinity', '-Infinity', 'NaN')) FROM unnest(l.l) x) AS all_finite
FROM cases c JOIN logits l USING (ord) ORDER BY c.ord, l.kv;
-- greedy 20 tokens identical to PyTorch's, with and without the KV cache
SELECT ord, tfm._gpt2_generate(prompt, 'gpt2tiny', 20) = greedy AS kv_cache,
       tfm._gpt2_generate(prompt, 'gpt2tiny', 20, '{"kv_cache": false}') = greedy AS no_kv_cache
FROM cases ORDER BY ord;
-- text in, text out: the prompts of cases 1 and 2 tokenize to the golden ids, the continuation decodes them
SELECT tfm_tokenize('The quick brown fox', 'gpt2tiny') = (SELECT prompt FROM cases WHERE ord = 1) AS ids_1,
       tfm_tokenize('Hello, world!', 'gpt2tiny') = (SELECT prompt FROM cases WHERE ord = 2) AS ids_2;
SELECT tfm_generate('The quick brown fox', 'gpt2tiny', 20) AS continuation;
SELECT tfm_tokenize(tfm_generate('The quick brown fox', 'gpt2tiny', 20, '{"kv_cache": false}'), 'gpt2tiny') =
       (SELECT greedy FROM cases WHERE ord = 1) AS retokenizes_to_greedy;
-- an empty prompt starts from <|endoftext|> (bos), as golden case 3 does
SELECT tfm._gpt2_generate('{}', 'gpt2tiny', 20) = (SELECT greedy FROM cases WHERE ord = 3) AS empty_prompt;

-- sampling: the same seed gives the same text, with or without the KV cache; another seed another text
SELECT a = b AS same_seed, a = c AS same_without_cache, a <> d AS other_seed, length(a) > 0 AS nonempty
FROM (SELECT tfm_generate('Once upon a time', 'gpt2tiny', 30, '{"seed": 7, "temperature": 0.9, "top_k": 50, "top_p": 0.95}') a,
             tfm_generate('Once upon a time', 'gpt2tiny', 30, '{"seed": 7, "temperature": 0.9, "top_k": 50, "top_p": 0.95}') b,
             tfm_generate('Once upon a time', 'gpt2tiny', 30, '{"seed": 7, "temperature": 0.9, "top_k": 50, "top_p": 0.95, "kv_cache": false}') c,
             tfm_generate('Once upon a time', 'gpt2tiny', 30, '{"seed": 8, "temperature": 0.9, "top_k": 50, "top_p": 0.95}') d) s;
-- top_k 1 is greedy whatever the seed
SELECT tfm._gpt2_generate('{464,2068,7586,21831}', 'gpt2tiny', 20, '{"seed": 3, "top_k": 1}') =
       (SELECT greedy FROM cases WHERE ord = 1) AS top_k_1_is_greedy;
-- partial UTF-8 from byte tokens comes out as U+FFFD, never as invalid text (deterministic seeds):
-- valid_utf8 checks every byte (convert_to verifies its argument and raises 22021 on invalid UTF-8)
CREATE FUNCTION pg_temp.valid_utf8(t text) RETURNS bool AS $$
BEGIN
  RETURN convert_from(convert_to(t, 'UTF8'), 'UTF8') = t;
EXCEPTION WHEN character_not_in_repertoire THEN
  RETURN false;
END $$ LANGUAGE plpgsql;
SELECT count(*) AS texts, count(*) FILTER (WHERE t LIKE '%' || U&'\FFFD' || '%') AS with_replacement,
       count(*) FILTER (WHERE pg_temp.valid_utf8(t)) AS valid_utf8
FROM (SELECT tfm_generate('', 'gpt2tiny', 32, jsonb_build_object('seed', s, 'temperature', 3)) t
      FROM generate_series(1, 20) s) x;

-- context: a prompt longer than 128 tokens keeps its last tokens; max_tokens 0 .. n_ctx
SELECT array_length(tfm_tokenize(repeat('word ', 300), 'gpt2tiny'), 1) AS prompt_tokens,
       array_length(tfm._gpt2_generate(tfm_tokenize(repeat('word ', 300), 'gpt2tiny'), 'gpt2tiny', 128), 1) <= 128 AS fits,
       tfm._gpt2_generate(tfm_tokenize(repeat('word ', 300), 'gpt2tiny'), 'gpt2tiny', 10) =
       tfm._gpt2_generate((tfm_tokenize(repeat('word ', 300), 'gpt2tiny'))[183:300], 'gpt2tiny', 10) AS keeps_last_118;
SELECT tfm_generate('Hello', 'gpt2tiny', 0) = '' AS zero_tokens;
SELECT tfm_generate(NULL, 'gpt2tiny') IS NULL AS null_prompt, tfm_generate('x', 'gpt2tiny', NULL) IS NULL AS null_max;
SET pg_tfm.default_model = 'gpt2tiny';
SELECT tfm_generate('Hello', NULL, 5) = tfm_generate('Hello', 'gpt2tiny', 5) AS default_model;
RESET pg_tfm.default_model;

-- GPT-2 ids of 251 texts identical to the reference encoder (npm gpt-3-encoder)
CREATE TEMP TABLE gt (j jsonb);
\set f :golden '/gpt2/tokens.jsonl'
COPY gt FROM :'f' WITH (FORMAT csv, QUOTE e'\x01', DELIMITER e'\x02');
SELECT count(*) AS texts,
       count(*) FILTER (WHERE tfm_tokenize(j->>'text', 'gpt2tiny') =
                        ARRAY(SELECT jsonb_array_elements_text(j->'ids')::int)) AS identical
FROM gt;
SELECT left(j->>'text', 60) AS mismatch FROM gt
WHERE tfm_tokenize(j->>'text', 'gpt2tiny') IS DISTINCT FROM ARRAY(SELECT jsonb_array_elements_text(j->'ids')::int);

-- the same model from client content with a tokenizer.json (BPE model, ByteLevel pre-tokenizer)
\set cfile :dir '/config.json'
\set wfile :dir '/model.safetensors'
CREATE TEMP TABLE parts AS
SELECT pg_read_file(:'cfile')::jsonb AS config, pg_read_binary_file(:'wfile') AS weights,
       jsonb_build_object('version', '1.0', 'normalizer', NULL,
                          'pre_tokenizer', '{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}'::jsonb,
                          'model', jsonb_build_object('type', 'BPE', 'vocab', tokenizer->'vocab',
                                                      'merges', tokenizer->'merges')) AS tokjson
FROM tfm.model WHERE name = 'gpt2tiny';
SELECT name, architecture, task, params FROM parts, tfm_import('gpt2c', config, tokjson, weights);
SELECT tfm_generate('Hello, world!', 'gpt2c', 20) = tfm_generate('Hello, world!', 'gpt2tiny', 20) AS same_text;

-- errors: wrong kind of model, bad arguments, bad configs and tokenizers (nothing is stored)
SELECT err($$SELECT tfm_embed('hello', 'gpt2tiny')$$);
SELECT err($$SELECT tfm_classify('hello', 'gpt2tiny')$$);
SELECT err($$SELECT tfm_generate('hello', 'minilm')$$);
SELECT err($$SELECT tfm_generate('hello', 'gpt2tiny', 129)$$);
SELECT err($$SELECT tfm_generate('hello', 'gpt2tiny', -1)$$);
SELECT err($$SELECT tfm_generate('hello', 'gpt2tiny', 5, '{"temperature": -1}')$$);
SELECT err($$SELECT tfm_generate('hello', 'gpt2tiny', 5, '{"top_p": 0}')$$);
SELECT err($$SELECT tfm_generate('hello', 'gpt2tiny', 5, '{"beams": 4}')$$);
SELECT err($$SELECT tfm._gpt2_logits('{50257}', 'gpt2tiny', true)$$);
SELECT err($$SELECT tfm._gpt2_logits('{}', 'gpt2tiny', true)$$);
SELECT err(format('SELECT tfm_import(%L, %L, %L)', 'x', :'dir', '{"pooling": "cls"}'));
CREATE TEMP TABLE bad (label text, config jsonb, tokenizer jsonb);
INSERT INTO bad SELECT 'n_embd', jsonb_set(config, '{n_embd}', '32'), tokjson FROM parts;
INSERT INTO bad SELECT 'n_head', jsonb_set(config, '{n_head}', '5'), tokjson FROM parts;
INSERT INTO bad SELECT 'n_positions', jsonb_set(config, '{n_positions}', '256'), tokjson FROM parts;
INSERT INTO bad SELECT 'n_inner', jsonb_set(config, '{n_inner}', '128'), tokjson FROM parts;
INSERT INTO bad SELECT 'n_layer', jsonb_set(config, '{n_layer}', '3'), tokjson FROM parts;
INSERT INTO bad SELECT 'vocab_size', jsonb_set(config, '{vocab_size}', '50000'), tokjson FROM parts;
INSERT INTO bad SELECT 'activation', jsonb_set(config, '{activation_function}', '"relu"'), tokjson FROM parts;
INSERT INTO bad SELECT 'untied', jsonb_set(config, '{tie_word_embeddings}', 'false'), tokjson FROM parts;
INSERT INTO bad SELECT 'no_n_embd', config - 'n_embd', tokjson FROM parts;
INSERT INTO bad SELECT 'pre_tokenizer', config, jsonb_set(tokjson, '{pre_tokenizer}', '{"type": "Metaspace"}') FROM parts;
INSERT INTO bad SELECT 'wordpiece', config, jsonb_set(tokjson, '{model,type}', '"WordPiece"') FROM parts;
INSERT INTO bad SELECT 'bad_merge', config, jsonb_set(tokjson, '{model,merges,0}', '"Ġ"') FROM parts;
INSERT INTO bad SELECT 'merge_not_in_vocab', config, jsonb_set(tokjson, '{model,merges,0}', '"Ġthe Ġthe"') FROM parts;
INSERT INTO bad SELECT 'vocab_id', config, jsonb_set(tokjson, '{model,vocab,Ġthe}', '50257') FROM parts;
SELECT label, err(format('SELECT tfm_import(%L, b.config, b.tokenizer, p.weights) FROM bad b, parts p WHERE label = %L', 'x', label)) AS error
FROM bad ORDER BY label;
SELECT name, version FROM tfm.models WHERE architecture = 'gpt2' ORDER BY name;
SELECT tfm_drop('gpt2c');
