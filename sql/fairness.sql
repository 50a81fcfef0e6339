-- tfm_evaluate by group (issue 17): a third column of the query groups the rows; "groups" and
-- "fairness" are compared with an independent computation in plain SQL (aggregates over
-- tfm_classify's and tfm_predict's predictions of the same rows) at 1e-9. The model is the real
-- all-MiniLM-L6-v2 with a head trained here on a few made-up rows (the figures test arithmetic, not
-- quality, and every compared value comes from the same predictions).
SET client_min_messages = warning;
-- fair_err(q): run a statement, show 'ok' or its SQLSTATE and message
CREATE FUNCTION fair_err(q text) RETURNS text AS $$
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$ LANGUAGE plpgsql;
\getenv model_dir PG_TFM_MODEL_DIR
SELECT name FROM tfm_import('fair_base', :'model_dir', '{"max_tokens": 32}');
-- training rows: the label follows the text
CREATE TABLE fair_train AS
SELECT CASE WHEN i % 2 = 0 THEN 'cheap pills, buy now, limited offer ' || i
            ELSE 'notes from the project review meeting ' || i END AS t,
       i % 2 = 0 AS flagged,
       CASE WHEN i % 2 = 0 THEN 9.0 ELSE 1.0 END + (i % 3) AS amount
FROM generate_series(1, 40) i;
CALL tfm_train('fair_cls', 'fair_base', 'SELECT t, flagged FROM fair_train', 'classification', '{"seed": 1}');
CALL tfm_train('fair_reg', 'fair_base', 'SELECT t, amount FROM fair_train', 'regression', '{"seed": 1}');
SELECT name, task, labels FROM tfm.models WHERE name LIKE 'fair\_%' ESCAPE '\' ORDER BY name;

-- evaluation rows: five groups (north, south, east, west and NULL) with different rates of flagged
-- rows; west has no flagged row (its true-positive rate is undefined: 0, as in Fairlearn); one row in
-- seven has the other class's text, so that the model errs in both directions
CREATE TABLE fair_eval AS
SELECT CASE WHEN (f <> (i % 7 = 0)) THEN 'cheap pills, buy now, limited offer ' || i
            ELSE 'notes from the project review meeting ' || i END AS t,
       f AS flagged, g AS grp, i
FROM generate_series(1, 100) i,
     LATERAL (SELECT CASE i % 5 WHEN 0 THEN NULL WHEN 1 THEN 'north' WHEN 2 THEN 'south' WHEN 3 THEN 'east' ELSE 'west' END) gg(g),
     LATERAL (SELECT CASE g WHEN 'north' THEN i % 2 = 1 WHEN 'south' THEN i % 3 = 0 WHEN 'east' THEN i % 4 <> 0
                            WHEN 'west' THEN false ELSE i % 2 = 0 END) ff(f);
-- the predictions, once, and the reference figures per group (NULL is a group of its own)
CREATE TABLE fair_pred AS SELECT i, grp, flagged, tfm_classify(t, 'fair_cls') = 'true' AS pred FROM fair_eval;
CREATE FUNCTION fair_ref(q text) RETURNS TABLE (g text, support bigint, accuracy float8, "precision" float8, recall float8,
    f1 float8, selection_rate float8, true_positive_rate float8, false_positive_rate float8) AS $$
BEGIN
  RETURN QUERY EXECUTE format($q$
    WITH c AS (SELECT grp::text AS g, count(*) AS n, count(*) FILTER (WHERE pred = flagged) AS ok,
                      count(*) FILTER (WHERE pred AND flagged) AS tp, count(*) FILTER (WHERE pred AND NOT flagged) AS fp,
                      count(*) FILTER (WHERE NOT pred AND flagged) AS fn, count(*) FILTER (WHERE NOT flagged) AS neg
               FROM (%s) s GROUP BY grp::text),
         r AS (SELECT g, n, ok::float8 / n AS acc, coalesce(tp::float8 / nullif(tp + fp, 0), 0) AS p,
                      coalesce(tp::float8 / nullif(tp + fn, 0), 0) AS r, (tp + fp)::float8 / n AS sel,
                      coalesce(fp::float8 / nullif(neg, 0), 0) AS fpr FROM c)
    SELECT g, n, acc, p, r, coalesce(2 * p * r / nullif(p + r, 0), 0), sel, r, fpr FROM r$q$, q);
END $$ LANGUAGE plpgsql;
-- the groups of a tfm_evaluate result as rows
CREATE FUNCTION fair_groups(e jsonb) RETURNS TABLE (g text, support bigint, accuracy float8, "precision" float8,
    recall float8, f1 float8, selection_rate float8, true_positive_rate float8, false_positive_rate float8) AS $$
  SELECT x."group", x.support, x.accuracy, x.precision, x.recall, x.f1, x.selection_rate, x.true_positive_rate,
         x.false_positive_rate
  FROM jsonb_to_recordset(e->'groups') AS x("group" text, support bigint, accuracy float8, "precision" float8,
       recall float8, f1 float8, selection_rate float8, true_positive_rate float8, false_positive_rate float8)
$$ LANGUAGE sql;
-- a join key for groups, NULL included (FULL JOIN takes no IS NOT DISTINCT FROM)
CREATE FUNCTION fair_key(g text) RETURNS text AS $$ SELECT CASE WHEN g IS NULL THEN 'null' ELSE 'value ' || g END $$ LANGUAGE sql;
-- compare a result with the reference: per group, every figure within 1e-9
CREATE FUNCTION fair_compare(e jsonb, q text) RETURNS TABLE (g text, support bigint, all_within_1e9 boolean) AS $$
  SELECT coalesce(r.g, x.g), r.support,
         r.support = x.support AND abs(r.accuracy - x.accuracy) < 1e-9 AND abs(r.precision - x.precision) < 1e-9
         AND abs(r.recall - x.recall) < 1e-9 AND abs(r.f1 - x.f1) < 1e-9 AND abs(r.selection_rate - x.selection_rate) < 1e-9
         AND abs(r.true_positive_rate - x.true_positive_rate) < 1e-9 AND abs(r.false_positive_rate - x.false_positive_rate) < 1e-9
  FROM fair_ref(q) r FULL JOIN fair_groups(e) x ON fair_key(r.g) = fair_key(x.g)
  ORDER BY 1 NULLS LAST
$$ LANGUAGE sql;
-- the fairness figures of the reference, as Fairlearn defines them (max - min; min / max; odds: the larger gap)
CREATE FUNCTION fair_gaps(e jsonb, q text) RETURNS TABLE (dp_difference boolean, dp_ratio boolean, opportunity boolean,
    odds boolean, positive text) AS $$
  SELECT abs((max(selection_rate) - min(selection_rate)) - (e->'fairness'->>'demographic_parity_difference')::float8) < 1e-9,
         CASE WHEN max(selection_rate) = 0 THEN e->'fairness'->'demographic_parity_ratio' = 'null'
              ELSE abs(min(selection_rate) / max(selection_rate) - (e->'fairness'->>'demographic_parity_ratio')::float8) < 1e-9 END,
         abs((max(true_positive_rate) - min(true_positive_rate)) - (e->'fairness'->>'equal_opportunity_difference')::float8) < 1e-9,
         abs(greatest(max(true_positive_rate) - min(true_positive_rate), max(false_positive_rate) - min(false_positive_rate))
             - (e->'fairness'->>'equalized_odds_difference')::float8) < 1e-9,
         e->'fairness'->>'positive'
  FROM fair_ref(q)
$$ LANGUAGE sql;

-- 1. boolean labels, a text group: the positive label is true without options
CREATE TABLE fair_e AS SELECT 'bool' AS what, tfm_evaluate('fair_cls', 'SELECT t, flagged, grp FROM fair_eval') AS e;
SELECT * FROM fair_compare((SELECT e FROM fair_e WHERE what = 'bool'), 'SELECT * FROM fair_pred');
SELECT * FROM fair_gaps((SELECT e FROM fair_e WHERE what = 'bool'), 'SELECT * FROM fair_pred');
-- the whole-query metrics are those of the two-argument form, and agree with tfm_classify's predictions
SELECT e - 'groups' - 'fairness' = tfm_evaluate('fair_cls', 'SELECT t, flagged FROM fair_eval') AS same_overall_metrics,
       abs((e->>'accuracy')::float8 - (SELECT avg((pred = flagged)::int) FROM fair_pred)) < 1e-9 AS accuracy_matches_classify,
       jsonb_array_length(e->'groups') AS groups, e->'groups'->-1->'group' AS last_group,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(e->'groups'->0) k) AS group_keys,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(e->'fairness') k) AS fairness_keys
FROM fair_e WHERE what = 'bool';
-- west has no flagged row: its true-positive rate is 0 and takes part in the gaps as 0 (as in Fairlearn);
-- the groups differ in how often they are flagged, so the parity gap is not 0
SELECT (SELECT x.true_positive_rate FROM fair_groups(e) x WHERE x.g = 'west') AS west_tpr,
       (e->'fairness'->>'demographic_parity_difference')::float8 > 0.3 AS parity_gap_seen,
       (e->'fairness'->>'equal_opportunity_difference')::float8 =
         (SELECT max(x.true_positive_rate) FROM fair_groups(e) x) AS opportunity_gap_is_max_tpr_minus_0
FROM fair_e WHERE what = 'bool';

-- 2. the same labels as text: no positive label by default (groups with every label's rates, no fairness);
-- "positive" given as a string or as a JSON boolean gives the figures of 1.
INSERT INTO fair_e SELECT 'text', tfm_evaluate('fair_cls', 'SELECT t, flagged::text, grp FROM fair_eval');
INSERT INTO fair_e SELECT 'text+positive', tfm_evaluate('fair_cls', 'SELECT t, flagged::text, grp FROM fair_eval', '{"positive": "true"}');
INSERT INTO fair_e SELECT 'text+json true', tfm_evaluate('fair_cls', 'SELECT t, flagged::text, grp FROM fair_eval', '{"positive": true}');
SELECT what, e ? 'fairness' AS has_fairness, e->'groups'->0 ? 'labels' AS per_label,
       e->'groups' = (SELECT e->'groups' FROM fair_e WHERE what = 'bool') AS groups_as_bool,
       e->'fairness' = (SELECT e->'fairness' FROM fair_e WHERE what = 'bool') AS fairness_as_bool
FROM fair_e WHERE what LIKE 'text%' ORDER BY what;
-- without "positive", each label's block is that label against the other: true's is the bool case's,
-- false's is checked against the reference with the classes swapped
SELECT bool_and(b.value - 'support' = (SELECT x - 'group' - 'support' - 'accuracy' FROM jsonb_array_elements(f.e->'groups') x
                                       WHERE x->'group' IS NOT DISTINCT FROM a->'group'))
         AS true_block_as_bool
FROM fair_e t, jsonb_array_elements(t.e->'groups') a, jsonb_each(a->'labels') b, fair_e f
WHERE t.what = 'text' AND f.what = 'bool' AND b.key = 'true';
SELECT c.g, c.all_within_1e9 FROM fair_e,
  LATERAL fair_compare(jsonb_build_object('groups', (SELECT jsonb_agg(a->'labels'->'false' || jsonb_build_object('group', a->'group',
                                                     'support', a->'support', 'accuracy', a->'accuracy'))
                                                     FROM jsonb_array_elements(e->'groups') a)),
                       'SELECT i, grp, NOT flagged AS flagged, NOT pred AS pred FROM fair_pred') c
WHERE what = 'text';

-- 3. groups of other types, compared by their text (as GROUP BY g::text): integers, booleans, and
-- numerics where 1.0 and 1.00 are two groups
SELECT * FROM fair_compare(tfm_evaluate('fair_cls', 'SELECT t, flagged, i % 3 FROM fair_eval'),
                           'SELECT i, i % 3 AS grp, flagged, pred FROM fair_pred');
SELECT * FROM fair_compare(tfm_evaluate('fair_cls', 'SELECT t, flagged, i > 50 FROM fair_eval'),
                           'SELECT i, i > 50 AS grp, flagged, pred FROM fair_pred');
SELECT * FROM fair_gaps(tfm_evaluate('fair_cls', 'SELECT t, flagged, CASE WHEN i % 2 = 0 THEN 1.0 ELSE 1.00 END FROM fair_eval'),
                        'SELECT i, CASE WHEN i % 2 = 0 THEN 1.0 ELSE 1.00 END AS grp, flagged, pred FROM fair_pred');
SELECT x.g, x.support FROM fair_groups(tfm_evaluate('fair_cls', 'SELECT t, flagged, CASE WHEN i % 2 = 0 THEN 1.0 ELSE 1.00 END FROM fair_eval')) x;

-- 4. rows the model never flags: every selection rate is 0, the parity ratio 0/0 is null (Fairlearn: NaN)
CREATE TABLE fair_neg AS SELECT * FROM fair_eval WHERE tfm_classify(t, 'fair_cls') = 'false';
SELECT e->'fairness' AS fairness, (SELECT bool_and(all_within_1e9) FROM fair_compare(e,
         'SELECT p.* FROM fair_pred p JOIN fair_neg USING (i)')) AS all_within_1e9
FROM (SELECT tfm_evaluate('fair_cls', 'SELECT t, flagged, grp FROM fair_neg') AS e) s;
-- one group only: every gap is 0 and the ratio 1; no rows: no groups and no fairness
SELECT e->'fairness' AS fairness FROM (SELECT tfm_evaluate('fair_cls', 'SELECT t, flagged, ''all'' FROM fair_eval') AS e) s;
SELECT e->'groups' AS groups, e ? 'fairness' AS has_fairness
FROM (SELECT tfm_evaluate('fair_cls', 'SELECT t, flagged, grp FROM fair_eval WHERE false') AS e) s;
-- options without a group column change nothing; NULL options are '{}'
SELECT tfm_evaluate('fair_cls', 'SELECT t, flagged FROM fair_eval', '{"positive": "false"}') =
       tfm_evaluate('fair_cls', 'SELECT t, flagged FROM fair_eval') AS same_without_groups,
       tfm_evaluate('fair_cls', 'SELECT t, flagged, grp FROM fair_eval', NULL) = (SELECT e FROM fair_e WHERE what = 'bool') AS null_options;
-- the two-argument form is still the 0.1.0 function, and named arguments reach either form
SELECT count(*) AS forms FROM pg_proc WHERE proname = 'tfm_evaluate';
SELECT tfm_evaluate(model => 'fair_cls', query => 'SELECT t, flagged, grp FROM fair_eval', options => '{}')
       = (SELECT e FROM fair_e WHERE what = 'bool') AS named_arguments;

-- 5. regression: per group support, mse and mae, no fairness. tfm_predict returns real (float4): the
-- reference from it agrees to 1e-5; at 1e-9 the groups' figures are checked against each row's own
-- error (a group per row gives |prediction - target| in double) aggregated in SQL, and the whole's
CREATE TABLE fair_r AS SELECT tfm_evaluate('fair_reg', 'SELECT t, CASE WHEN flagged THEN 9.5 ELSE 1.5 END, grp FROM fair_eval') AS e,
       tfm_evaluate('fair_reg', 'SELECT t, CASE WHEN flagged THEN 9.5 ELSE 1.5 END, i FROM fair_eval') AS per_row;
CREATE TABLE fair_rows AS
SELECT e.grp, (x->>'mae')::float8 AS err, tfm_predict(e.t, 'fair_reg') - CASE WHEN e.flagged THEN 9.5 ELSE 1.5 END AS err4
FROM fair_r CROSS JOIN LATERAL jsonb_array_elements(per_row->'groups') x JOIN fair_eval e ON e.i = (x->>'group')::int;
SELECT e ? 'fairness' AS has_fairness, (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(e->'groups'->0) k) AS group_keys,
       (SELECT count(*) FROM fair_rows) AS rows, (SELECT bool_and(abs(abs(err4) - err) < 1e-5) FROM fair_rows) AS rows_match_predict
FROM fair_r;
WITH r AS (SELECT grp::text AS g, count(*) AS n, avg(err ^ 2) AS mse, avg(err) AS mae, avg(err4 ^ 2) AS mse4
           FROM fair_rows GROUP BY 1),
     x AS (SELECT x.* FROM fair_r, jsonb_to_recordset(fair_r.e->'groups') AS x("group" text, support bigint, mse float8, mae float8))
SELECT coalesce(r.g, x."group") AS g, r.n AS support, r.n = x.support AS support_ok, abs(r.mse - x.mse) < 1e-9 AS mse_within_1e9,
       abs(r.mae - x.mae) < 1e-9 AS mae_within_1e9, abs(r.mse4 - x.mse) < 1e-5 * (1 + x.mse) AS mse_as_predict
FROM r FULL JOIN x ON fair_key(r.g) = fair_key(x."group")
ORDER BY 1 NULLS LAST;
SELECT abs((e->>'mse')::float8 - (SELECT avg(err ^ 2) FROM fair_rows)) < 1e-9 * (1 + (e->>'mse')::float8) AS whole_mse,
       abs((e->>'mae')::float8 - (SELECT avg(err) FROM fair_rows)) < 1e-9 * (1 + (e->>'mae')::float8) AS whole_mae
FROM fair_r;

-- 6. bad options: 22023 before any row is read (the query would divide by zero)
SELECT fair_err($$SELECT tfm_evaluate('fair_cls', 'SELECT t, (1/0)::text, grp FROM fair_eval', '{"positiv": "true"}')$$);
SELECT fair_err($$SELECT tfm_evaluate('fair_cls', 'SELECT t, (1/0)::text, grp FROM fair_eval', '[]')$$);
SELECT fair_err($$SELECT tfm_evaluate('fair_cls', 'SELECT t, (1/0)::text, grp FROM fair_eval', '"positive"')$$);
SELECT fair_err($$SELECT tfm_evaluate('fair_cls', 'SELECT t, (1/0)::text, grp FROM fair_eval', '{"positive": ["true"]}')$$);
SELECT fair_err($$SELECT tfm_evaluate('fair_cls', 'SELECT t, (1/0)::text, grp FROM fair_eval', '{"positive": "yes"}')$$);
SELECT fair_err($$SELECT tfm_evaluate('fair_reg', 'SELECT t, 1/0, grp FROM fair_eval', '{"positive": "true"}')$$);
-- the query's own errors come after: a division by zero (22012)
SELECT fair_err($$SELECT tfm_evaluate('fair_cls', 'SELECT t, (1/0)::text, grp FROM fair_eval', '{"positive": "true"}')$$);
-- more than 10,000 groups: 54000, before the rows are encoded
SELECT fair_err($$SELECT tfm_evaluate('fair_cls', 'SELECT ''x'', true, i FROM generate_series(1, 10001) i')$$);
