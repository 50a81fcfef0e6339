-- OpenBLAS is opened on first use (src/blas.c): a backend that embeds only short texts never
-- loads it; a long text (BLAS GEMMs above 64 tokens) does, and gives the same kind of result.
\c
SELECT array_length(tfm_embed('a short text', 'minilm'), 1) AS dims;
SELECT position('libopenblas' IN pg_read_file('/proc/' || pg_backend_pid() || '/maps')) = 0 AS openblas_not_loaded;
SELECT array_length(tfm_embed(repeat('a longer text ', 40), 'minilm'), 1) AS dims;
SELECT position('libopenblas' IN pg_read_file('/proc/' || pg_backend_pid() || '/maps')) > 0 AS openblas_loaded;
-- pg_tfm.blas_threads = 1 (the default): OpenBLAS started no thread of its own
SELECT count(*) AS threads FROM pg_ls_dir('/proc/' || pg_backend_pid() || '/task');
-- a thread count set before the load applies when OpenBLAS loads: one helper thread
\c
SET pg_tfm.blas_threads = 2;
SELECT array_length(tfm_embed(repeat('a longer text ', 40), 'minilm'), 1) AS dims;
SELECT count(*) AS threads FROM pg_ls_dir('/proc/' || pg_backend_pid() || '/task');
-- the bulk path with pg_tfm.blas_threads = 2 encodes batches on two threads (BLAS single-threaded
-- in each): the same vectors as one thread, bit for bit, and as the per-row path within 1e-5.
-- A fresh connection: OpenBLAS is first loaded by this bulk call, before its helper thread starts.
\c
SET pg_tfm.blas_threads = 2;
CREATE TEMP TABLE texts AS
  SELECT i, repeat('word' || i || ' ', 1 + (i * 37) % 60) AS t FROM generate_series(1, 40) i;
CREATE TEMP TABLE two AS SELECT ordinality AS i, embedding FROM tfm_embed(ARRAY(SELECT t FROM texts ORDER BY i), 'minilm');
SET pg_tfm.blas_threads = 1;
CREATE TEMP TABLE one AS SELECT ordinality AS i, embedding FROM tfm_embed(ARRAY(SELECT t FROM texts ORDER BY i), 'minilm');
SELECT count(*) AS rows, count(*) FILTER (WHERE one.embedding = two.embedding) AS identical
FROM one JOIN two USING (i);
SELECT max(abs(a - b)) < 1e-5 AS bulk_matches_per_row
FROM texts JOIN two USING (i), unnest(tfm_embed(texts.t, 'minilm'), two.embedding) AS u(a, b);
-- our helper thread was joined: the one left is OpenBLAS's own (it loaded with 2 threads)
SELECT count(*) AS threads FROM pg_ls_dir('/proc/' || pg_backend_pid() || '/task');
