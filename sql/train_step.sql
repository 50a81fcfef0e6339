-- one training step of MiniLM + a linear head against float64 PyTorch (../shared/golden/minilm/train_step.json)
\getenv golden PG_TFM_GOLDEN
\set f :golden '/minilm/train_step.json'
CREATE TEMP TABLE g AS SELECT pg_read_file(:'f')::jsonb AS j;
CREATE TEMP TABLE r AS
SELECT tfm._train_step('minilm',
  (SELECT array_agg(x::int ORDER BY o1, o2) FROM jsonb_array_elements(j->'ids') WITH ORDINALITY s(seq, o1),
          jsonb_array_elements_text(seq) WITH ORDINALITY t(x, o2)),
  (SELECT array_agg(jsonb_array_length(seq) ORDER BY o1) FROM jsonb_array_elements(j->'ids') WITH ORDINALITY s(seq, o1)),
  (SELECT array_agg(x::int ORDER BY o) FROM jsonb_array_elements_text(j->'labels') WITH ORDINALITY s(x, o))) AS j
FROM g;

-- close: relative error 1e-3, with an absolute floor for values that are ~0 against their scale
CREATE FUNCTION pg_temp.close(ours float8, want float8, scale float8) RETURNS bool
AS $$ SELECT abs(ours - want) <= 1e-3 * abs(want) + 1e-6 * scale $$ LANGUAGE sql;

-- same_shape: arrays of the same length at every level, so that a value missing from (or added to) ours is
-- a failure; the comparisons below pair values by position and would otherwise skip it
CREATE FUNCTION pg_temp.same_shape(a jsonb, b jsonb) RETURNS bool AS $$
  SELECT CASE WHEN jsonb_typeof(a) = 'array' AND jsonb_typeof(b) = 'array' THEN
    jsonb_array_length(a) = jsonb_array_length(b) AND
    coalesce((SELECT bool_and(pg_temp.same_shape(x, y)) FROM jsonb_array_elements(a) WITH ORDINALITY s(x, i)
              JOIN jsonb_array_elements(b) WITH ORDINALITY t(y, k) ON i = k), true)
  ELSE jsonb_typeof(a) IS NOT DISTINCT FROM jsonb_typeof(b) END $$ LANGUAGE sql;
SELECT pg_temp.same_shape(r.j->'logits', g.j->'logits') AS logits_shape,
       pg_temp.same_shape(r.j->'pooled_first4', g.j->'pooled_first4') AS pooled_shape,
       (SELECT count(*) FROM jsonb_each(g.j->'grad') e(name, w)
        WHERE pg_temp.same_shape(r.j->'grad'->name->'first8', w->'first8')) = (SELECT count(*) FROM jsonb_object_keys(g.j->'grad'))
       AS every_reference_gradient_with_its_first8
FROM r, g;

SELECT pg_temp.close((r.j->>'loss')::float8, (g.j->>'loss')::float8, 1) AS loss_ok FROM r, g;
SELECT bool_and(pg_temp.close(o::float8, w::float8, 1e-3)) AS logits_ok
FROM r, g, jsonb_array_elements(r.j->'logits') WITH ORDINALITY ro(rr, i), jsonb_array_elements(g.j->'logits') WITH ORDINALITY go(gr, k),
     jsonb_array_elements_text(rr) WITH ORDINALITY a(o, x), jsonb_array_elements_text(gr) WITH ORDINALITY b(w, y)
WHERE i = k AND x = y;
SELECT bool_and(pg_temp.close(o::float8, w::float8, 1e-3)) AS pooled_ok
FROM r, g, jsonb_array_elements(r.j->'pooled_first4') WITH ORDINALITY ro(rr, i), jsonb_array_elements(g.j->'pooled_first4') WITH ORDINALITY go(gr, k),
     jsonb_array_elements_text(rr) WITH ORDINALITY a(o, x), jsonb_array_elements_text(gr) WITH ORDINALITY b(w, y)
WHERE i = k AND x = y;

-- every gradient statistic the reference lists
SELECT name,
       pg_temp.close((o->>'sum')::float8, (w->>'sum')::float8, (w->>'abs_sum')::float8) AS sum_ok,
       pg_temp.close((o->>'abs_sum')::float8, (w->>'abs_sum')::float8, 0) AS abs_sum_ok,
       pg_temp.close((o->>'l2')::float8, (w->>'l2')::float8, 0) AS l2_ok,
       (SELECT bool_and(pg_temp.close(a::float8, b::float8, 1e-4 * (w->>'l2')::float8))
        FROM jsonb_array_elements_text(o->'first8') WITH ORDINALITY x(a, i)
        JOIN jsonb_array_elements_text(w->'first8') WITH ORDINALITY y(b, k) ON i = k) AS first8_ok
FROM r, g, jsonb_each(g.j->'grad') AS e(name, w), LATERAL (SELECT r.j->'grad'->name AS o) s
ORDER BY name;
