-- server encodings other than UTF-8: SQL_ASCII passes bytes through (invalid UTF-8 is an error 22021 that
-- names the byte); a LATIN1 database cannot hold a vocabulary, so import says so (0A000)
\getenv model_dir PG_TFM_MODEL_DIR
SELECT tfm_tokenize('café', 'minilm') AS utf8_ids;
CREATE DATABASE tfm_sqlascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
CREATE DATABASE tfm_latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
\c tfm_sqlascii
SET client_min_messages = warning;
CREATE EXTENSION pg_tfm;
SELECT name FROM tfm_import('minilm', :'model_dir', '{"max_tokens": 256}');
SELECT tfm_tokenize(convert_from('\x636166c3a9', 'SQL_ASCII'), 'minilm') AS utf8_bytes_ids;
SELECT tfm_tokenize(convert_from('\x6361ff66', 'SQL_ASCII'), 'minilm');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT tfm_embed(convert_from('\x6361ff66', 'SQL_ASCII'), 'minilm');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
SELECT array_length(tfm_embed('plain ascii', 'minilm'), 1) AS dim;
\c tfm_latin1
SET client_min_messages = warning;
CREATE EXTENSION pg_tfm;
SELECT name FROM tfm_import('minilm', :'model_dir', '{"max_tokens": 256}');
\echo SQLSTATE :LAST_ERROR_SQLSTATE
\c contrib_regression
DROP DATABASE tfm_sqlascii;
DROP DATABASE tfm_latin1;
