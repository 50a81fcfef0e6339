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
