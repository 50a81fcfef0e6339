-- the learning rate of each training phase, as the per-epoch history records it: the linear probe of
-- a full fine-tune runs at TFM_PROBE_LR (1e-3), the fine-tune itself at learning_rate (warm-up, then
-- linear decay), a head-only run at learning_rate
SET client_min_messages = warning;
\getenv bad PG_TFM_BAD
\set d :bad '/odd_shape'
SELECT name FROM tfm_import('pr_odd', :'d', '{"max_tokens": 16}');
CREATE TABLE pr_rows AS
  SELECT CASE WHEN i % 2 = 0 THEN 'cheap pills ' || i ELSE 'meeting notes ' || i END AS body,
         CASE WHEN i % 2 = 0 THEN 'spam' ELSE 'ham' END AS label
  FROM generate_series(1, 24) i;
CALL tfm_train('pr_full', 'pr_odd', 'SELECT body, label FROM pr_rows', 'classification',
               '{"fine_tune": "full", "epochs": 1, "learning_rate": 5e-5, "seed": 1}');
CALL tfm_train('pr_head', 'pr_odd', 'SELECT body, label FROM pr_rows', 'classification',
               '{"epochs": 2, "learning_rate": 0.02, "seed": 1}');
SELECT name, e->>'phase' AS phase, count(*) > 0 AS epochs,
       min((e->>'lr')::float8) AS min_lr, max((e->>'lr')::float8) AS max_lr
FROM tfm.models, jsonb_array_elements(training->'history') e
WHERE name IN ('pr_full', 'pr_head') AND e->>'phase' = 'head'
GROUP BY 1, 2 ORDER BY 1, 2;
-- the fine-tune after the probe: at most learning_rate, decaying
SELECT bool_and((e->>'lr')::float8 > 0 AND (e->>'lr')::float8 <= 5e-5) AS full_phase_at_learning_rate
FROM tfm.models, jsonb_array_elements(training->'history') e
WHERE name = 'pr_full' AND e->>'phase' = 'full';
DROP TABLE pr_rows;
SELECT count(*) AS dropped FROM (SELECT tfm_drop(n) FROM unnest(ARRAY['pr_full', 'pr_head', 'pr_odd']) n) d;
