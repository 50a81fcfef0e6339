-- pg_tfm 0.1.0: transformer models inside PostgreSQL
\echo Use "CREATE EXTENSION pg_tfm" to load this file. \quit

CREATE SCHEMA tfm;

-- one row per model version; models are immutable once imported
CREATE TABLE tfm.model (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL CHECK (name ~ '^[A-Za-z0-9_.:-]{1,63}$'),
    version      int NOT NULL,
    architecture text NOT NULL,
    task         text NOT NULL,
    labels       text[],
    dim          int NOT NULL,
    max_tokens   int NOT NULL,
    params       bigint NOT NULL,
    sha256       text NOT NULL,
    cache_key    uuid NOT NULL DEFAULT gen_random_uuid(),  -- names this version's cache file
    config       jsonb NOT NULL,
    tokenizer    jsonb NOT NULL,
    options      jsonb NOT NULL DEFAULT '{}',
    metrics      jsonb,
    base_id      bigint REFERENCES tfm.model (id) ON DELETE SET NULL,
    encoder_id   bigint REFERENCES tfm.model (id),   -- whose weights the encoder uses; NULL = its own
    head         bytea,                              -- fp32 W (K,C) then b (K) of a trained head
    training     jsonb,                              -- options, timings and history of tfm_train
    owner        name NOT NULL DEFAULT current_user,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (name, version)
);

-- the weights (safetensors bytes as imported), in 16 MB chunks
CREATE TABLE tfm.model_data (
    model_id bigint NOT NULL REFERENCES tfm.model (id) ON DELETE CASCADE,
    seq      int NOT NULL,
    data     bytea NOT NULL,
    PRIMARY KEY (model_id, seq)
);
ALTER TABLE tfm.model_data ALTER COLUMN data SET STORAGE EXTERNAL;

SELECT pg_catalog.pg_extension_config_dump('tfm.model', '');
SELECT pg_catalog.pg_extension_config_dump('tfm.model_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tfm.model_data', '');

CREATE VIEW tfm.models AS
SELECT m.name, m.version, m.architecture, m.task, m.labels, m.dim, m.max_tokens, m.params, m.sha256,
       m.created_at, m.metrics, m.options, m.owner, m.id,
       b.name || '@' || b.version AS base, m.training
FROM tfm.model m LEFT JOIN tfm.model b ON b.id = m.base_id;

GRANT USAGE ON SCHEMA tfm TO PUBLIC;
GRANT SELECT ON tfm.models TO PUBLIC;
-- every user may use every model (per-model privileges are future work); importing, training
-- and dropping need INSERT/DELETE on these tables, which only the extension owner has by default
GRANT SELECT ON tfm.model, tfm.model_data TO PUBLIC;

CREATE FUNCTION tfm._import_path(name text, path text, options jsonb)
RETURNS bigint AS 'MODULE_PATHNAME', 'tfm_import_path' LANGUAGE C VOLATILE;

CREATE FUNCTION tfm._import_content(name text, config jsonb, tokenizer jsonb, weights bytea, options jsonb)
RETURNS bigint AS 'MODULE_PATHNAME', 'tfm_import_content' LANGUAGE C VOLATILE;

-- import a Hugging Face model directory from the server's filesystem
CREATE FUNCTION tfm_import(name text, path text, options jsonb DEFAULT '{}')
RETURNS tfm.models AS $$
DECLARE
    r tfm.models;
    new_id bigint := tfm._import_path($1, $2, $3);
BEGIN
    SELECT * INTO r FROM tfm.models m WHERE m.id = new_id;
    RETURN r;
END $$ LANGUAGE plpgsql VOLATILE;

-- import a model from client-supplied content
CREATE FUNCTION tfm_import(name text, config jsonb, tokenizer jsonb, weights bytea, options jsonb DEFAULT '{}')
RETURNS tfm.models AS $$
DECLARE
    r tfm.models;
    new_id bigint := tfm._import_content($1, $2, $3, $4, $5);
BEGIN
    SELECT * INTO r FROM tfm.models m WHERE m.id = new_id;
    RETURN r;
END $$ LANGUAGE plpgsql VOLATILE;

CREATE FUNCTION tfm_drop(name text) RETURNS void
AS 'MODULE_PATHNAME', 'tfm_drop' LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION tfm_tokenize(input text) RETURNS int[]
AS 'MODULE_PATHNAME', 'tfm_tokenize' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tfm_tokenize(input text, model text) RETURNS int[]
AS 'MODULE_PATHNAME', 'tfm_tokenize' LANGUAGE C STABLE PARALLEL SAFE;

CREATE FUNCTION tfm_embed(input text) RETURNS real[]
AS 'MODULE_PATHNAME', 'tfm_embed' LANGUAGE C STABLE STRICT PARALLEL SAFE COST 10000;
CREATE FUNCTION tfm_embed(input text, model text) RETURNS real[]
AS 'MODULE_PATHNAME', 'tfm_embed' LANGUAGE C STABLE PARALLEL SAFE COST 10000;
-- bulk path: many texts in one call, encoded in length-sorted batches
CREATE FUNCTION tfm_embed(inputs text[], model text DEFAULT NULL, OUT ordinality int, OUT embedding real[])
RETURNS SETOF record AS 'MODULE_PATHNAME', 'tfm_embed_many' LANGUAGE C STABLE PARALLEL SAFE COST 10000 ROWS 100;

-- the cache files on disk (every database) and how many server processes map each
CREATE FUNCTION tfm_cache_files(OUT database oid, OUT model_id bigint, OUT cache_key text, OUT bytes bigint,
                                OUT modified timestamptz, OUT mapped_by int)
RETURNS SETOF record AS 'MODULE_PATHNAME', 'tfm_cache_files' LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION tfm_cache_files() FROM PUBLIC;

-- the models of this database with their cache file, if materialised
CREATE VIEW tfm.cache AS
SELECT m.name, m.version, m.id AS model_id, f.bytes, f.modified, f.mapped_by
FROM tfm.model m
JOIN tfm_cache_files() f ON f.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                         AND f.model_id = coalesce(m.encoder_id, m.id)
                         AND f.cache_key = (SELECT e.cache_key::text FROM tfm.model e WHERE e.id = coalesce(m.encoder_id, m.id));

-- what this backend has cached
CREATE FUNCTION tfm_cache(OUT model_id bigint, OUT name text, OUT sha256 text, OUT path text,
                          OUT bytes bigint, OUT hits bigint)
RETURNS SETOF record AS 'MODULE_PATHNAME', 'tfm_cache' LANGUAGE C VOLATILE;

CREATE FUNCTION tfm_classify(input text) RETURNS text
AS 'MODULE_PATHNAME', 'tfm_classify' LANGUAGE C STABLE STRICT PARALLEL SAFE COST 10000;
CREATE FUNCTION tfm_classify(input text, model text) RETURNS text
AS 'MODULE_PATHNAME', 'tfm_classify' LANGUAGE C STABLE PARALLEL SAFE COST 10000;
CREATE FUNCTION tfm_score(input text, model text, label text) RETURNS real
AS 'MODULE_PATHNAME', 'tfm_score' LANGUAGE C STABLE PARALLEL SAFE COST 10000;
CREATE FUNCTION tfm_predict(input text) RETURNS real
AS 'MODULE_PATHNAME', 'tfm_predict' LANGUAGE C STABLE STRICT PARALLEL SAFE COST 10000;
CREATE FUNCTION tfm_predict(input text, model text) RETURNS real
AS 'MODULE_PATHNAME', 'tfm_predict' LANGUAGE C STABLE PARALLEL SAFE COST 10000;

-- train a new model (or a new version of name) from base on the rows of query
CREATE PROCEDURE tfm_train(name text, base text, query text, task text DEFAULT 'classification',
                           options jsonb DEFAULT '{}')
AS 'MODULE_PATHNAME', 'tfm_train' LANGUAGE C;

CREATE FUNCTION tfm_evaluate(model text, query text) RETURNS jsonb
AS 'MODULE_PATHNAME', 'tfm_evaluate' LANGUAGE C STABLE;

-- the metric code of tfm_evaluate on given labels or values (for checks by hand)
CREATE FUNCTION tfm._classification_metrics(truth text[], pred text[]) RETURNS jsonb
AS 'MODULE_PATHNAME', 'tfm_classification_metrics' LANGUAGE C IMMUTABLE STRICT;
CREATE FUNCTION tfm._regression_metrics(truth float8[], pred float8[]) RETURNS jsonb
AS 'MODULE_PATHNAME', 'tfm_regression_metrics' LANGUAGE C IMMUTABLE STRICT;

-- one training step of model + a fixed linear head, as gradient statistics (tests against PyTorch)
CREATE FUNCTION tfm._train_step(model text, ids int[], lens int[], labels int[]) RETURNS jsonb
AS 'MODULE_PATHNAME', 'tfm_train_step' LANGUAGE C STABLE STRICT;

-- running tfm_train calls of every session (best effort, from progress files)
CREATE FUNCTION tfm_training_progress(OUT pid int, OUT progress jsonb) RETURNS SETOF record
AS 'MODULE_PATHNAME', 'tfm_training_progress' LANGUAGE C VOLATILE;

-- GPT-2 text generation: the continuation of prompt (greedy unless options ask for sampling)
CREATE FUNCTION tfm_generate(prompt text, model text, max_tokens int DEFAULT 50, options jsonb DEFAULT '{}')
RETURNS text AS 'MODULE_PATHNAME', 'tfm_generate' LANGUAGE C VOLATILE PARALLEL SAFE COST 100000;

-- internal, for tests and benchmarks: generated ids and next-token logits of GPT-2 models
CREATE FUNCTION tfm._gpt2_generate(prompt_ids int[], model text, max_tokens int DEFAULT 50, options jsonb DEFAULT '{}')
RETURNS int[] AS 'MODULE_PATHNAME', 'tfm_gpt2_generate_ids' LANGUAGE C VOLATILE PARALLEL SAFE;
CREATE FUNCTION tfm._gpt2_logits(prompt_ids int[], model text, kv_cache bool)
RETURNS real[] AS 'MODULE_PATHNAME', 'tfm_gpt2_logits' LANGUAGE C STABLE STRICT PARALLEL SAFE;

-- trigger function: set a boolean flag column from a classifier's score
-- CREATE TRIGGER t BEFORE INSERT OR UPDATE ON mail FOR EACH ROW
--   EXECUTE FUNCTION tfm_flag('spam', 'body', 'flagged', 'spam', '0.5');
CREATE FUNCTION tfm_flag() RETURNS trigger AS $$
DECLARE
    doc jsonb;
    score real;
BEGIN
    IF TG_NARGS < 4 OR TG_NARGS > 5 THEN
        RAISE EXCEPTION 'tfm_flag needs (model, text column, flag column, label [, threshold])'
            USING ERRCODE = '22023';
    END IF;
    IF TG_LEVEL <> 'ROW' OR TG_WHEN <> 'BEFORE' THEN
        RAISE EXCEPTION 'tfm_flag must be a BEFORE ... FOR EACH ROW trigger' USING ERRCODE = '39P01';
    END IF;
    doc := to_jsonb(NEW);
    IF NOT doc ? TG_ARGV[1] OR NOT doc ? TG_ARGV[2] THEN
        RAISE EXCEPTION 'table %.% has no column % or %', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_ARGV[1], TG_ARGV[2]
            USING ERRCODE = '42703';
    END IF;
    score := tfm_score(doc->>TG_ARGV[1], TG_ARGV[0], TG_ARGV[3]);
    RETURN jsonb_populate_record(NEW, jsonb_build_object(TG_ARGV[2],
               score >= coalesce(TG_ARGV[4], '0.5')::real));
END $$ LANGUAGE plpgsql SET search_path = pg_catalog, @extschema@;
