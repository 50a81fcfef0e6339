-- the effect of each tfm_train option, seen in tfm.models (training, its per-epoch history, metrics) and
-- in the scores of the trained models; small trainings on odd_shape (test/make_bad_models.js: random
-- weights, hidden 20, 2 layers) so that this file takes seconds
SET client_min_messages = warning;
\getenv bad PG_TFM_BAD
\set d :bad '/odd_shape'
SELECT name FROM tfm_import('op_base', :'d', '{"max_tokens": 32}');
-- 40 rows, two classes told apart by their words; 40 rows whose labels are a coin toss (nothing to learn,
-- so a model that fits them only overfits)
CREATE TABLE op_rows AS
  SELECT i, CASE WHEN i % 2 = 0 THEN 'cheap pills, buy now, limited offer ' || i
                 ELSE 'notes from the project review meeting ' || i END AS body,
         CASE WHEN i % 2 = 0 THEN 'spam' ELSE 'ham' END AS label,
         CASE WHEN abs(hashtext('coin' || i)) % 2 = 0 THEN 'heads' ELSE 'tails' END AS coin
  FROM generate_series(1, 40) i;
-- h(model, epoch): that epoch's entry of the training history (epochs counted from 1)
CREATE FUNCTION pg_temp.h(m text, e int) RETURNS jsonb
  AS $$ SELECT training->'history'->(e - 1) FROM tfm.models WHERE name = m $$ LANGUAGE sql;
-- t(model, key): a number from training
CREATE FUNCTION pg_temp.t(m text, k text) RETURNS float8
  AS $$ SELECT (training->>k)::float8 FROM tfm.models WHERE name = m $$ LANGUAGE sql;

-- validation_fraction: stratified by label (20 + 20 rows: 5 + 5 held out at 0.25); 0 holds out nothing,
-- turns early stopping off and computes the stored metrics on the training rows
CALL tfm_train('op_val25', 'op_base', 'SELECT body, label FROM op_rows', 'classification',
               '{"validation_fraction": 0.25, "epochs": 3, "early_stopping": false}');
CALL tfm_train('op_val0', 'op_base', 'SELECT body, label FROM op_rows', 'classification',
               '{"validation_fraction": 0, "epochs": 3}');
SELECT name, training->'train_rows' AS train_rows, training->'validation_rows' AS validation_rows,
       metrics->'n' AS metrics_rows, metrics->'labels'->'spam'->'support' AS spam_rows,
       training->'early_stopping' AS patience, training->'epochs_run' AS epochs_run
FROM tfm.models WHERE name IN ('op_val25', 'op_val0') ORDER BY name;

-- early_stopping: on coin-toss labels the validation loss stops improving; training stops `patience`
-- epochs after the best epoch, whose validation loss is the lowest of the history, and the stored model
-- is the best epoch's: the same as a training of exactly best_epoch epochs without early stopping
-- (same seed, same rows), and not the same as one that ran every epoch
CALL tfm_train('op_es', 'op_base', 'SELECT body, coin FROM op_rows', 'classification',
               '{"epochs": 300, "early_stopping": 2, "learning_rate": 0.05, "hidden_units": 32, "validation_fraction": 0.25}');
SELECT pg_temp.t('op_es', 'epochs_run') < 300 AS stopped_early,
       pg_temp.t('op_es', 'best_epoch') = pg_temp.t('op_es', 'epochs_run') - 2 AS best_is_patience_before_the_end,
       (pg_temp.h('op_es', pg_temp.t('op_es', 'best_epoch')::int)->>'val_loss')::float8 =
       (SELECT min((e->>'val_loss')::float8) FROM tfm.models, jsonb_array_elements(training->'history') e WHERE name = 'op_es')
       AS best_has_lowest_validation_loss,
       jsonb_array_length((SELECT training->'history' FROM tfm.models WHERE name = 'op_es')) = pg_temp.t('op_es', 'epochs_run')
       AS one_history_entry_per_epoch;
SELECT format('{"epochs": %s, "early_stopping": false, "learning_rate": 0.05, "hidden_units": 32, "validation_fraction": 0.25}',
              pg_temp.t('op_es', 'best_epoch')) AS best_opts,
       format('{"epochs": %s, "early_stopping": false, "learning_rate": 0.05, "hidden_units": 32, "validation_fraction": 0.25}',
              pg_temp.t('op_es', 'epochs_run')) AS all_opts \gset
CALL tfm_train('op_best', 'op_base', 'SELECT body, coin FROM op_rows', 'classification', :'best_opts');
CALL tfm_train('op_all', 'op_base', 'SELECT body, coin FROM op_rows', 'classification', :'all_opts');
SELECT bool_and(tfm_score(body, 'op_es', 'heads') = tfm_score(body, 'op_best', 'heads')) AS same_as_best_epoch,
       bool_or(tfm_score(body, 'op_es', 'heads') <> tfm_score(body, 'op_all', 'heads')) AS differs_from_last_epoch,
       (SELECT metrics = (SELECT metrics FROM tfm.models WHERE name = 'op_best') FROM tfm.models WHERE name = 'op_es')
       AS same_validation_metrics
FROM op_rows;

-- weight_decay: AdamW shrinks the weights each step; on separable rows the undecayed head grows until
-- the training loss is ~0, the decayed one is held back (its loss stays 10x higher or more)
CALL tfm_train('op_wd0', 'op_base', 'SELECT body, label FROM op_rows', 'classification',
               '{"epochs": 40, "learning_rate": 0.05, "weight_decay": 0, "early_stopping": false}');
CALL tfm_train('op_wd1', 'op_base', 'SELECT body, label FROM op_rows', 'classification',
               '{"epochs": 40, "learning_rate": 0.05, "weight_decay": 1, "early_stopping": false}');
SELECT (pg_temp.h('op_wd1', 40)->>'train_loss')::float8 > 10 * (pg_temp.h('op_wd0', 40)->>'train_loss')::float8
       AS decay_holds_the_loss_up,
       pg_temp.t('op_wd1', 'weight_decay') AS wd1, pg_temp.t('op_wd0', 'weight_decay') AS wd0;

-- max_grad_norm: gradients clipped to a global L2 norm of 1e-12 make AdamW's steps vanish against its
-- epsilon (1e-8): the training loss stays where it started; unclipped (0) and the default (1) it falls
CALL tfm_train('op_clip', 'op_base', 'SELECT body, label FROM op_rows', 'classification',
               '{"epochs": 10, "learning_rate": 0.01, "max_grad_norm": 1e-12, "weight_decay": 0, "early_stopping": false}');
CALL tfm_train('op_noclip', 'op_base', 'SELECT body, label FROM op_rows', 'classification',
               '{"epochs": 10, "learning_rate": 0.01, "max_grad_norm": 0, "weight_decay": 0, "early_stopping": false}');
SELECT m, (pg_temp.h(m, 10)->>'train_loss')::float8 / (pg_temp.h(m, 1)->>'train_loss')::float8 > 0.99 AS loss_unchanged,
       (pg_temp.h(m, 10)->>'train_loss')::float8 / (pg_temp.h(m, 1)->>'train_loss')::float8 < 0.8 AS loss_fell
FROM unnest(ARRAY['op_clip', 'op_noclip']) m ORDER BY m;

-- batch_size: one step per epoch when the batch holds every row, one step per row at 1; after two
-- epochs at the same learning rate the per-row steps have fit the rows far better
CALL tfm_train('op_b1', 'op_base', 'SELECT body, label FROM op_rows', 'classification',
               '{"epochs": 2, "batch_size": 1, "early_stopping": false}');
CALL tfm_train('op_b1024', 'op_base', 'SELECT body, label FROM op_rows', 'classification',
               '{"epochs": 2, "batch_size": 1024, "early_stopping": false}');
SELECT (pg_temp.h('op_b1', 2)->>'train_loss')::float8 < 0.5 * (pg_temp.h('op_b1024', 2)->>'train_loss')::float8
       AS small_batches_fit_faster,
       pg_temp.t('op_b1', 'batch_size') AS b1, pg_temp.t('op_b1024', 'batch_size') AS b1024;

-- full fine-tuning: warmup_fraction and the dropouts change what is trained (same seed and rows);
-- dropout 0.9 on the hidden states makes the training loss of the first full epoch higher
CREATE FUNCTION pg_temp.full(m text, extra jsonb) RETURNS void AS $$
BEGIN
  EXECUTE format('CALL tfm_train(%L, %L, %L, %L, %L)', m, 'op_base', 'SELECT body, label FROM op_rows', 'classification',
                 '{"fine_tune": "full", "epochs": 2, "learning_rate": 1e-3, "early_stopping": false}'::jsonb || extra);
END $$ LANGUAGE plpgsql;
SELECT pg_temp.full('op_f', '{"warmup_fraction": 0, "hidden_dropout": 0, "attention_dropout": 0}'),
       pg_temp.full('op_f_warm', '{"warmup_fraction": 1, "hidden_dropout": 0, "attention_dropout": 0}'),
       pg_temp.full('op_f_hdrop', '{"warmup_fraction": 0, "hidden_dropout": 0.9, "attention_dropout": 0}'),
       pg_temp.full('op_f_adrop', '{"warmup_fraction": 0, "hidden_dropout": 0, "attention_dropout": 0.9}'),
       pg_temp.full('op_f_same', '{"warmup_fraction": 0, "hidden_dropout": 0, "attention_dropout": 0}');
-- the history: the linear probe's epochs (phase head), then the full epochs; each option gives other
-- weights (sha256 of the stored encoder) and other scores, the same options the same model (op_f_same);
-- no sha256 is that of zero bytes
SELECT name, (SELECT count(*) FROM jsonb_array_elements(training->'history') e WHERE e->>'phase' = 'full') AS full_epochs,
       sha256 <> (SELECT sha256 FROM tfm.models WHERE name = 'op_f') AS other_sha256,
       sha256 = encode(sha256(''), 'hex') AS sha256_of_nothing,
       (SELECT bool_or(tfm_score(body, name, 'spam') <> tfm_score(body, 'op_f', 'spam')) FROM op_rows) AS other_scores
FROM tfm.models WHERE name LIKE 'op_f%' ORDER BY name;
CREATE FUNCTION pg_temp.first_full_loss(m text) RETURNS float8 AS $$
  SELECT (e->>'train_loss')::float8 FROM tfm.models, jsonb_array_elements(training->'history') WITH ORDINALITY h(e, i)
  WHERE name = m AND e->>'phase' = 'full' ORDER BY i LIMIT 1 $$ LANGUAGE sql;
SELECT pg_temp.first_full_loss('op_f_hdrop') > pg_temp.first_full_loss('op_f') AS dropout_raises_training_loss;
-- dropout is for training only: scoring with a dropout-trained model is deterministic
SELECT bool_and(tfm_score(body, 'op_f_hdrop', 'spam') = tfm_score(body, 'op_f_hdrop', 'spam')) AS deterministic FROM op_rows;

SELECT count(*) AS dropped FROM tfm.models m, LATERAL tfm_drop(m.name) WHERE m.name LIKE 'op\_%' AND m.name <> 'op_base';
SELECT tfm_drop('op_base');
DROP TABLE op_rows;
