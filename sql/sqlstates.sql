-- documented errors (docs/reference.md) that no other test file provokes, each with its SQLSTATE;
-- faults of the disk, of cache file writes and of OpenBLAS are in test/t/095_faults.pl
SET client_min_messages = warning;
\getenv golden PG_TFM_GOLDEN
\getenv bad PG_TFM_BAD

-- 54000: a weights file larger than 8 GB (sparse, made by test/make_bad_models.js) is refused by its size
SELECT err(format('SELECT tfm_import(%L, %L)', 'huge', :'bad' || '/huge_file'));

-- a small model to train on: odd_shape from test/make_bad_models.js (random weights, hidden 20, 2 layers)
\set d :bad '/odd_shape'
SELECT name FROM tfm_import('sq_odd', :'d', '{"max_tokens": 32}');
CREATE TABLE sq_rows AS
  SELECT CASE WHEN i % 2 = 0 THEN 'cheap pills, buy now ' || i ELSE 'notes from the review meeting ' || i END AS body,
         CASE WHEN i % 2 = 0 THEN 'spam' ELSE 'ham' END AS label
  FROM generate_series(1, 40) i;

-- tfm_train: 22004 for each NULL argument
SELECT err($$CALL tfm_train(NULL, 'sq_odd', 'SELECT body, label FROM sq_rows')$$);
SELECT err($$CALL tfm_train('sq_x', NULL, 'SELECT body, label FROM sq_rows')$$);
SELECT err($$CALL tfm_train('sq_x', 'sq_odd', NULL)$$);
SELECT err($$CALL tfm_train('sq_x', 'sq_odd', 'SELECT body, label FROM sq_rows', NULL)$$);
SELECT err($$CALL tfm_train('sq_x', 'sq_odd', 'SELECT body, label FROM sq_rows', 'classification', NULL)$$);
-- 22023: too few usable rows (NULL texts and labels do not count), nothing left after the validation split
SELECT err($$CALL tfm_train('sq_x', 'sq_odd', 'SELECT ''a'', ''b''')$$);
SELECT err($$CALL tfm_train('sq_x', 'sq_odd', 'SELECT body, label FROM sq_rows WHERE false')$$);
SELECT err($$CALL tfm_train('sq_x', 'sq_odd', 'SELECT NULL::text, label FROM sq_rows UNION ALL SELECT body, NULL FROM sq_rows')$$);
SELECT err($$CALL tfm_train('sq_x', 'sq_odd', 'SELECT body, label FROM sq_rows LIMIT 2', 'classification', '{"validation_fraction": 0.9}')$$);
-- 22023: every option's range and type; checked before any row is read (the query would fail: 42P01)
CREATE TEMP TABLE bad_options (o jsonb);
INSERT INTO bad_options VALUES
  ('[]'), ('{"nope": 1}'), ('{"fine_tune": "partial"}'), ('{"fine_tune": 1}'),
  ('{"epochs": 0}'), ('{"epochs": 10001}'), ('{"epochs": 1.5}'), ('{"epochs": "3"}'),
  ('{"batch_size": 0}'), ('{"batch_size": 1025}'),
  ('{"learning_rate": 0}'), ('{"learning_rate": 11}'), ('{"learning_rate": "fast"}'),
  ('{"validation_fraction": -0.1}'), ('{"validation_fraction": 0.95}'),
  ('{"seed": -1}'), ('{"max_tokens": 1}'), ('{"max_tokens": 65}'),
  ('{"weight_decay": -0.01}'), ('{"weight_decay": 1.5}'),
  ('{"warmup_fraction": -1}'), ('{"warmup_fraction": 1.5}'),
  ('{"max_grad_norm": -1}'), ('{"max_grad_norm": 1e7}'),
  ('{"hidden_dropout": 0.95}'), ('{"attention_dropout": -0.1}'),
  ('{"hidden_units": -1}'), ('{"hidden_units": 4097}'),
  ('{"early_stopping": -1}'), ('{"early_stopping": "yes"}');
SELECT o, err(format('CALL tfm_train(%L, %L, %L, %L, %L)', 'sq_x', 'sq_odd', 'SELECT * FROM no_such_table',
                     'classification', o)) AS error
FROM bad_options;
SELECT count(*) AS models_left FROM tfm.models WHERE name = 'sq_x';

-- GPT-2: 42809 as the base of a training; 22P01 when a model produces no finite logit (attention
-- biases of 3e38, finite, make the first layer's scores overflow to +Inf and its softmax NaN)
\set dir :golden '/gpt2/tiny'
\set cfile :dir '/config.json'
\set vfile :dir '/vocab.json'
\set mfile :dir '/merges.txt'
\set wfile :dir '/model.safetensors'
CREATE TEMP TABLE g2 AS
SELECT pg_read_file(:'cfile')::jsonb AS config,
       jsonb_build_object('type', 'gpt2-bpe', 'vocab', pg_read_file(:'vfile')::jsonb,
                          'merges', to_jsonb(ARRAY(SELECT m FROM regexp_split_to_table(rtrim(pg_read_file(:'mfile'), E'\n'), E'\n')
                                                   WITH ORDINALITY t(m, i) WHERE i > 1 ORDER BY i))) AS tokenizer,
       pg_read_binary_file(:'wfile') AS weights;
SELECT name, architecture FROM g2, tfm_import('sq_gpt2', config, tokenizer, weights);
SELECT err($$CALL tfm_train('sq_x', 'sq_gpt2', 'SELECT body, label FROM sq_rows')$$);
CREATE TEMP TABLE g2h AS
SELECT hlen, convert_from(substring(weights FROM 9 FOR hlen), 'UTF8')::jsonb AS header
FROM g2, LATERAL (SELECT sum(get_byte(weights, i)::bigint << (8 * i))::int AS hlen FROM generate_series(0, 7) i) s;
UPDATE g2 SET weights = overlay(weights PLACING decode(repeat('e6b1617f', 128), 'hex')   -- 128 x F32 3e38: q and k
  FROM 8 + hlen + (header->'transformer.h.0.attn.c_attn.bias'->'data_offsets'->>0)::int + 1 FOR 512) FROM g2h;
SELECT name FROM g2, tfm_import('sq_gpt2_inf', config, tokenizer, weights);
SELECT err($$SELECT tfm_generate('Hello', 'sq_gpt2_inf', 5)$$);
SELECT err($$SELECT tfm_generate('Hello', 'sq_gpt2_inf', 5, '{"seed": 1, "temperature": 0.8}')$$);

-- tfm_flag misuse: a classifier trained on sq_odd scores the rows
CALL tfm_train('sq_cls', 'sq_odd', 'SELECT body, label FROM sq_rows', 'classification', '{"epochs": 2}');
CREATE TABLE sq_inbox (body text, flagged bool, n int, d date);
-- 39P01: not a BEFORE ... FOR EACH ROW trigger
CREATE TRIGGER f AFTER INSERT ON sq_inbox FOR EACH ROW EXECUTE FUNCTION tfm_flag('sq_cls', 'body', 'flagged', 'spam');
SELECT err($$INSERT INTO sq_inbox (body) VALUES ('x')$$);
DROP TRIGGER f ON sq_inbox;
CREATE TRIGGER f BEFORE INSERT ON sq_inbox FOR EACH STATEMENT EXECUTE FUNCTION tfm_flag('sq_cls', 'body', 'flagged', 'spam');
SELECT err($$INSERT INTO sq_inbox (body) VALUES ('x')$$);
DROP TRIGGER f ON sq_inbox;
-- 22023: fewer than 4 or more than 5 arguments
CREATE TRIGGER f BEFORE INSERT ON sq_inbox FOR EACH ROW EXECUTE FUNCTION tfm_flag('sq_cls', 'body', 'flagged');
SELECT err($$INSERT INTO sq_inbox (body) VALUES ('x')$$);
DROP TRIGGER f ON sq_inbox;
CREATE TRIGGER f BEFORE INSERT ON sq_inbox FOR EACH ROW EXECUTE FUNCTION tfm_flag('sq_cls', 'body', 'flagged', 'spam', '0.5', 'x');
SELECT err($$INSERT INTO sq_inbox (body) VALUES ('x')$$);
DROP TRIGGER f ON sq_inbox;
-- 42703: no such text column, no such flag column
CREATE TRIGGER f BEFORE INSERT ON sq_inbox FOR EACH ROW EXECUTE FUNCTION tfm_flag('sq_cls', 'text', 'flagged', 'spam');
SELECT err($$INSERT INTO sq_inbox (body) VALUES ('x')$$);
DROP TRIGGER f ON sq_inbox;
CREATE TRIGGER f BEFORE INSERT ON sq_inbox FOR EACH ROW EXECUTE FUNCTION tfm_flag('sq_cls', 'body', 'flag', 'spam');
SELECT err($$INSERT INTO sq_inbox (body) VALUES ('x')$$);
DROP TRIGGER f ON sq_inbox;
-- 22023: a threshold that is not a number in [0, 1]; 42804: a flag column that is not boolean
CREATE TRIGGER f BEFORE INSERT ON sq_inbox FOR EACH ROW EXECUTE FUNCTION tfm_flag('sq_cls', 'body', 'flagged', 'spam', 'high');
SELECT err($$INSERT INTO sq_inbox (body) VALUES ('x')$$);
DROP TRIGGER f ON sq_inbox;
CREATE TRIGGER f BEFORE INSERT ON sq_inbox FOR EACH ROW EXECUTE FUNCTION tfm_flag('sq_cls', 'body', 'n', 'spam');
SELECT err($$INSERT INTO sq_inbox (body) VALUES ('x')$$);
DROP TRIGGER f ON sq_inbox;
-- (a date column likewise: 42804, not the column type's own input error)
CREATE TRIGGER f BEFORE INSERT ON sq_inbox FOR EACH ROW EXECUTE FUNCTION tfm_flag('sq_cls', 'body', 'd', 'spam');
SELECT err($$INSERT INTO sq_inbox (body) VALUES ('x')$$);
DROP TRIGGER f ON sq_inbox;
-- the errors of tfm_score: 42704 unknown model, 42809 not a classification model, 22023 unknown label
CREATE TRIGGER f BEFORE INSERT ON sq_inbox FOR EACH ROW EXECUTE FUNCTION tfm_flag('sq_nope', 'body', 'flagged', 'spam');
SELECT err($$INSERT INTO sq_inbox (body) VALUES ('x')$$);
DROP TRIGGER f ON sq_inbox;
CREATE TRIGGER f BEFORE INSERT ON sq_inbox FOR EACH ROW EXECUTE FUNCTION tfm_flag('sq_odd', 'body', 'flagged', 'spam');
SELECT err($$INSERT INTO sq_inbox (body) VALUES ('x')$$);
DROP TRIGGER f ON sq_inbox;
CREATE TRIGGER f BEFORE INSERT ON sq_inbox FOR EACH ROW EXECUTE FUNCTION tfm_flag('sq_cls', 'body', 'flagged', 'eggs');
SELECT err($$INSERT INTO sq_inbox (body) VALUES ('x')$$);
DROP TRIGGER f ON sq_inbox;
-- a correct trigger on the same table works: the failures above were the misuse, not the set-up
CREATE TRIGGER f BEFORE INSERT ON sq_inbox FOR EACH ROW EXECUTE FUNCTION tfm_flag('sq_cls', 'body', 'flagged', 'spam');
INSERT INTO sq_inbox (body) VALUES ('cheap pills, buy now'), (NULL);
SELECT count(*) AS rows, count(flagged) AS flagged_not_null FROM sq_inbox;

-- 42501: the cache files are the superuser's business (tfm_cache_files(), tfm.cache, pg_tfm.verify_cache)
CREATE ROLE sq_user;
SET ROLE sq_user;
SELECT err($$SELECT count(*) FROM tfm_cache_files()$$);
SELECT err($$SELECT count(*) FROM tfm.cache$$);
SELECT err($$SET pg_tfm.verify_cache = full$$);
RESET ROLE;
DROP ROLE sq_user;
-- 25006: import, training and drop in a read-only transaction are refused before any work
BEGIN READ ONLY;
SELECT err($$SELECT tfm_import('sq_x', '/nonexistent')$$);
SELECT err($$SELECT tfm_import('sq_x', '{}'::jsonb, '{}'::jsonb, '\x00'::bytea)$$);
SELECT err($$CALL tfm_train('sq_x', 'sq_odd', 'SELECT body, label FROM sq_rows')$$);
SELECT err($$SELECT tfm_drop('sq_cls')$$);
COMMIT;

-- XX001: catalog rows edited by hand (a superuser can) so that they disagree with what they describe:
-- a head that does not fit its labels, a config that disagrees with the built cache file; seen by a
-- new session (this one keeps its handles of the unchanged versions)
UPDATE tfm.model SET head = substring(head FROM 5) WHERE name = 'sq_cls';
UPDATE tfm.model SET config = jsonb_set(config, '{num_attention_heads}', '2') WHERE name = 'sq_odd';
\c
SET client_min_messages = warning;
SELECT err($$SELECT tfm_score('x', 'sq_cls', 'spam')$$);
SELECT regexp_replace(err($$SELECT tfm_embed('x', 'sq_odd')$$), '"[^"]*[.]bin"', '"<file>"') AS err;

DROP TABLE sq_inbox, sq_rows;
SELECT tfm_drop('sq_cls'), tfm_drop('sq_odd'), tfm_drop('sq_gpt2'), tfm_drop('sq_gpt2_inf');
