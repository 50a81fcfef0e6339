-- sql/torchbin.sql: PyTorch checkpoints (pytorch_model.bin, torch.save's zip format) written by the real
-- writer, torch.save of Debian's python3-torch (test/make_torch_models.py). A directory with only a .bin
-- imports as the safetensors image it is converted to, and computes exactly what the safetensors twin
-- computes; refused and damaged checkpoints are errors with a SQLSTATE (err() of the import file).
\getenv torch PG_TFM_TORCH
\getenv golden PG_TFM_GOLDEN
\getenv seqcls PG_TFM_SEQCLS
CREATE TEMP TABLE ge (j jsonb);
\set f :golden '/minilm/embeddings.jsonl'
COPY ge FROM :'f' WITH (FORMAT csv, QUOTE e'\x01', DELIMITER e'\x02');
CREATE TEMP TABLE texts AS SELECT j->>'text' AS t FROM ge;
-- the catalog row of a model but for what differs between the same weights in two files
CREATE FUNCTION pg_temp.row_of(n text) RETURNS jsonb LANGUAGE sql AS $$
  SELECT to_jsonb(m) - ARRAY['name', 'version', 'sha256', 'created_at', 'id']
  FROM tfm.models m WHERE m.name = n $$;
-- does the stored sha256 name the stored bytes (the safetensors image), not the file imported?
CREATE FUNCTION pg_temp.sha_of_stored(n text, file text) RETURNS text LANGUAGE sql AS $$
  SELECT CASE m.sha256 WHEN encode(sha256(pg_read_binary_file(file)), 'hex') THEN 'the file'
         WHEN (SELECT encode(sha256(string_agg(d.data, '' ORDER BY d.seq)), 'hex')
               FROM tfm.model_data d WHERE d.model_id = m.id) THEN 'the stored image' ELSE 'neither' END
  FROM tfm.models m WHERE m.name = n $$;

-- 1. all-MiniLM-L6-v2 as F16 in an OrderedDict (what state_dict() saves): the catalog row of the
-- safetensors import (minilm, model.fp16.safetensors) and its embeddings bit for bit
SELECT name, architecture, task, dim, max_tokens, params, length(sha256) AS sha_len
FROM tfm_import('minilm_bin', :'torch' || '/minilm_bin', '{"max_tokens": 256}');
SELECT pg_temp.row_of('minilm_bin') = pg_temp.row_of('minilm') AS same_row,
       pg_temp.sha_of_stored('minilm_bin', :'torch' || '/minilm_bin/pytorch_model.bin') AS sha256_of;
SELECT count(*) AS texts, count(*) FILTER (WHERE tfm_embed(t, 'minilm_bin') = tfm_embed(t, 'minilm')) AS identical
FROM texts;

-- 2. the same values as float32, with a transposed (column-major) view, two tensors sliced from one
-- storage at offsets, and an nn.Parameter: fp16 weights are computed widened to fp32, so the
-- embeddings are again identical
SELECT name, dim, params FROM tfm_import('minilm_bin_f32', :'torch' || '/minilm_bin_f32', '{"max_tokens": 256}');
SELECT count(*) AS texts, count(*) FILTER (WHERE tfm_embed(t, 'minilm_bin_f32') = tfm_embed(t, 'minilm')) AS identical
FROM texts;

-- 3. tiny-random-roberta (real tiny weights, a plain dict) against its own model.safetensors
SELECT name, architecture, dim, params FROM tfm_import('roberta_st', :'golden' || '/models/tiny-random-roberta');
SELECT name, architecture, dim, params FROM tfm_import('roberta_bin', :'torch' || '/roberta_bin');
SELECT pg_temp.row_of('roberta_bin') = pg_temp.row_of('roberta_st') AS same_row,
       pg_temp.sha_of_stored('roberta_bin', :'torch' || '/roberta_bin/pytorch_model.bin') AS sha256_of;
SELECT count(*) AS texts,
       count(*) FILTER (WHERE tfm_embed(t, 'roberta_bin') = tfm_embed(t, 'roberta_st')) AS identical
FROM texts;
-- the content form takes the .bin's bytes (recognised by the zip signature): the same image is stored
\set rdir :torch '/roberta_bin'
SELECT name, params FROM tfm_import('roberta_bin_c', pg_read_file(:'rdir' || '/config.json')::jsonb,
  pg_read_file(:'rdir' || '/tokenizer.json')::jsonb, pg_read_binary_file(:'rdir' || '/pytorch_model.bin'));
SELECT (SELECT sha256 FROM tfm.models WHERE name = 'roberta_bin_c') =
       (SELECT sha256 FROM tfm.models WHERE name = 'roberta_bin') AS same_image;

-- 4. a BertForSequenceClassification checkpoint (sql/seqcls.sql's cls3) against its safetensors twin:
-- the same class and the same probability of every label
SELECT name, task, labels FROM tfm_import('cls3_st', :'seqcls' || '/cls3');
SELECT name, task, labels FROM tfm_import('seqcls_bin', :'torch' || '/seqcls_bin');
SELECT count(*) AS texts,
       count(*) FILTER (WHERE tfm_classify(t, 'seqcls_bin') = tfm_classify(t, 'cls3_st')) AS same_class,
       count(*) FILTER (WHERE (SELECT bool_and(tfm_score(t, 'seqcls_bin', l) = tfm_score(t, 'cls3_st', l))
                               FROM unnest((SELECT labels FROM tfm.models WHERE name = 'cls3_st')) l)) AS same_scores
FROM (SELECT t FROM texts LIMIT 40) s;

-- 5. the golden tiny GPT-2 as an older GPT2LMHeadModel checkpoint (transformer. prefix, attn.bias and
-- attn.masked_bias buffers, lm_head.weight tied to wte.weight) against its model.safetensors: the same
-- catalog row, the same logits of a prompt and the same greedy text
SELECT name, architecture, task, params FROM tfm_import('gpt2_st', :'golden' || '/gpt2/tiny');
SELECT name, architecture, task, params FROM tfm_import('gpt2_bin', :'torch' || '/gpt2_bin');
SELECT pg_temp.row_of('gpt2_bin') = pg_temp.row_of('gpt2_st') AS same_row,
       tfm._gpt2_logits(tfm_tokenize('Hello, my dog is cute', 'gpt2_bin'), 'gpt2_bin', true)
         = tfm._gpt2_logits(tfm_tokenize('Hello, my dog is cute', 'gpt2_st'), 'gpt2_st', true) AS same_logits,
       tfm_generate('Hello, my dog is cute', 'gpt2_bin', 8) = tfm_generate('Hello, my dog is cute', 'gpt2_st', 8)
         AS same_text;

-- 6. refused: the legacy (pre-1.6, not zip) format, a pickle calling os.system, a whole nn.Module, a
-- compressed entry, a list of tensors, a tensor named __metadata__ (0A000); a file cut in half, a pickle
-- cut short, a name repeated by memo gets (22P03, before the entries are built); 2^21 + 1 open marks, one
-- object pushed 2^21 + 1 times (54000); a vocabulary one row short of config.json's (22023). Nothing is stored.
SELECT d, err(format('SELECT tfm_import(%L, %L)', 'x', :'torch' || '/' || d)) AS error
FROM unnest(ARRAY['legacy_bin', 'evil_bin', 'module_bin', 'compressed_bin', 'list_bin', 'truncated_bin',
                  'bad_pickle_bin', 'repeat_key_bin', 'metadata_bin', 'marks_bin', 'stack_bin',
                  'shape_bin']) d;
SELECT count(*) AS stored FROM tfm.models WHERE name = 'x';

SELECT count(*) AS dropped
FROM unnest(ARRAY['minilm_bin', 'minilm_bin_f32', 'roberta_st', 'roberta_bin', 'roberta_bin_c', 'cls3_st',
                  'seqcls_bin', 'gpt2_st', 'gpt2_bin']) n,
     tfm_drop(n);
