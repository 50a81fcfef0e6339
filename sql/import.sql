-- err(q): run a statement and show its SQLSTATE, message and detail (file paths shortened to <dir>/);
-- the later test files use it
CREATE FUNCTION err(q text) RETURNS text AS $$
DECLARE d text;
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
  RETURN regexp_replace(SQLSTATE || ': ' || SQLERRM || coalesce(' (' || nullif(d, '') || ')', ''),
                        '"/[^"]*/', '"<dir>/', 'g');
END $$ LANGUAGE plpgsql;

-- import of the real all-MiniLM-L6-v2 from the server's filesystem, and the catalog it fills
\getenv model_dir PG_TFM_MODEL_DIR
SELECT name, version, architecture, task, labels, dim, max_tokens, params, length(sha256) AS sha_len,
       options
FROM tfm_import('minilm', :'model_dir', '{"max_tokens": 256}');

-- the stored sha256 is the SHA-256 of the safetensors file
\set wfile :model_dir '/model.fp16.safetensors'
SELECT sha256 = encode(sha256(pg_read_binary_file(:'wfile')), 'hex') AS sha_matches FROM tfm.models;

-- a second import of the same name is a new version; the default options are the model's
SELECT name, version, max_tokens, options FROM tfm_import('minilm', :'model_dir');
SELECT name, version, max_tokens FROM tfm.models ORDER BY version;
SELECT tfm_drop('minilm');
SELECT count(*) AS models_left FROM tfm.models;

-- the same model from client-supplied content
\set cfile :model_dir '/config.json'
\set tfile :model_dir '/tokenizer.json'
SELECT name, version, dim, max_tokens, options->>'pooling' AS pooling
FROM tfm_import('minilm', convert_from(pg_read_binary_file(:'cfile'), 'UTF8')::jsonb,
                convert_from(pg_read_binary_file(:'tfile'), 'UTF8')::jsonb,
                pg_read_binary_file(:'wfile'), '{"max_tokens": 256}');
SELECT count(*) AS chunks, sum(length(data)) AS bytes FROM tfm.model_data;
