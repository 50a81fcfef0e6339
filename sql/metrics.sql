-- the metrics of tfm_evaluate on a hand-made case, against values computed by hand:
-- truth  spam spam spam ham ham  ham  ham eggs
-- pred   spam spam ham  ham ham  spam ham ham
-- confusion (rows truth, columns pred; labels eggs, ham, spam): [0 1 0] [0 3 1] [0 1 2]
-- eggs p 0 (nothing predicted) r 0 f1 0; ham p 3/5 r 3/4 f1 2/3; spam p 2/3 r 2/3 f1 2/3; accuracy 5/8
-- macro p (0 + 3/5 + 2/3)/3 = 0.4222, r (0 + 3/4 + 2/3)/3 = 0.4722, f1 (0 + 2/3 + 2/3)/3 = 0.4444
-- weighted p (4*3/5 + 3*2/3)/8 = 0.55, r 5/8, f1 (4*2/3 + 3*2/3)/8 = 0.5833
CREATE TEMP TABLE m AS SELECT tfm._classification_metrics(
  ARRAY['spam', 'spam', 'spam', 'ham', 'ham', 'ham', 'ham', 'eggs'],
  ARRAY['spam', 'spam', 'ham', 'ham', 'ham', 'spam', 'ham', 'ham']) AS j;
SELECT j->'n' AS n, j->'accuracy' = '0.625' AS accuracy_ok, j->'confusion' AS confusion FROM m;
SELECT l, round((j->'labels'->l->>'precision')::numeric, 4) AS p, round((j->'labels'->l->>'recall')::numeric, 4) AS r,
       round((j->'labels'->l->>'f1')::numeric, 4) AS f1, j->'labels'->l->'support' AS support
FROM m, unnest(ARRAY['eggs', 'ham', 'spam']) l;
SELECT a, round((j->a->>'precision')::numeric, 4) AS p, round((j->a->>'recall')::numeric, 4) AS r,
       round((j->a->>'f1')::numeric, 4) AS f1, j->a->'support' AS support
FROM m, unnest(ARRAY['macro_avg', 'weighted_avg']) a;
SELECT round((j->'macro_avg'->>'f1')::numeric, 4) = 0.4444 AND round((j->'weighted_avg'->>'precision')::numeric, 4) = 0.55
       AS hand_values_match FROM m;

-- regression: truth 1 2 3 4, pred 1.5 2 2 5: errors .5 0 -1 1; mse 2.25/4 = 0.5625, mae 2.5/4 = 0.625,
-- mean 2.5, total sum of squares 5, r2 = 1 - 2.25/5 = 0.55
SELECT tfm._regression_metrics(ARRAY[1, 2, 3, 4]::float8[], ARRAY[1.5, 2, 2, 5]::float8[]) =
       '{"n": 4, "mse": 0.5625, "mae": 0.625, "r2": 0.55}'::jsonb AS regression_ok;
-- mismatched lengths are an error
SELECT tfm._classification_metrics(ARRAY['a'], ARRAY['a', 'b']);
\echo SQLSTATE :LAST_ERROR_SQLSTATE
