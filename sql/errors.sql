-- broken and hostile model directories (made by test/make_bad_models.js): each is an error with a SQLSTATE
\getenv bad PG_TFM_BAD
\getenv model_dir PG_TFM_MODEL_DIR
CREATE TEMP TABLE cases (name text);
INSERT INTO cases VALUES ('empty'), ('no_tokenizer'), ('bad_json'), ('not_bert'), ('negative_size'),
  ('absurd_size'), ('wrong_shape'), ('bpe_tokenizer'), ('truncated'), ('tiny_file'), ('huge_header'),
  ('offsets_past_end'), ('size_mismatch'), ('wrong_dtype'), ('unknown_dtype'), ('missing_tensor'),
  ('header_not_object'), ('two_weights'), ('bin_weights'), ('tf_weights'), ('sharded'), ('does_not_exist');
SELECT name, err(format('SELECT tfm_import(%L, %L)', 'bad', :'bad' || '/' || name)) AS error
FROM cases ORDER BY name;
-- a file where a directory is expected
SELECT err(format('SELECT tfm_import(%L, %L)', 'bad', :'model_dir' || '/config.json'));
-- bad names and options
SELECT err(format('SELECT tfm_import(%L, %L)', 'bad name!', :'model_dir'));
SELECT err(format('SELECT tfm_import(%L, %L, %L)', 'x', :'model_dir', '{"pooling": "weightedmean"}'));
SELECT err(format('SELECT tfm_import(%L, %L, %L)', 'x', :'model_dir', '{"max_tokens": 100000}'));
SELECT err(format('SELECT tfm_import(%L, %L, %L)', 'x', :'model_dir', '{"dropout": 1}'));
SELECT err(format('SELECT tfm_import(%L, %L, %L)', 'x', :'model_dir', '[]'));
SELECT err($$SELECT tfm_import('x', NULL)$$);
-- client content: a truncated weights blob
SELECT err($$SELECT tfm_import('x', '{"model_type": "bert"}', '{}', '\x0102'::bytea)$$);
-- nothing was stored by any failed import
SELECT count(*) AS models FROM tfm.models WHERE name <> 'minilm';
-- a user without pg_read_server_files cannot import from server files
CREATE ROLE tfm_plain;
SET ROLE tfm_plain;
SELECT err(format('SELECT tfm_import(%L, %L)', 'x', :'model_dir'));
-- but may use the models
SELECT array_length(tfm_embed('a user without privileges', 'minilm'), 1) AS dim;
SELECT err($$SELECT tfm_drop('minilm')$$);
RESET ROLE;
DROP ROLE tfm_plain;
