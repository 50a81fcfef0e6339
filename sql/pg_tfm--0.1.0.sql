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
    config       jsonb NOT NULL,
    tokenizer    jsonb NOT NULL,
    options      jsonb NOT NULL DEFAULT '{}',
    metrics      jsonb,
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
SELECT name, version, architecture, task, labels, dim, max_tokens, params, sha256,
       created_at, metrics, options, owner, id
FROM tfm.model;

GRANT USAGE ON SCHEMA tfm TO PUBLIC;
GRANT SELECT ON tfm.models TO PUBLIC;

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

-- what this backend has cached
CREATE FUNCTION tfm_cache(OUT model_id bigint, OUT name text, OUT sha256 text, OUT path text,
                          OUT bytes bigint, OUT hits bigint)
RETURNS SETOF record AS 'MODULE_PATHNAME', 'tfm_cache' LANGUAGE C VOLATILE;
