-- sql/heads.sql (issue 15): DistilBERT, RoBERTa and XLM-RoBERTa *ForSequenceClassification checkpoints:
-- classifiers (softmax, multi-label sigmoid), regressors and cross-encoders.
-- The directories under PG_TFM_HEADS (test/make_head_models.js):
-- - distil_*: the REAL config.json (DistilBertForSequenceClassification, NEGATIVE/POSITIVE) and tokenizer
--   of distilbert-base-uncased-finetuned-sst-2-english, shrunk to dim 32 / 2 layers, RANDOM weights under
--   the real tensor names (distilbert.*, pre_classifier, classifier).
-- - roberta_*, xlmr_cls, xlmr_ce, xlmr_embed: the REAL (random-initialised) encoder weights, config and
--   tokenizer of hf-internal-testing/tiny-random-roberta under RobertaForSequenceClassification's names,
--   with a RANDOM head (classifier.dense, classifier.out_proj); xlmr_*: the same as model_type xlm-roberta,
--   read with tiny-random-roberta's byte-level BPE tokenizer (XLM-R's SentencePiece Unigram tokenizer
--   is not read by pg_tfm yet).
-- - roberta_ce: roberta-base's REAL tokenizer, shrunk config, RANDOM weights.
-- The numbers check the computation (pair template, positions, head, activation), not real predictions.
-- expected.csv: token ids from Hugging Face's Rust tokenizers (truncated longest_first to max_tokens, and
-- untruncated), logits and probabilities of the plain reference test/ref/encoder.js on the same files.
\getenv heads PG_TFM_HEADS
SET pg_tfm_test.heads = :'heads';
-- SQLSTATE and message of a statement, the directory shown as <dir>
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || replace(SQLERRM, current_setting('pg_tfm_test.heads'), '<dir>');
END $$;
CREATE TEMP TABLE expected (model text, a text, b text, ids int[], full_ids int[], logits float8[], probs float8[]);
\set ECHO none
SELECT format('COPY expected FROM %L (FORMAT csv)', :'heads' || '/expected.csv') \gexec
\set ECHO all
SELECT model, count(*) FROM expected GROUP BY model ORDER BY model;

-- 1. each imports as the model it is: labels from id2label in id order, the head's activation
-- (DistilBERT: relu, RoBERTa/XLM-R: tanh), multi-label, regression, cross-encoder; *16 with max_tokens 16
SELECT m.name, m.architecture, m.task, m.labels, m.dim, m.max_tokens, m.options->>'head_activation' AS act,
       m.options->'multi_label' AS multi_label
FROM unnest(ARRAY['distil_sst2', 'distil_noprefix', 'distil_multi', 'distil_reg', 'distil_ce', 'roberta_cls',
                  'roberta_noprefix', 'roberta_multi', 'roberta_reg', 'roberta_ce', 'roberta_files_ce', 'xlmr_cls', 'xlmr_ce',
                  'xlmr_embed']) d
CROSS JOIN LATERAL tfm_import(d, :'heads' || '/' || d) m;
SELECT m.name, m.task, m.max_tokens FROM unnest(ARRAY['distil_ce', 'roberta_ce', 'roberta_files_ce', 'xlmr_ce']) d
CROSS JOIN LATERAL tfm_import(d || '16', :'heads' || '/' || d, '{"max_tokens": 16}') m;
-- the content form reads the same checkpoint as the same model (compared below with roberta_cls)
SELECT name, task, labels FROM tfm_import('content_cls', pg_read_file(:'heads' || '/roberta_cls/config.json')::jsonb,
  pg_read_file(:'heads' || '/roberta_cls/tokenizer.json')::jsonb, pg_read_binary_file(:'heads' || '/roberta_cls/model.safetensors'));

-- 2. token ids as the Rust tokenizers give them (untruncated): single texts, and pairs in the family's
-- template (DistilBERT [CLS] a [SEP] b [SEP]; RoBERTa and XLM-R <s> a </s></s> b </s>)
SELECT model, count(*) AS texts,
       count(*) FILTER (WHERE CASE WHEN b IS NULL THEN tfm_tokenize(a, model) ELSE tfm_tokenize(a, b, model) END = full_ids) AS same_ids
FROM expected WHERE model NOT LIKE '%16' GROUP BY model ORDER BY model;
SELECT tfm_tokenize('Berlin', 'Paris', 'roberta_ce') AS roberta_pair, tfm_tokenize('Berlin', 'roberta_ce') AS single,
       tfm_tokenize('Berlin', 'Paris', 'distil_ce') AS distil_pair;

-- 3. classifiers: the probability of every label (softmax; a sigmoid per label for multi-label), the
-- argmax label, on texts up to and past max_tokens (truncated)
SELECT e.model, count(*) AS checks, max(abs(tfm_score(e.a, e.model, l.label) - e.probs[l.k])) < 1e-4 AS score_ok
FROM expected e JOIN tfm.models m ON m.name = e.model
CROSS JOIN LATERAL unnest(m.labels) WITH ORDINALITY l(label, k)
WHERE m.task = 'classification' GROUP BY e.model ORDER BY e.model;
SELECT e.model, count(*) AS texts,
       bool_and(tfm_classify(e.a, e.model) = m.labels[(SELECT k FROM unnest(e.probs) WITH ORDINALITY u(p, k) ORDER BY p DESC LIMIT 1)]) AS classify_ok
FROM expected e JOIN tfm.models m ON m.name = e.model WHERE m.task = 'classification' GROUP BY e.model ORDER BY e.model;
SELECT count(*) AS texts, bool_and(tfm_score(a, 'content_cls', 'arts') = tfm_score(a, 'roberta_cls', 'arts')) AS content_same
FROM expected WHERE model = 'roberta_cls';
SELECT tfm_drop('content_cls');
-- regression: the raw output
SELECT model, count(*) AS texts, max(abs(tfm_predict(a, model) - logits[1])) < 1e-4 AS predict_ok
FROM expected WHERE model IN ('distil_reg', 'roberta_reg') GROUP BY model ORDER BY model;
-- XLM-R as an embedding model (XLMRobertaModel): mean-pooled, normalised, equal to the reference
SELECT count(*) AS texts, max((SELECT max(abs(x - y)) FROM unnest(tfm_embed(a, 'xlmr_embed'), logits) u(x, y))) < 1e-4 AS embed_ok
FROM expected WHERE model = 'xlmr_embed';

-- 4. cross-encoders: the raw logit per pair, one at a time and batched; *16 truncate longest_first to 16
SELECT model, count(*) AS pairs, max(abs(tfm_score_pair(a, b, model) - logits[1])) < 1e-4 AS score_pair_ok
FROM expected WHERE b IS NOT NULL GROUP BY model ORDER BY model;
SELECT e.model, count(*) AS docs, max(abs(r.score - e.logits[1])) < 1e-4 AS rerank_ok
FROM (SELECT model, a, array_agg(b ORDER BY b) AS docs FROM expected WHERE b IS NOT NULL GROUP BY model, a) q
CROSS JOIN LATERAL tfm_rerank(q.a, q.docs, q.model) r
JOIN expected e ON e.model = q.model AND e.a = q.a AND e.b = q.docs[r.ordinality]
GROUP BY e.model ORDER BY e.model;

-- 5. tfm_evaluate finds the truth among id2label's labels in id order ('sports', 'business', 'arts')
SELECT tfm_evaluate('roberta_cls', $$SELECT a AS input, CASE WHEN a LIKE '%e%' THEN 'arts' ELSE 'sports' END AS label
                                     FROM expected WHERE model = 'roberta_cls'$$)->'confusion'->'labels' AS labels;
SELECT abs((tfm_evaluate('distil_sst2', $$SELECT a, 'POSITIVE' AS label FROM expected WHERE model = 'distil_sst2'$$)->>'accuracy')::float8
           - (SELECT avg((tfm_classify(a, 'distil_sst2') = 'POSITIVE')::int) FROM expected WHERE model = 'distil_sst2')) < 1e-9 AS accuracy_ok;

-- 6. tfm_flag on a DistilBERT classifier: the flag is tfm_score(label) >= threshold
CREATE TEMP TABLE reviews (body text, flagged bool);
CREATE TRIGGER flag BEFORE INSERT ON reviews FOR EACH ROW EXECUTE FUNCTION tfm_flag('distil_sst2', 'body', 'flagged', 'POSITIVE', '0.5');
INSERT INTO reviews (body) SELECT a FROM expected WHERE model = 'distil_sst2';
SELECT count(*) AS rows, bool_and(flagged = (tfm_score(body, 'distil_sst2', 'POSITIVE') >= 0.5)) AS flag_ok FROM reviews;

-- 7. tfm_train on such a checkpoint with other labels trains a NEW head on its encoder (the first
-- token's state; the checkpoint's own head is not used), head only or every weight (fine_tune full)
CREATE TEMP TABLE ft AS SELECT 'text number ' || i || CASE WHEN i % 2 = 0 THEN ' good' ELSE ' bad' END AS body,
  CASE WHEN i % 2 = 0 THEN 'pos' ELSE 'neg' END AS label FROM generate_series(1, 24) i;
SET client_min_messages = warning;  -- the epochs' notices show timings
CALL tfm_train('roberta_ft', 'roberta_cls', 'SELECT body, label FROM ft', 'classification', '{"epochs": 2, "seed": 1}');
CALL tfm_train('distil_ft', 'distil_sst2', 'SELECT body, label FROM ft', 'classification',
               '{"epochs": 1, "seed": 1, "fine_tune": "full", "batch_size": 8}');
RESET client_min_messages;
SELECT m.name, m.task, m.labels, m.options->>'pooling' AS pooling, m.options ? 'head_activation' AS checkpoint_head,
       coalesce(b.name, 'its own (fine_tune full)') AS encoder_of FROM tfm.model m LEFT JOIN tfm.model b ON b.id = m.encoder_id WHERE m.name IN ('roberta_ft', 'distil_ft')
ORDER BY m.name;
SELECT tfm_classify('text number 2 good', 'roberta_ft') IN ('pos', 'neg') AS roberta_classifies,
       tfm_classify('text number 2 good', 'distil_ft') IN ('pos', 'neg') AS distil_classifies;
SELECT tfm_drop('roberta_ft'), tfm_drop('distil_ft');
-- with the checkpoint's own labels (a softmax classifier), or for a regressor, training continues the
-- checkpoint's head (its activation and width). With a vanishing learning rate the new model scores
-- as the checkpoint does: the head was carried over as the starting point (outputs moved to the
-- sorted label order, regression targets and the features' standardisation accounted for)
CREATE TEMP TABLE ft3 AS SELECT a AS body, (ARRAY['sports', 'business', 'arts'])[1 + (row_number() OVER ()) % 3] AS label,
  (row_number() OVER ()) * 0.5 AS target FROM expected WHERE model = 'roberta_cls';
SET client_min_messages = warning;
CALL tfm_train('roberta_cont', 'roberta_cls', 'SELECT body, label FROM ft3', 'classification',
               '{"epochs": 1, "learning_rate": 1e-9, "validation_fraction": 0, "seed": 1}');
CALL tfm_train('distil_cont', 'distil_reg', 'SELECT body, target FROM ft3', 'regression',
               '{"epochs": 1, "learning_rate": 1e-9, "validation_fraction": 0, "seed": 1}');
CALL tfm_train('xlmr_cont_full', 'xlmr_cls', 'SELECT body, label FROM ft3', 'classification',
               '{"epochs": 1, "fine_tune": "full", "batch_size": 4, "seed": 1}');
-- multi-label checkpoints get a new head (pg_tfm trains softmax classifiers)
CALL tfm_train('multi_new', 'roberta_multi', 'SELECT body, label FROM ft3', 'classification', '{"epochs": 1, "seed": 1}');
RESET client_min_messages;
SELECT name, task, labels, options->>'head_activation' AS act, options->'head_hidden' AS head_hidden
FROM tfm.models WHERE name IN ('roberta_cont', 'distil_cont', 'xlmr_cont_full', 'multi_new') ORDER BY name;
SELECT count(*) AS checks, max(abs(tfm_score(e.a, 'roberta_cont', l) - tfm_score(e.a, 'roberta_cls', l))) < 1e-4 AS continued_same
FROM expected e CROSS JOIN unnest(ARRAY['sports', 'business', 'arts']) l WHERE e.model = 'roberta_cls';
SELECT count(*) AS texts, max(abs(tfm_predict(a, 'distil_cont') - tfm_predict(a, 'distil_reg'))) < 1e-4 AS continued_same
FROM expected WHERE model = 'distil_reg';
SELECT tfm_classify('Hello world', 'xlmr_cont_full') IN ('sports', 'business', 'arts') AS full_classifies;
SELECT count(tfm_drop(n)) AS dropped FROM unnest(ARRAY['roberta_cont', 'distil_cont', 'xlmr_cont_full', 'multi_new']) n;

-- 8. functions that do not fit the model's task say so (42809)
SELECT pg_temp.err($$SELECT tfm_score_pair('a', 'b', 'roberta_cls')$$) AS pair_on_classifier;
SELECT pg_temp.err($$SELECT tfm_classify('a', 'xlmr_ce')$$) AS classify_on_cross_encoder;

-- 9. refused at import: a missing pre_classifier, an out_proj that disagrees with id2label (22023), a
-- RoBERTa cross-encoder whose tokenizer builds BERT's pair (0A000), and from config.json alone: a
-- cross-encoder on a token-classification head, another family's head (0A000)
SELECT d, pg_temp.err(format('SELECT tfm_import(%L, %L)', 'x', :'heads' || '/' || d)) AS result
FROM unnest(ARRAY['refused_no_pre_classifier', 'refused_out_proj_shape', 'refused_bert_pair_template',
                  'refused_xlmr_ce_tokcls', 'refused_roberta_distil_head']) d;
SELECT count(*) AS nothing_imported FROM tfm.models WHERE name = 'x';

SELECT count(tfm_drop(name)) AS dropped FROM tfm.models WHERE name ~ '^(distil|roberta|xlmr)_';
