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

-- train a spam classifier on rows already in the database (600 real e-mails, head on the frozen encoder)
CREATE TABLE mail (id text, grp text, subject text, body text, label text);
COPY mail FROM :'spam' WITH (FORMAT csv, HEADER);
CREATE VIEW mail_text AS
  SELECT id, subject || E'\n' || regexp_replace(body, '<[^>]*>', ' ', 'g') AS t, label FROM mail;
\timing on
CALL tfm_train('spam', 'minilm',
  'SELECT t, label FROM mail_text WHERE abs(hashtext(id)) % 10 = 0',
  'classification', '{"max_tokens": 64}');
\timing off
SELECT name, version, task, labels, round((metrics->>'accuracy')::numeric, 3) AS validation_accuracy
FROM tfm.models WHERE name = 'spam';

-- evaluate on e-mails it has not seen, classify and score a few
SELECT jsonb_pretty(tfm_evaluate('spam', 'SELECT t, label FROM mail_text WHERE abs(hashtext(id)) % 10 = 1') - 'labels');
SELECT left(subject, 50) AS subject, label, tfm_classify(t, 'spam') AS predicted,
       round(tfm_score(t, 'spam', 'spam')::numeric, 3) AS p_spam
FROM mail_text JOIN mail USING (id, label) WHERE abs(hashtext(id)) % 10 = 2 LIMIT 6;

-- flag incoming rows in a trigger
CREATE TABLE inbox (id serial, body text, flagged bool);
CREATE TRIGGER flag_spam BEFORE INSERT ON inbox FOR EACH ROW
  EXECUTE FUNCTION tfm_flag('spam', 'body', 'flagged', 'spam', '0.5');
INSERT INTO inbox (body) VALUES
  ('Congratulations! You have won a FREE cruise. Click here to claim your prize now!!!'),
  ('Hi team, the meeting is moved to 3pm tomorrow. Agenda attached.'),
  ('Lowest mortgage rates guaranteed, act now, limited offer, reply to unsubscribe');
SELECT id, left(body, 60) AS body, flagged FROM inbox ORDER BY id;
