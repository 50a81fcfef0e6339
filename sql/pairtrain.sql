-- sql/pairtrain.sql (issue 15): tfm_train and tfm_evaluate on a cross-encoder, whose rows are text
-- pairs (a, b, label). The base is sql/seqcls.sql's shrunk ms-marco cross-encoder (REAL config and
-- tokenizer, hidden 32 / 2 layers, RANDOM weights: test/make_seqcls_models.js); the pairs are
-- synthetic, relevant when b repeats a's words. The checks are that training learns, that the new
-- version stays a cross-encoder, and the errors, not any real relevance score.
SET client_min_messages = warning;
\getenv seqcls PG_TFM_SEQCLS
SELECT name, task FROM tfm_import('pt_ce', :'seqcls' || '/ce');
-- SQLSTATE and message of a statement
CREATE FUNCTION pg_temp.err(q text, OUT e text) LANGUAGE plpgsql
  AS $$ BEGIN EXECUTE q; e := 'ok'; EXCEPTION WHEN OTHERS THEN e := SQLSTATE || ': ' || SQLERRM; END $$;
-- 48 pairs: a is three words; b repeats them (relevant) or is three other words
CREATE TABLE pt_rows AS
  WITH w(i, a) AS (
    SELECT i, (ARRAY['apple', 'river', 'stone', 'cloud', 'green', 'music', 'paper', 'horse'])[1 + i % 8] || ' ' ||
              (ARRAY['table', 'light', 'water', 'chair', 'bread', 'night', 'smile', 'glass'])[1 + (i / 8) % 8] || ' ' ||
              (ARRAY['house', 'train', 'phone', 'dream', 'field', 'sugar', 'queen', 'money'])[1 + (i * 3) % 8]
    FROM generate_series(0, 47) i)
  SELECT i, a,
         CASE WHEN i % 2 = 0 THEN a ELSE 'yellow window garden' END AS b,
         i % 2 = 0 AS relevant,
         CASE WHEN i % 2 = 0 THEN 1.0 ELSE 0.0 END AS grade,
         CASE WHEN i % 3 = 0 THEN 'x' ELSE 'y' END AS grp
  FROM w;

-- 1. head mode: the checkpoint's own head continues, the loss falls, the new version is a cross-encoder
CALL tfm_train('pt_head', 'pt_ce', 'SELECT a, b, relevant FROM pt_rows', 'classification',
               '{"epochs": 20, "learning_rate": 0.01, "validation_fraction": 0, "seed": 1}');
SELECT name, version, task, labels, options->>'head_activation' AS act,
       (training->'history'->-1->>'train_loss')::float8 < (training->'history'->0->>'train_loss')::float8 AS loss_fell
FROM tfm.models WHERE name = 'pt_head';
SELECT (tfm_evaluate('pt_head', 'SELECT a, b, relevant FROM pt_rows')->>'accuracy')::float8 >= 0.9 AS learned;
-- the stored one-logit head predicts as the two-label head trained (metrics taken before it was made one logit)
SELECT tfm_evaluate('pt_head', 'SELECT a, b, relevant FROM pt_rows')->'accuracy' = metrics->'accuracy' AS same_accuracy
FROM tfm.models WHERE name = 'pt_head';
-- the new version reranks: the repeated text first
SELECT ordinality FROM tfm_rerank('apple table house', ARRAY['yellow window garden', 'apple table house'], 'pt_head')
ORDER BY score DESC LIMIT 1;
SELECT tfm_score_pair('apple table house', 'apple table house', 'pt_head')
    <> tfm_score_pair('apple table house', 'apple table house', 'pt_ce') AS score_changed;
-- evaluate: binary metrics, groups in a fourth column, the base too
SELECT e->'confusion'->'labels' AS labels, jsonb_typeof(e->'groups') AS groups
FROM tfm_evaluate('pt_head', 'SELECT a, b, relevant, grp FROM pt_rows') e;
SELECT jsonb_typeof(tfm_evaluate('pt_ce', 'SELECT a, b, relevant FROM pt_rows')->'accuracy') AS base_evaluates;

-- 2. full fine-tuning and graded relevance (regression) stay cross-encoders too
CALL tfm_train('pt_full', 'pt_ce', 'SELECT a, b, relevant FROM pt_rows', 'classification',
               '{"fine_tune": "full", "epochs": 2, "learning_rate": 1e-3, "validation_fraction": 0, "seed": 1}');
CALL tfm_train('pt_reg', 'pt_ce', 'SELECT a, b, grade FROM pt_rows', 'regression',
               '{"epochs": 5, "learning_rate": 0.01, "validation_fraction": 0, "seed": 1}');
SELECT name, task, labels FROM tfm.models WHERE name IN ('pt_full', 'pt_reg') ORDER BY name;
SELECT name, tfm_score_pair('apple table house', 'apple table house', name)
          <> tfm_score_pair('apple table house', 'apple table house', 'pt_ce') AS score_changed,
       (SELECT count(*) FROM tfm_rerank('apple', ARRAY['apple', 'river', NULL], name) r WHERE r.score IS NOT NULL) AS reranked
FROM unnest(ARRAY['pt_full', 'pt_reg']) name ORDER BY name;
-- the regressor's raw logit is the predicted grade: its mse on the rows is the stored one
SELECT abs(avg((tfm_score_pair(a, b, 'pt_reg') - grade) ^ 2) - (SELECT (metrics->>'mse')::float8 FROM tfm.models WHERE name = 'pt_reg')) < 1e-4
       AS logit_is_grade
FROM pt_rows;
-- a new version of a trained cross-encoder continues its head
CALL tfm_train('pt_head', 'pt_head', 'SELECT a, b, relevant FROM pt_rows', 'classification',
               '{"epochs": 1, "validation_fraction": 0, "seed": 1}');
SELECT version, task FROM tfm.models WHERE name = 'pt_head' ORDER BY version;

-- the DistilBERT, RoBERTa and XLM-R cross-encoders of sql/heads.sql (test/make_head_models.js: real configs
-- and tokenizers, shrunk, random weights), each pair in its family's template
\getenv heads PG_TFM_HEADS
SELECT count(*) AS imported FROM unnest(ARRAY['distil_ce', 'roberta_ce', 'xlmr_ce']) d
CROSS JOIN LATERAL tfm_import('pt_' || d, :'heads' || '/' || d) m;
CALL tfm_train('pt_distil', 'pt_distil_ce', 'SELECT a, b, relevant FROM pt_rows', 'classification',
               '{"epochs": 3, "validation_fraction": 0, "seed": 1}');
CALL tfm_train('pt_roberta', 'pt_roberta_ce', 'SELECT a, b, relevant FROM pt_rows', 'classification',
               '{"fine_tune": "full", "epochs": 1, "validation_fraction": 0, "seed": 1}');
CALL tfm_train('pt_xlmr', 'pt_xlmr_ce', 'SELECT a, b, grade FROM pt_rows', 'regression',
               '{"epochs": 3, "validation_fraction": 0, "seed": 1}');
SELECT m.name, m.architecture, m.task, m.options->>'head_activation' AS act,
       tfm_score_pair('apple', 'apple', m.name) <> tfm_score_pair('apple', 'apple', 'pt_' || b.base) AS score_changed,
       (SELECT count(*) FROM tfm_rerank('apple', ARRAY['apple', 'river'], m.name)) AS reranked
FROM (VALUES ('pt_distil', 'distil_ce'), ('pt_roberta', 'roberta_ce'), ('pt_xlmr', 'xlmr_ce')) b(name, base)
JOIN tfm.models m USING (name) ORDER BY m.name;

-- 3. errors: the columns are checked before any row is read
SELECT pg_temp.err($$CALL tfm_train('pt_x', 'pt_ce', 'SELECT a, relevant FROM pt_rows')$$) AS two_columns;
SELECT pg_temp.err($$CALL tfm_train('pt_x', 'pt_ce', 'SELECT a, 1, relevant FROM pt_rows')$$) AS b_not_text;
SELECT pg_temp.err($$CALL tfm_train('pt_x', 'pt_ce', 'SELECT a, b, i % 3 FROM pt_rows')$$) AS three_labels;
SELECT pg_temp.err($$CALL tfm_train('pt_x', 'pt_ce', 'SELECT a, b, relevant FROM pt_rows', 'classification',
                                    '{"hidden_units": 8}')$$) AS hidden_units;
SELECT pg_temp.err($$SELECT tfm_evaluate('pt_ce', 'SELECT a, relevant FROM pt_rows')$$) AS evaluate_two_columns;
SELECT pg_temp.err($$SELECT tfm_evaluate('pt_ce', 'SELECT a, b, true FROM pt_rows')$$) AS evaluate_one_label;
SELECT pg_temp.err($$SELECT tfm_evaluate('pt_ce', 'SELECT a, b, relevant FROM pt_rows', '{"positive": true}')$$) AS evaluate_positive;
-- NULL a, b or label rows are skipped
SELECT pg_temp.err($$CALL tfm_train('pt_x', 'pt_ce', 'SELECT NULL::text, NULL::text, NULL::bool')$$) AS no_rows;

DROP TABLE pt_rows;
SELECT count(*) AS dropped FROM (SELECT tfm_drop(n) FROM unnest(ARRAY['pt_head', 'pt_full', 'pt_reg', 'pt_ce', 'pt_distil', 'pt_roberta', 'pt_xlmr',
                                                                   'pt_distil_ce', 'pt_roberta_ce', 'pt_xlmr_ce']) n) d;
