-- OpenBLAS is opened on first use (src/blas.c) and only training's GEMMs use it: inference runs
-- every linear layer and attention product through pg_tfm's panel kernel, so a backend that
-- embeds, short texts or long, never loads it.
\c
SELECT array_length(tfm_embed('a short text', 'minilm'), 1) AS dims;
SELECT array_length(tfm_embed(repeat('a longer text ', 40), 'minilm'), 1) AS dims;
SELECT position('libopenblas' IN pg_read_file('/proc/' || pg_backend_pid() || '/maps')) = 0 AS openblas_not_loaded;
-- a training step over more than 64 token rows (one sequence of 80) loads it
SELECT tfm._train_step('minilm', ARRAY(SELECT 1000 + i FROM generate_series(1, 80) i), ARRAY[80], ARRAY[1]) ? 'loss' AS trained;
SELECT position('libopenblas' IN pg_read_file('/proc/' || pg_backend_pid() || '/maps')) > 0 AS openblas_loaded;
-- pg_tfm.blas_threads = 1 (the default): OpenBLAS started no thread of its own
SELECT count(*) AS threads FROM pg_ls_dir('/proc/' || pg_backend_pid() || '/task');
-- a thread count set before the load applies when OpenBLAS loads: one helper thread
\c
SET pg_tfm.blas_threads = 2;
SELECT tfm._train_step('minilm', ARRAY(SELECT 1000 + i FROM generate_series(1, 80) i), ARRAY[80], ARRAY[1]) ? 'loss' AS trained;
SELECT count(*) AS threads FROM pg_ls_dir('/proc/' || pg_backend_pid() || '/task');
-- the bulk path with pg_tfm.blas_threads = 2 encodes batches on two threads: the same vectors as
-- one thread, bit for bit, and as the per-row path (a row's vector does not depend on its batch:
-- each row and each sequence's attention is computed alone, in the same order).
\c
SET pg_tfm.blas_threads = 2;
CREATE TEMP TABLE texts AS
  SELECT i, repeat('word' || i || ' ', 1 + (i * 37) % 60) AS t FROM generate_series(1, 40) i;
CREATE TEMP TABLE two AS SELECT ordinality AS i, embedding FROM tfm_embed(ARRAY(SELECT t FROM texts ORDER BY i), 'minilm');
SET pg_tfm.blas_threads = 1;
CREATE TEMP TABLE one AS SELECT ordinality AS i, embedding FROM tfm_embed(ARRAY(SELECT t FROM texts ORDER BY i), 'minilm');
SELECT count(*) AS rows, count(*) FILTER (WHERE one.embedding = two.embedding) AS identical
FROM one JOIN two USING (i);
SELECT count(*) AS rows, count(*) FILTER (WHERE tfm_embed(texts.t, 'minilm') = two.embedding) AS identical_to_per_row
FROM texts JOIN two USING (i);
-- our helper thread was joined, and OpenBLAS was not loaded
SELECT count(*) AS threads FROM pg_ls_dir('/proc/' || pg_backend_pid() || '/task');
