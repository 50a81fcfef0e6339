-- issue 16: pg_tfm.cpu_features caps the SIMD level of the kernels (never above what CPUID and XGETBV
-- found); at every level MiniLM's embeddings stay within golden's 1e-4 of the reference
-- (shared/golden/minilm, Hugging Face + ONNX Runtime). Runs after import (model minilm).
\getenv golden PG_TFM_GOLDEN
CREATE TEMP TABLE ge16 (j jsonb);
\set f :golden '/minilm/embeddings.jsonl'
COPY ge16 FROM :'f' WITH (FORMAT csv, QUOTE e'\x01', DELIMITER e'\x02');

SELECT tfm_cpu_info() ?& ARRAY['level', 'best', 'requested', 'cpu', 'blas_core'] AS has_keys,
       tfm_cpu_info()->>'requested' AS requested;
SHOW pg_tfm.cpu_features;
-- not a level: refused (22023), the setting unchanged
SET pg_tfm.cpu_features = 'avx1024';
SHOW pg_tfm.cpu_features;

-- each level runs at itself, or at the CPU's best when that is lower
CREATE TEMP TABLE levels (rank int, name text);
INSERT INTO levels VALUES (0, 'scalar'), (1, 'avx2'), (2, 'avx512'), (3, 'avx512vnni'), (4, 'avx512bf16');
CREATE TEMP TABLE per_level (name text, runs_at_expected bool, texts int, within_1e4 int, same_length int);
DO $$
DECLARE
    l record;
    info jsonb;
BEGIN
    FOR l IN SELECT * FROM levels ORDER BY rank LOOP
        PERFORM set_config('pg_tfm.cpu_features', l.name, true);
        info := tfm_cpu_info();
        INSERT INTO per_level
        SELECT l.name,
               info->>'level' = (SELECT v.name FROM levels v
                                 WHERE v.rank = least(l.rank, (SELECT b.rank FROM levels b WHERE b.name = info->>'best'))),
               count(*),
               count(*) FILTER (WHERE d.maxdiff < 1e-4),
               count(*) FILTER (WHERE d.same_length)
        FROM (SELECT (SELECT max(abs(a - b::float8))
                      FROM unnest(e, ARRAY(SELECT jsonb_array_elements_text(j->'embedding')::float8)) t(a, b)) AS maxdiff,
                     cardinality(e) = jsonb_array_length(j->'embedding') AS same_length
              FROM (SELECT j, tfm_embed(j->>'text', 'minilm') AS e FROM ge16) s) d;
    END LOOP;
END $$;
SELECT p.* FROM per_level p JOIN levels USING (name) ORDER BY rank;
-- set_config(..., true) ended with the DO's transaction
SHOW pg_tfm.cpu_features;
SET pg_tfm.cpu_features = 'scalar';
SELECT tfm_cpu_info()->>'level' AS level, tfm_cpu_info()->>'requested' AS requested;
RESET pg_tfm.cpu_features;
SELECT tfm_cpu_info()->>'level' = tfm_cpu_info()->>'best' AS auto_is_best;
