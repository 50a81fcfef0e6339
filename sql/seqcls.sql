-- sql/seqcls.sql (issue 15): BertForSequenceClassification checkpoints and cross-encoders.
-- The directories under PG_TFM_SEQCLS (test/make_seqcls_models.js) hold the REAL config.json and
-- tokenizer.json of cross-encoder/ms-marco-MiniLM-L-12-v2, config shrunk to hidden 32 / 2 layers /
-- 4 heads, with RANDOM weights under the real tensor names: the numbers check the computation
-- (pair input, token types, pooler, classifier, softmax/sigmoid), not ms-marco's real scores.
-- expected.csv: token ids made with Hugging Face's Rust tokenizers (test/data/seqcls_ids.json) and
-- the logits of the plain reference test/ref/bert_ref.js on the same weights.
\getenv seqcls PG_TFM_SEQCLS
SET pg_tfm_test.seqcls = :'seqcls';
-- SQLSTATE and message of a statement, the directory shown as <dir>
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || replace(SQLERRM, current_setting('pg_tfm_test.seqcls'), '<dir>');
END $$;
CREATE TEMP TABLE expected (model text, a text, b text, ids int[], logits float8[], probs float8[]);
\set ECHO none
SELECT format('COPY expected FROM %L (FORMAT csv)', :'seqcls' || '/expected.csv') \gexec
\set ECHO all
SELECT model, count(*) FROM expected GROUP BY model ORDER BY model;

-- 1. each imports as the model it is: the real cross-encoder config (one label, sbert_ce_* key)
-- as a cross-encoder; id2label's labels in id order; problem_type regression as regression
SELECT name, task, labels, dim, max_tokens, options FROM tfm_import('ce', :'seqcls' || '/ce');
SELECT name, task, labels, max_tokens FROM tfm_import('ce16', :'seqcls' || '/ce', '{"max_tokens": 16}');
SELECT name, task, labels, options->'multi_label' AS multi_label FROM tfm_import('cls3', :'seqcls' || '/cls3');
SELECT name, task, labels, options->'multi_label' AS multi_label FROM tfm_import('multi', :'seqcls' || '/multi');
SELECT name, task, labels FROM tfm_import('reg', :'seqcls' || '/reg');

-- 2. pairs: [CLS] a [SEP] b [SEP] exactly as the Rust tokenizers give them (untruncated)
SELECT count(*) AS pairs, count(*) FILTER (WHERE tfm_tokenize(a, b, 'ce') = ids) AS same_ids
FROM expected WHERE model = 'ce';
SELECT tfm_tokenize('Berlin', 'Paris', 'ce') AS pair, tfm_tokenize('Berlin', 'ce') AS single;

-- 3. the raw logit of the reference per pair (token types 1 on the second text), one pair at a
-- time and batched; ce16 truncates longest_first to 16 tokens as the Rust library does
SELECT model, count(*) AS pairs, max(abs(tfm_score_pair(a, b, model) - logits[1])) < 1e-4 AS score_pair_ok
FROM expected WHERE model IN ('ce', 'ce16') GROUP BY model ORDER BY model;
SELECT e.model, count(*) AS docs, max(abs(r.score - e.logits[1])) < 1e-4 AS rerank_ok
FROM (SELECT model, a, array_agg(b ORDER BY b) AS docs FROM expected WHERE model IN ('ce', 'ce16') GROUP BY model, a) q
CROSS JOIN LATERAL tfm_rerank(q.a, q.docs, q.model) r
JOIN expected e ON e.model = q.model AND e.a = q.a AND e.b = q.docs[r.ordinality]
GROUP BY e.model ORDER BY e.model;
-- the order a reranker gives, NULL documents score NULL; a NULL query gives no rows
SELECT ordinality, score IS NULL AS null_score FROM tfm_rerank('How many people live in Berlin?',
  ARRAY['Berlin has 3.5 million inhabitants.', NULL, 'Paris is in France.'], 'ce') ORDER BY ordinality;
SELECT count(*) AS no_rows FROM tfm_rerank(NULL, ARRAY['x'], 'ce');
SET pg_tfm.default_model = 'ce';
SELECT count(*) AS default_model FROM tfm_rerank('q', ARRAY['a', 'b']);
RESET pg_tfm.default_model;

-- 4. classifiers: softmax probabilities per label (labels in id order), the argmax label; a
-- multi-label checkpoint: a sigmoid per label; a regression checkpoint: the raw output
SELECT e.model, count(*) AS texts,
       max(abs(tfm_score(e.a, e.model, l.label) - e.probs[l.k])) < 1e-4 AS score_ok
FROM expected e CROSS JOIN LATERAL unnest(ARRAY['neutral', 'contradiction', 'entailment']) WITH ORDINALITY l(label, k)
WHERE e.model IN ('cls3', 'multi') GROUP BY e.model ORDER BY e.model;
SELECT count(*) AS texts, bool_and(tfm_classify(a, 'cls3') = (ARRAY['neutral', 'contradiction', 'entailment'])[
         (SELECT k FROM unnest(probs) WITH ORDINALITY u(p, k) ORDER BY p DESC LIMIT 1)]) AS classify_ok
FROM expected WHERE model = 'cls3';
SELECT count(*) AS texts, max(abs(tfm_predict(a, 'reg') - logits[1])) < 1e-4 AS predict_ok
FROM expected WHERE model = 'reg';
-- the single-text ids are the Rust library's too
SELECT count(*) AS texts, bool_and(tfm_tokenize(a, 'cls3') = ids) AS same_ids FROM expected WHERE model = 'cls3';
-- tfm_evaluate finds the truth among id2label's labels (in id order, not sorted): 'neutral' is id 0
SELECT tfm_evaluate('cls3', $$SELECT a AS input, CASE WHEN a LIKE 'I %' THEN 'contradiction' ELSE 'neutral' END AS label
                              FROM expected WHERE model = 'cls3'$$)->'confusion' AS confusion;

-- tfm_train on such a checkpoint trains a NEW head on its encoder (the [CLS] state it pools; the
-- checkpoint's pooler and classifier are not used): here a few steps on made-up labels
CREATE TEMP TABLE ft AS SELECT 'text number ' || i || CASE WHEN i % 2 = 0 THEN ' good' ELSE ' bad' END AS body,
  CASE WHEN i % 2 = 0 THEN 'pos' ELSE 'neg' END AS label FROM generate_series(1, 24) i;
SET client_min_messages = warning;  -- the epochs' notices show timings
CALL tfm_train('cls3_ft', 'cls3', 'SELECT body, label FROM ft', 'classification', '{"epochs": 2, "seed": 1}');
RESET client_min_messages;
SELECT m.name, m.task, m.labels, m.options->>'pooling' AS pooling, m.options ? 'head_activation' AS tanh_head,
       b.name AS encoder_of FROM tfm.model m JOIN tfm.model b ON b.id = m.encoder_id WHERE m.name = 'cls3_ft';
SELECT tfm_classify('text number 2 good', 'cls3_ft') IN ('pos', 'neg') AS classifies;
SELECT pg_temp.err($$SELECT tfm_drop('cls3')$$) AS drop_base;
SELECT tfm_drop('cls3_ft');

-- 5. functions that do not fit the model's task say so (42809)
SELECT pg_temp.err($$SELECT tfm_score_pair('a', 'b', 'cls3')$$) AS pair_on_classifier;
SELECT pg_temp.err($$SELECT * FROM tfm_rerank('a', ARRAY['b'], 'multi')$$) AS rerank_on_classifier;
SELECT pg_temp.err($$SELECT tfm_classify('a', 'ce')$$) AS classify_on_cross_encoder;
SELECT pg_temp.err($$SELECT tfm_evaluate('ce', 'SELECT ''a'' AS input, 1.0 AS label')$$) AS evaluate_on_cross_encoder;

-- 6. refused at import: shapes that disagree with id2label, a missing classifier (22023), a pair
-- template pg_tfm does not compute (0A000), unknown problem_type, duplicate labels (22023),
-- multi-output regression (0A000), cross-encoder settings on another head or without an
-- architecture (0A000, from config.json alone), options that would change what the head reads (22023)
SELECT d, pg_temp.err(format('SELECT tfm_import(%L, %L)', 'x', :'seqcls' || '/' || d)) AS result
FROM unnest(ARRAY['bad_shape', 'no_classifier', 'bad_template', 'bad_problem', 'dup_labels', 'reg3',
                  'ce_token_classification', 'ce_no_architecture']) d;
SELECT pg_temp.err(format('SELECT tfm_import(%L, %L, %L)', 'x', :'seqcls' || '/ce', '{"pooling": "mean"}')) AS mean_pooling;
SELECT count(*) AS nothing_imported FROM tfm.models WHERE name = 'x';

SELECT tfm_drop(name) FROM unnest(ARRAY['ce', 'ce16', 'cls3', 'multi', 'reg']) name;

-- the pair functions: IMMUTABLE with a model argument (tfm_rerank's NULL model reads the setting)
SELECT oid::regprocedure AS function, proparallel, proisstrict, provolatile, proretset FROM pg_proc
WHERE proname IN ('tfm_score_pair', 'tfm_rerank') OR oid = 'tfm_tokenize(text, text, text)'::regprocedure
ORDER BY oid::regprocedure::text;
