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

-- ranking (a cross-encoder's tfm_evaluate "ranking"), by hand. Each query's documents ranked by score:
-- q1 scores 3 2 1, relevance 0 1 0: first relevant at rank 2, MRR 1/2; DCG 1/log2(3), ideal 1/log2(2) = 1,
--    nDCG 1/log2(3) = 0.6309297536
-- q2 scores 0.5 0.9, relevance 1 1: MRR 1, nDCG 1
-- q3 relevance 0 0: no relevant document, skipped (not in the averages)
-- MRR (1/2 + 1)/2 = 0.75, nDCG (1/log2(3) + 1)/2 = 0.8154648768
SELECT r->'queries' AS queries, r->'queries_skipped' AS skipped, r->'mrr@10' AS mrr,
       abs((r->>'ndcg@10')::float8 - (1 / log(2, 3) + 1) / 2) < 1e-9 AS ndcg_ok
FROM tfm._ranking_metrics(ARRAY['q1', 'q1', 'q1', 'q2', 'q2', 'q3', 'q3'], ARRAY[3, 2, 1, 0.5, 0.9, 1, 2],
                          ARRAY[0, 1, 0, 1, 1, 0, 0]) r;
-- ties are ranked least relevant first: three equal scores, the relevant document third:
-- MRR 1/3, nDCG (1/log2(4)) / 1 = 0.5
SELECT tfm._ranking_metrics('{q,q,q}', '{1,1,1}', '{1,0,0}') AS ties;
-- graded gains 2^rel - 1: scores 0.9 0.8 0.7, relevance 1 3 0: DCG 1/log2(2) + 7/log2(3),
-- ideal 7/log2(2) + 1/log2(3); nDCG 0.7098097414, MRR 1
SELECT r->'mrr@10' AS mrr, round((r->>'ndcg@10')::numeric, 6) AS ndcg,
       abs((r->>'ndcg@10')::float8 - (1 + 7 / log(2, 3)) / (7 + 1 / log(2, 3))) < 1e-9 AS ndcg_ok
FROM tfm._ranking_metrics('{q,q,q}', '{0.9,0.8,0.7}', '{1,3,0}') r;
-- the cutoff is 10: the only relevant document ranked 11th counts nothing, but the query is not skipped;
-- ranked 10th it gives MRR 1/10 and nDCG 1/log2(11)
SELECT r->'queries_skipped' AS skipped, r->'mrr@10' AS mrr, r->'ndcg@10' AS ndcg
FROM tfm._ranking_metrics(array_fill('q'::text, ARRAY[11]), (SELECT array_agg(-i::float8 ORDER BY i) FROM generate_series(1, 11) i),
                          array_fill(0::float8, ARRAY[10]) || 1::float8) r;
SELECT r->'mrr@10' AS mrr, abs((r->>'ndcg@10')::float8 - 1 / log(2, 11)) < 1e-9 AS ndcg_ok
FROM tfm._ranking_metrics(array_fill('q'::text, ARRAY[11]), (SELECT array_agg(-i::float8 ORDER BY i) FROM generate_series(1, 11) i),
                          array_fill(0::float8, ARRAY[9]) || ARRAY[1, 0]::float8[]) r;
-- the ideal order takes the best 10 grades of all the query's documents, ranked or not: 12 documents,
-- grades 1 ranked first, the two grade-3 ones last: DCG sum of 1/log2(p+1) for p = 1..10,
-- ideal 7/log2(2) + 7/log2(3) + the rest 1/log2(p+1) for p = 3..10
SELECT abs((r->>'ndcg@10')::float8 -
           (SELECT sum(1 / log(2, p + 1)) FROM generate_series(1, 10) p)::float8 /
           (7 + 7 / log(2, 3) + (SELECT sum(1 / log(2, p + 1)) FROM generate_series(3, 10) p))::float8) < 1e-9 AS ideal_ok
FROM tfm._ranking_metrics(array_fill('q'::text, ARRAY[12]), (SELECT array_agg(-i::float8 ORDER BY i) FROM generate_series(1, 12) i),
                          array_fill(1::float8, ARRAY[10]) || ARRAY[3, 3]::float8[]) r;
-- no rows, or no query with a relevant document: the averages are null
SELECT tfm._ranking_metrics('{}', '{}', '{}') AS empty, tfm._ranking_metrics('{a}', '{1}', '{0}') AS all_skipped;
-- a tiny positive grade is relevant (its gain 2^1e-20 - 1 is not rounded to 0)
SELECT tfm._ranking_metrics('{a,a}', '{1,2}', '{1e-20,0}') AS tiny_grade;
-- errors: lengths, a NULL query, a NaN score, a relevance outside [0, 100]
CREATE FUNCTION pg_temp.err(q text, OUT e text) LANGUAGE plpgsql
  AS $$ BEGIN EXECUTE q; e := 'ok'; EXCEPTION WHEN OTHERS THEN e := SQLSTATE || ': ' || SQLERRM; END $$;
SELECT pg_temp.err($$SELECT tfm._ranking_metrics('{a,b}', '{1}', '{1,0}')$$) AS lengths,
       pg_temp.err($$SELECT tfm._ranking_metrics('{a,NULL}', '{1,2}', '{1,0}')$$) AS null_query,
       pg_temp.err($$SELECT tfm._ranking_metrics('{a,a}', '{1,NaN}', '{1,0}')$$) AS nan_score;
SELECT pg_temp.err($$SELECT tfm._ranking_metrics('{a,a}', '{1,2}', '{1,-1}')$$) AS negative,
       pg_temp.err($$SELECT tfm._ranking_metrics('{a,a}', '{1,2}', '{1,101}')$$) AS too_large;
