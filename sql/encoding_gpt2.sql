-- GPT-2 in a SQL_ASCII database (issue 13): vocab.json writes its byte-level tokens as \uXXXX escapes,
-- which jsonb_in would convert to the server encoding (0A000: no UTF8 -> SQL_ASCII conversion); pg_tfm
-- stores their UTF-8 bytes instead, as a UTF8 database does. Import (files and content), tokenization,
-- logits, greedy and sampled generation must equal the UTF8 database's, and generated text is valid UTF-8.
\getenv golden PG_TFM_GOLDEN
\set dir :golden '/gpt2/tiny'
\set gfile :dir '/golden.json'
\set tfile :golden '/gpt2/tokens.jsonl'
\set cfile :dir '/config.json'
\set wfile :dir '/model.safetensors'
SET client_min_messages = warning;
-- the UTF8 database's results, for comparison
SELECT name FROM tfm_import('gpt2enc', :'dir');
SELECT md5(tokenizer::text) AS utf8_tokenizer FROM tfm.model WHERE name = 'gpt2enc' \gset
SELECT md5(convert_to(tfm_generate('The quick brown fox', 'gpt2enc', 20), 'UTF8')) AS utf8_greedy,
       md5(convert_to(tfm_generate('Ünïcödé 🙂 prompt', 'gpt2enc', 20), 'UTF8')) AS utf8_unicode,
       md5(string_agg(convert_to(tfm_generate('', 'gpt2enc', 24, jsonb_build_object('seed', s, 'temperature', 3)), 'UTF8'),
                      '\x00'::bytea ORDER BY s)) AS utf8_sampled
FROM generate_series(1, 10) s \gset
SELECT tfm_drop('gpt2enc');

CREATE DATABASE tfm_sqlascii_gpt2 ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
\c tfm_sqlascii_gpt2
SET client_min_messages = warning;
CREATE EXTENSION pg_tfm;
SELECT pg_encoding_to_char(encoding) AS encoding FROM pg_database WHERE datname = current_database();
-- import from the files: vocab.json holds 33,146 \u0120 ('Ġ') escapes among others
\set VERBOSITY sqlstate
SELECT name, version, architecture, task, dim, max_tokens, params FROM tfm_import('gpt2tiny', :'dir');
\set VERBOSITY default
SELECT (SELECT count(*) FROM jsonb_object_keys(tokenizer->'vocab')) AS vocab,
       jsonb_array_length(tokenizer->'merges') AS merges,
       md5(tokenizer::text) = :'utf8_tokenizer' AS same_bytes_as_utf8,
       tokenizer->'vocab'->>convert_from('\xc4a07468', 'SQL_ASCII') AS id_of_space_th
FROM tfm.model WHERE name = 'gpt2tiny';

-- the golden cases: logits' argmax and greedy ids as PyTorch computed them
CREATE TEMP TABLE cases AS
SELECT ord, ARRAY(SELECT jsonb_array_elements_text(c->'prompt_ids')::int) AS prompt,
       ARRAY(SELECT jsonb_array_elements_text(c->'last_logits_first8')::float8) AS first8,
       (c->>'last_logits_argmax')::int AS argmax,
       ARRAY(SELECT jsonb_array_elements_text(c->'greedy_20')::int) AS greedy
FROM jsonb_array_elements(pg_read_file(:'gfile')::jsonb->'cases') WITH ORDINALITY AS t(c, ord);
SELECT ord, (SELECT max(abs(a - b)) FROM unnest((tfm._gpt2_logits(prompt, 'gpt2tiny', true))[1:8], first8) t(a, b)) < 1e-4 AS first8_within_1e4,
       (SELECT i - 1 FROM unnest(tfm._gpt2_logits(prompt, 'gpt2tiny', true)) WITH ORDINALITY u(x, i) ORDER BY x DESC, i LIMIT 1) = argmax AS argmax_equal,
       tfm._gpt2_generate(prompt, 'gpt2tiny', 20) = greedy AS greedy_equal
FROM cases ORDER BY ord;

-- ids of 251 texts (UTF-8 bytes, read by COPY without conversion) identical to the reference encoder
CREATE TEMP TABLE gt (j jsonb);
COPY gt FROM :'tfile' WITH (FORMAT csv, QUOTE e'\x01', DELIMITER e'\x02');
SELECT count(*) AS texts,
       count(*) FILTER (WHERE tfm_tokenize(j->>'text', 'gpt2tiny') =
                        ARRAY(SELECT jsonb_array_elements_text(j->'ids')::int)) AS identical
FROM gt;

-- generation: the same text as in the UTF8 database, greedy, from a non-ASCII prompt and sampled
SELECT md5(convert_to(tfm_generate('The quick brown fox', 'gpt2tiny', 20), 'UTF8')) = :'utf8_greedy' AS greedy_same,
       md5(convert_to(tfm_generate('Ünïcödé 🙂 prompt', 'gpt2tiny', 20), 'UTF8')) = :'utf8_unicode' AS unicode_prompt_same,
       tfm_tokenize(tfm_generate('The quick brown fox', 'gpt2tiny', 20), 'gpt2tiny') =
       (SELECT greedy FROM cases WHERE ord = 1) AS retokenizes_to_greedy;
SELECT md5(string_agg(convert_to(tfm_generate('', 'gpt2tiny', 24, jsonb_build_object('seed', s, 'temperature', 3)), 'UTF8'),
                      '\x00'::bytea ORDER BY s)) = :'utf8_sampled' AS sampled_same
FROM generate_series(1, 10) s;
-- every sampled text is valid UTF-8 (convert_from checks its input; an invalid byte would be 22021)
SELECT count(*) AS texts, count(convert_from(convert_to(t, 'SQL_ASCII'), 'UTF8')) AS valid_utf8
FROM (SELECT tfm_generate('', 'gpt2tiny', 32, jsonb_build_object('seed', s, 'temperature', 3)) t
      FROM generate_series(1, 20) s) x;
-- a prompt that is not UTF-8 is refused with 22021
\set VERBOSITY sqlstate
SELECT tfm_generate(convert_from('\x6361ff66', 'SQL_ASCII'), 'gpt2tiny', 5);
\set VERBOSITY default

-- the content form with the stored tokenizer as a tokenizer.json document (jsonb holding UTF-8 bytes)
SELECT name, architecture, params
FROM (SELECT pg_read_file(:'cfile')::jsonb AS config, pg_read_binary_file(:'wfile') AS weights,
             jsonb_build_object('version', '1.0', 'normalizer', NULL,
                                'pre_tokenizer', '{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}'::jsonb,
                                'model', jsonb_build_object('type', 'BPE', 'vocab', tokenizer->'vocab', 'merges', tokenizer->'merges')) AS tok
      FROM tfm.model WHERE name = 'gpt2tiny') p, tfm_import('gpt2c', config, tok, weights);
SELECT tfm_generate('Hello, world!', 'gpt2c', 20) = tfm_generate('Hello, world!', 'gpt2tiny', 20) AS same_text;

\c contrib_regression
DROP DATABASE tfm_sqlascii_gpt2;
