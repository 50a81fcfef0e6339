-- pgTAP: the catalog schema, view and functions of pg_tfm (run by pg_prove in a database with minilm imported)
BEGIN;
SELECT plan(23);

SELECT has_schema('tfm');
SELECT has_table('tfm', 'model', 'tfm.model holds one row per model version');
SELECT has_table('tfm', 'model_data', 'tfm.model_data holds the weights');
SELECT has_view('tfm', 'models', 'tfm.models is the public view');
SELECT columns_are('tfm', 'models', ARRAY['name', 'version', 'architecture', 'task', 'labels', 'dim',
  'max_tokens', 'params', 'sha256', 'created_at', 'metrics', 'options', 'owner', 'id', 'base', 'training', 'precision']);
SELECT col_is_pk('tfm', 'model', 'id', 'id is the primary key of tfm.model');
SELECT has_function('public', 'tfm_import', ARRAY['text', 'text', 'jsonb']);
SELECT has_function('public', 'tfm_import', ARRAY['text', 'jsonb', 'jsonb', 'bytea', 'jsonb']);
SELECT has_function('public', 'tfm_quantize', ARRAY['text', 'text', 'text']);
SELECT has_function('public', 'tfm_embed', ARRAY['text', 'text']);
SELECT has_function('public', 'tfm_tokenize', ARRAY['text', 'text']);
SELECT has_function('public', 'tfm_drop', ARRAY['text']);
SELECT function_returns('public', 'tfm_embed', ARRAY['text'], 'real[]');
SELECT is_strict('public', 'tfm_embed', ARRAY['text']);
SELECT results_eq($$SELECT name, version, architecture, dim, max_tokens, params FROM tfm.models$$,
  $$VALUES ('minilm'::text, 1, 'bert'::text, 384, 256, 22565376::bigint)$$, 'the imported model is listed');
SELECT is((SELECT count(*)::int FROM tfm.model_data), 3, 'weights are stored in 16 MB chunks');
SELECT is((SELECT array_length(tfm_embed('x', 'minilm'), 1)), 384, 'embedding has the model dimension');
SELECT is(tfm_tokenize('Hello, world!', 'minilm'), ARRAY[101, 7592, 1010, 2088, 999, 102], 'tokenizer ids');
SELECT is((SELECT array_length(extconfig, 1) FROM pg_extension WHERE extname = 'pg_tfm'), 4,
  'catalog tables and sequence are dumped with the extension');
SELECT throws_ok($$SELECT tfm_embed('x', 'missing')$$, '42704', 'model "missing" does not exist');

SELECT has_view('tfm', 'cache', 'tfm.cache lists materialised models');
SELECT ok((SELECT mapped_by >= 1 AND bytes > 80000000 FROM tfm.cache WHERE name = 'minilm'),
  'after an embedding, the cache file of minilm is mapped by at least this backend');
SELECT is((SELECT count(*)::int FROM tfm_cache() WHERE name = 'minilm'), 1, 'this backend holds one handle');

SELECT * FROM finish();
ROLLBACK;
