-- scripts/demo.sql: the quick tour run by scripts/demo.sh
\set ECHO queries
CREATE EXTENSION pg_tfm;

SELECT name, version, architecture, dim, max_tokens, params, left(sha256, 12) AS sha256
FROM tfm_import('minilm', :'model_dir', '{"max_tokens": 256}');

SET pg_tfm.default_model = 'minilm';

SELECT tfm_tokenize('PostgreSQL runs transformers now!');

CREATE TABLE sentences (id serial PRIMARY KEY, body text, emb real[]);
INSERT INTO sentences (body) VALUES
  ('The cat sits on the mat.'),
  ('A dog is playing in the garden.'),
  ('Stock markets fell sharply today.'),
  ('Investors worry about rising interest rates.'),
  ('How do I reset my password?'),
  ('I forgot my login credentials.'),
  ('The kitten sleeps on the rug.');
\timing on
UPDATE sentences SET emb = tfm_embed(body);
\timing off

-- nearest neighbours by cosine similarity (embeddings are L2-normalised)
SELECT q.body AS query, s.body AS nearest,
       round((SELECT sum(a * b) FROM unnest(q.emb, s.emb) AS t(a, b))::numeric, 3) AS cosine
FROM sentences q
CROSS JOIN LATERAL (
  SELECT s.body, s.emb FROM sentences s WHERE s.id <> q.id
  ORDER BY (SELECT sum(a * b) FROM unnest(q.emb, s.emb) AS t(a, b)) DESC LIMIT 1
) s
ORDER BY q.id;
