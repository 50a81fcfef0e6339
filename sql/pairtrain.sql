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
-- its stored metrics rank too (on the training rows, validation_fraction 0): 48 queries of one document, the
-- 24 without a relevant one skipped, as tfm_evaluate ranks them
SELECT metrics->'ranking'->'queries' AS queries, metrics->'ranking'->'queries_skipped' AS skipped,
       metrics->'ranking' = tfm_evaluate('pt_head', 'SELECT a, b, relevant FROM pt_rows')->'ranking' AS same_ranking
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

-- tfm_evaluate's ranking metrics, against the same computed in SQL from tfm_score_pair: 6 queries of 5 or 2
-- documents graded 0-3 (the whole a 3, its first two words 2, its last word 1, unrelated texts 0), the last
-- query without a relevant document (skipped)
CREATE TABLE pt_rank AS
  SELECT q.a, d.b, d.grade
  FROM (VALUES ('apple table house'), ('river light train'), ('stone water phone'), ('cloud chair dream'), ('green bread field')) q(a)
  CROSS JOIN LATERAL (VALUES (q.a, 3.0), (split_part(q.a, ' ', 1) || ' ' || split_part(q.a, ' ', 2), 2.0),
                             (split_part(q.a, ' ', 3), 1.0), ('yellow window garden', 0.0), ('music night sugar', 0.0)) d(b, grade)
  UNION ALL SELECT 'paper smile queen', b, 0.0 FROM unnest(ARRAY['paper smile', 'horse glass']) b;
-- the ranking of model's scores on pt_rank with relevance rel(grade) (SQL text of a numeric expression):
-- ranks by score, ties least relevant first; gains 2^rel - 1; queries without a relevant document skipped
CREATE FUNCTION pg_temp.ranking(model text, rel text) RETURNS TABLE (queries bigint, skipped bigint, mrr float8, ndcg float8)
LANGUAGE plpgsql AS $f$ BEGIN RETURN QUERY EXECUTE format($q$
  WITH s AS (SELECT a, (%s)::float8 AS rel, tfm_score_pair(a, b, %L) AS score FROM pt_rank),
  r AS (SELECT a, rel, row_number() OVER (PARTITION BY a ORDER BY score DESC, rel) AS rank,
               row_number() OVER (PARTITION BY a ORDER BY rel DESC) AS ideal FROM s),
  q AS (SELECT a, max(rel) > 0 AS relevant, coalesce(max(1.0 / rank) FILTER (WHERE rel > 0 AND rank <= 10), 0) AS rr,
               sum((2 ^ rel - 1) / log(2, rank + 1)) FILTER (WHERE rank <= 10) AS dcg,
               sum((2 ^ rel - 1) / log(2, ideal + 1)) FILTER (WHERE ideal <= 10) AS idcg
        FROM r GROUP BY a)
  SELECT count(*), count(*) FILTER (WHERE NOT relevant), (avg(rr) FILTER (WHERE relevant))::float8,
         (avg(dcg / idcg) FILTER (WHERE relevant))::float8 FROM q$q$, rel, model); END $f$;
-- tfm_evaluate's "ranking" against pg_temp.ranking
CREATE FUNCTION pg_temp.same_ranking(e jsonb, model text, rel text) RETURNS TABLE (queries int, skipped int, same bool)
LANGUAGE sql AS $$
  SELECT (e->'ranking'->>'queries')::int, (e->'ranking'->>'queries_skipped')::int,
         r.queries = (e->'ranking'->>'queries')::int AND r.skipped = (e->'ranking'->>'queries_skipped')::int
         AND abs(r.mrr - (e->'ranking'->>'mrr@10')::float8) < 1e-6 AND abs(r.ndcg - (e->'ranking'->>'ndcg@10')::float8) < 1e-6
  FROM pg_temp.ranking(model, rel) r $$;
-- graded relevance (numbers not all 0 or 1): regression metrics of the logit as the predicted grade, and ranking
SELECT s.*, e ? 'mse' AND e ? 'r2' AND NOT e ? 'accuracy' AS regression,
       abs((e->>'mse')::float8 - (SELECT avg((tfm_score_pair(a, b, 'pt_reg') - grade) ^ 2) FROM pt_rank)) < 1e-4 AS mse_ok
FROM tfm_evaluate('pt_reg', 'SELECT a, b, grade FROM pt_rank') e, pg_temp.same_ranking(e, 'pt_reg', 'grade') s;
-- binary relevance, boolean or 0/1 numbers: classification metrics and ranking with gains 1 and 0
SELECT s.*, e->'confusion'->'labels' AS labels
FROM tfm_evaluate('pt_head', 'SELECT a, b, grade > 0 FROM pt_rank') e, pg_temp.same_ranking(e, 'pt_head', '(grade > 0)::int') s;
SELECT s.*, e->'confusion'->'labels' AS labels
FROM tfm_evaluate('pt_head', 'SELECT a, b, (grade >= 2)::int FROM pt_rank') e, pg_temp.same_ranking(e, 'pt_head', '(grade >= 2)::int') s;
-- a group column leaves the ranking as it is
SELECT tfm_evaluate('pt_reg', 'SELECT a, b, grade, grade > 1 FROM pt_rank')->'ranking'
       = tfm_evaluate('pt_reg', 'SELECT a, b, grade FROM pt_rank')->'ranking' AS ranking_without_groups,
       jsonb_array_length(tfm_evaluate('pt_reg', 'SELECT a, b, grade, grade > 1 FROM pt_rank')->'groups') AS groups;
-- labels the metrics cannot read: text grades (not two labels), grades outside [0, 100] or NaN, one label,
-- the option "positive" with graded relevance
SELECT pg_temp.err($$SELECT tfm_evaluate('pt_reg', 'SELECT a, b, grade::text FROM pt_rank')$$) AS text_grades;
SELECT pg_temp.err($$SELECT tfm_evaluate('pt_reg', 'SELECT a, b, grade - 1 FROM pt_rank')$$) AS negative;
SELECT pg_temp.err($$SELECT tfm_evaluate('pt_reg', 'SELECT a, b, grade * 50 FROM pt_rank')$$) AS too_large;
SELECT pg_temp.err($$SELECT tfm_evaluate('pt_reg', 'SELECT a, b, ''NaN''::float8 FROM pt_rank')$$) AS nan;
SELECT pg_temp.err($$SELECT tfm_evaluate('pt_reg', 'SELECT a, b, 1 FROM pt_rank')$$) AS one_label;
SELECT pg_temp.err($$SELECT tfm_evaluate('pt_reg', 'SELECT a, b, grade FROM pt_rank', '{"positive": 1}')$$) AS positive_graded;

-- the validation split of a cross-encoder holds out whole queries, and the stored metrics rank the
-- validation rows as tfm_evaluate does: graded (regression) and binary (classification) relevance
CALL tfm_train('pt_vreg', 'pt_ce', 'SELECT a, b, grade FROM pt_rank ORDER BY a, b', 'regression',
               '{"epochs": 3, "learning_rate": 0.01, "validation_fraction": 0.4, "seed": 3}');
CALL tfm_train('pt_vbin', 'pt_ce', 'SELECT a, b, grade >= 2 FROM pt_rank ORDER BY a, b', 'classification',
               '{"epochs": 3, "learning_rate": 0.01, "validation_fraction": 0.4, "seed": 3}');
-- the rows each training validates (tfm._pair_split: the same split from the same rows, order and seed)
CREATE TABLE pt_split AS
  WITH r AS (SELECT a, b, grade, row_number() OVER (ORDER BY a, b) AS i FROM pt_rank)
  SELECT r.a, r.b, r.grade, t.task, s.validates
  FROM (VALUES ('regression'), ('classification')) t(task)
  CROSS JOIN LATERAL unnest(tfm._pair_split((SELECT array_agg(a ORDER BY i) FROM r),
                                            (SELECT array_agg((grade >= 2)::text ORDER BY i) FROM r), t.task, 0.4, 3))
       WITH ORDINALITY s(validates, i)
  JOIN r ON r.i = s.i;
-- no query has rows on both sides; the training validated as many rows as tfm._pair_split lists
SELECT s.task, count(DISTINCT a) FILTER (WHERE validates) AS validation_queries,
       count(*) FILTER (WHERE validates) AS validation_rows,
       count(*) FILTER (WHERE validates) = (m.training->>'validation_rows')::int AS same_rows,
       (SELECT count(*) FROM (SELECT a FROM pt_split p WHERE p.task = s.task GROUP BY a
                              HAVING bool_or(validates) AND NOT bool_and(validates)) q) AS split_queries
FROM pt_split s JOIN tfm.models m ON m.name = CASE s.task WHEN 'regression' THEN 'pt_vreg' ELSE 'pt_vbin' END
GROUP BY s.task, m.training ORDER BY s.task;
-- the stored "ranking" is tfm_evaluate's on exactly the validation rows, and tfm._ranking_metrics' of tfm_score_pair
SELECT m.name, (m.metrics->'ranking'->>'queries')::int AS queries, (m.metrics->'ranking'->>'queries_skipped')::int AS skipped,
       (m.metrics->'ranking'->>'queries')::int = (e->'ranking'->>'queries')::int
       AND (m.metrics->'ranking'->>'queries_skipped')::int = (e->'ranking'->>'queries_skipped')::int
       AND abs((m.metrics->'ranking'->>'mrr@10')::float8 - (e->'ranking'->>'mrr@10')::float8) < 1e-6
       AND abs((m.metrics->'ranking'->>'ndcg@10')::float8 - (e->'ranking'->>'ndcg@10')::float8) < 1e-6 AS same_as_evaluate,
       abs((m.metrics->'ranking'->>'mrr@10')::float8 - (r->>'mrr@10')::float8) < 1e-6
       AND abs((m.metrics->'ranking'->>'ndcg@10')::float8 - (r->>'ndcg@10')::float8) < 1e-6 AS same_as_scores
FROM (VALUES ('pt_vreg', 'regression', 'grade'), ('pt_vbin', 'classification', '(grade >= 2)::int')) v(name, task, rel)
JOIN tfm.models m USING (name)
CROSS JOIN LATERAL tfm_evaluate(m.name, format('SELECT a, b, %s FROM pt_split WHERE validates AND task = %L', v.rel, v.task)) e
CROSS JOIN LATERAL (SELECT tfm._ranking_metrics(array_agg(a), array_agg(tfm_score_pair(a, b, m.name)::float8),
                                                array_agg(CASE WHEN v.task = 'regression' THEN grade ELSE (grade >= 2)::int END::float8)) AS r
                    FROM pt_split p WHERE p.validates AND p.task = v.task) x
ORDER BY m.name;
-- the split is the seed's: the same seed draws the same queries, 20 seeds draw several pairs of the 4 queries,
-- each whole
SELECT tfm._pair_split(q, q, 'regression', 0.4, 3) = tfm._pair_split(q, q, 'regression', 0.4, 3) AS same_seed_same_split,
       (SELECT count(DISTINCT tfm._pair_split(q, q, 'regression', 0.5, s)) FROM generate_series(1, 20) s) > 1 AS seeds_differ,
       (SELECT bool_and(v[1] = v[2] AND v[3] = v[4] AND v[5] = v[6] AND v[7] = v[8])
        FROM (SELECT tfm._pair_split(q, q, 'regression', 0.5, s) AS v FROM generate_series(1, 20) s) x) AS whole_queries
FROM (SELECT '{a,a,b,b,c,c,d,d}'::text[] AS q) x;
-- at most all queries but one validate; a single query is split by row (stratified by label for classification)
SELECT tfm._pair_split('{a,a,b,b,b}', '{1,0,1,0,0}', 'classification', 0.9, 1) AS two_queries,
       tfm._pair_split('{q,q,q,q,q}', '{1,0,1,0,1}', 'classification', 0.4, 1) AS one_query,
       tfm._pair_split('{q,q,q}', '{1,0,1}', 'classification', 0, 1) AS no_validation;
CALL tfm_train('pt_vone', 'pt_ce', 'SELECT a, b, grade FROM pt_rank WHERE a = ''apple table house'' ORDER BY b', 'regression',
               '{"epochs": 1, "validation_fraction": 0.4, "seed": 3}');
SELECT (training->>'validation_rows')::int AS validation_rows, metrics->'ranking'->'queries' AS queries
FROM tfm.models WHERE name = 'pt_vone';
-- targets that are no grades (negative): no "ranking" in the stored metrics
CALL tfm_train('pt_vneg', 'pt_ce', 'SELECT a, b, grade - 1 FROM pt_rank', 'regression',
               '{"epochs": 1, "validation_fraction": 0.4, "seed": 3}');
SELECT metrics ? 'mse' AS regression, metrics ? 'ranking' AS ranking FROM tfm.models WHERE name = 'pt_vneg';
SELECT pg_temp.err($$SELECT tfm._pair_split('{a,b}', '{1}', 'regression', 0.1, 1)$$) AS lengths,
       pg_temp.err($$SELECT tfm._pair_split('{a,b}', '{1,0}', 'regression', 0.95, 1)$$) AS fraction,
       pg_temp.err($$SELECT tfm._pair_split('{a,NULL}', '{1,0}', 'regression', 0.1, 1)$$) AS null_query;
DROP TABLE pt_rank, pt_split;

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
SELECT count(*) AS dropped FROM (SELECT tfm_drop(n) FROM unnest(ARRAY['pt_head', 'pt_full', 'pt_reg', 'pt_vreg', 'pt_vbin', 'pt_vone', 'pt_vneg',
                                                                   'pt_ce', 'pt_distil', 'pt_roberta', 'pt_xlmr',
                                                                   'pt_distil_ce', 'pt_roberta_ce', 'pt_xlmr_ce']) n) d;
