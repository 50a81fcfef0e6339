-- a model of shapes MiniLM lacks (odd_shape from test/make_bad_models.js: random F32 weights,
-- hidden 20 in 4 heads of 5 channels, FFN 37, 2 layers), so its cache file holds partial panels
-- of 16 columns. Inference (the panels) must agree with training's forward (the (out,in) weights
-- unpacked from the same file, other kernels), and the bulk path with the per-row one.
\getenv bad PG_TFM_BAD
\set d :bad '/odd_shape'
SELECT name, version FROM tfm_import('odd', :'d', '{"max_tokens": 64, "normalize": false}');
CREATE TEMP TABLE t AS
  SELECT i, repeat('odd shaped panels ', i) || i AS t FROM generate_series(1, 12) i;
-- training's forward: mean-pooled states (first 4 of each) and the logits of a fixed linear head,
-- W[c][h] = 0.02 sin(1 + c C + h), b[c] = 0.01 c, over all 20 dimensions (tfm._train_step)
CREATE TEMP TABLE ts AS
SELECT tfm._train_step('odd',
  (SELECT array_agg(id ORDER BY i, o) FROM t, unnest(tfm_tokenize(t.t, 'odd')) WITH ORDINALITY u(id, o)),
  (SELECT array_agg(array_length(tfm_tokenize(t.t, 'odd'), 1) ORDER BY i) FROM t),
  (SELECT array_agg(i % 2 ORDER BY i) FROM t)) AS j;
CREATE TEMP TABLE inf AS SELECT i, tfm_embed(t, 'odd') AS e FROM t;
SELECT min(array_length(tfm_tokenize(t, 'odd'), 1)) AS min_tokens,
       max(array_length(tfm_tokenize(t, 'odd'), 1)) AS max_tokens FROM t;
-- pooled states: inference vs training's forward, within 1e-5 (relative, floor 1e-5)
SELECT count(*) AS values,
       count(*) FILTER (WHERE abs(e[k] - (j->'pooled_first4'->(i - 1)->>(k - 1))::float8)
                              <= 1e-5 * greatest(1, abs(e[k]))) AS agree
FROM inf, ts, generate_series(1, 4) k;
-- the head on every dimension of the inference vectors vs the logits of training's forward
SELECT count(*) AS logits,
       count(*) FILTER (WHERE abs(l - (j->'logits'->(i - 1)->>c)::float8) <= 1e-5 * greatest(1, abs(l))) AS agree
FROM (SELECT i, c, sum(0.02 * sin(1 + c * 20 + (h - 1)) * e[h]) + 0.01 * c AS l
      FROM inf, generate_series(0, 1) c, generate_series(1, 20) h GROUP BY i, c) s, ts;
-- the vectors are not trivially equal: they differ between texts
SELECT count(DISTINCT e) AS distinct_vectors FROM inf;
-- bulk == per row, bit for bit
SELECT count(*) AS rows, count(*) FILTER (WHERE b.embedding = inf.e) AS identical
FROM tfm_embed(ARRAY(SELECT t FROM t ORDER BY i), 'odd') b JOIN inf ON inf.i = b.ordinality;
SELECT tfm_drop('odd');
