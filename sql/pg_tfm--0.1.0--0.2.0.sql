-- pg_tfm 0.1.0 -> 0.2.0 (ALTER EXTENSION pg_tfm UPDATE TO '0.2.0')
-- CREATE EXTENSION pg_tfm runs pg_tfm--0.1.0.sql and then this script, so a new install and an
-- upgraded one end with the same objects. 0.1.0 is released: never edit its script, add here.
\echo Use "ALTER EXTENSION pg_tfm UPDATE TO '0.2.0'" to load this file. \quit

-- The forms that name their model are IMMUTABLE: postgres_fdw ships only immutable functions to
-- the remote server, and generated columns and expression indexes accept only immutable ones. A
-- model name is treated as a constant: re-importing or re-training under the same name changes
-- results, so rebuild indexes and generated columns afterwards (as after changing a text search
-- dictionary). The forms without a model argument read pg_tfm.default_model and stay STABLE.
ALTER FUNCTION tfm_tokenize(text, text) IMMUTABLE;
ALTER FUNCTION tfm_embed(text, text) IMMUTABLE;
ALTER FUNCTION tfm_embed(text[], text) IMMUTABLE;
ALTER FUNCTION tfm_classify(text, text) IMMUTABLE;
ALTER FUNCTION tfm_score(text, text, text) IMMUTABLE;
ALTER FUNCTION tfm_predict(text, text) IMMUTABLE;

-- ==== privileges on models (issue #6) ====
-- Who may use a model is kept per model name, so it holds for every version of the name. No row
-- means the default: usable by PUBLIC (like EXECUTE on a new function). Owners (the owner column of
-- tfm.model, members of that role) and superusers may always use, replace, grant and drop a model.
-- grantees is regrole[]: dumps carry role names and pg_upgrade keeps role oids (aclitem[] would
-- block pg_upgrade to PostgreSQL 16, which changed aclitem's format).
CREATE TABLE tfm.model_acl (
    name     text PRIMARY KEY,
    public   boolean NOT NULL DEFAULT true,   -- usable by every role
    grantees regrole[] NOT NULL DEFAULT '{}'  -- and by these roles and their members
);
SELECT pg_catalog.pg_extension_config_dump('tfm.model_acl', '');
GRANT SELECT ON tfm.model_acl TO PUBLIC;

-- the weights, heads, vocabularies and configs are read by pg_tfm's C code as the extension owner
-- after it checked the caller's right; no direct reads that would bypass tfm_revoke. tfm.models
-- (the listing, a view owned by the extension owner) stays readable by everyone.
REVOKE SELECT ON tfm.model, tfm.model_data FROM PUBLIC;

-- let role (and its members) use every version of model; owner or superuser only (42501)
CREATE FUNCTION tfm_grant(model text, role regrole) RETURNS void
AS 'MODULE_PATHNAME', 'tfm_grant' LANGUAGE C VOLATILE STRICT;
-- the same with the role as text: 'public' means every role
CREATE FUNCTION tfm_grant(model text, role text) RETURNS void
AS 'MODULE_PATHNAME', 'tfm_grant_text' LANGUAGE C VOLATILE STRICT;
CREATE FUNCTION tfm_revoke(model text, role regrole) RETURNS void
AS 'MODULE_PATHNAME', 'tfm_revoke' LANGUAGE C VOLATILE STRICT;
CREATE FUNCTION tfm_revoke(model text, role text) RETURNS void
AS 'MODULE_PATHNAME', 'tfm_revoke_text' LANGUAGE C VOLATILE STRICT;
-- whether role (default: the current user) may use model; NULL for a model that does not exist
CREATE FUNCTION tfm_has_usage(model text, role regrole DEFAULT NULL) RETURNS boolean
AS 'MODULE_PATHNAME', 'tfm_has_usage' LANGUAGE C STABLE;

-- the trigger runs with its caller's rights (not SECURITY DEFINER), on behalf of whoever writes the
-- table: every call is schema-qualified and search_path holds only pg_catalog, so a function a
-- user creates in a writable schema (say to_jsonb(their_table) in public) is never picked instead
CREATE OR REPLACE FUNCTION tfm_flag() RETURNS trigger AS $$
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
    doc := pg_catalog.to_jsonb(NEW);
    IF NOT doc ? TG_ARGV[1] OR NOT doc ? TG_ARGV[2] THEN
        RAISE EXCEPTION 'table %.% has no column % or %', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_ARGV[1], TG_ARGV[2]
            USING ERRCODE = '42703';
    END IF;
    score := @extschema@.tfm_score(doc->>TG_ARGV[1], TG_ARGV[0], TG_ARGV[3]);
    RETURN pg_catalog.jsonb_populate_record(NEW, pg_catalog.jsonb_build_object(TG_ARGV[2],
               score >= COALESCE(TG_ARGV[4], '0.5')::real));  -- COALESCE is syntax, not a function
END $$ LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp;

-- ==== issue 13: search_path (no object of another role runs instead of a built-in or ours) ====
-- The SQL and PL/pgSQL functions run with search_path pg_catalog, pg_temp (functions and operators
-- resolve in pg_catalog only; pg_temp is never searched for them), and name what they call with
-- its schema. Views are bound when created, with the path of this script (the extension's schema,
-- pg_catalog searched first): text || int has no exact match in pg_catalog, so an exact
-- ||(text, int) in a schema on that path would have been bound; both views are re-created with
-- every operator and function qualified. The C code runs its own statements with the same path
-- (TfmSafePathBegin); only the caller's own query of tfm_train and tfm_evaluate uses the caller's.

-- import a Hugging Face model directory from the server's filesystem
CREATE OR REPLACE FUNCTION tfm_import(name text, path text, options jsonb DEFAULT '{}')
RETURNS tfm.models AS $$
DECLARE
    r tfm.models;
    new_id pg_catalog.int8 := tfm._import_path($1, $2, $3);
BEGIN
    SELECT * INTO r FROM tfm.models m WHERE m.id OPERATOR(pg_catalog.=) new_id;
    RETURN r;
END $$ LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp;

-- import a model from client-supplied content
CREATE OR REPLACE FUNCTION tfm_import(name text, config jsonb, tokenizer jsonb, weights bytea, options jsonb DEFAULT '{}')
RETURNS tfm.models AS $$
DECLARE
    r tfm.models;
    new_id pg_catalog.int8 := tfm._import_content($1, $2, $3, $4, $5);
BEGIN
    SELECT * INTO r FROM tfm.models m WHERE m.id OPERATOR(pg_catalog.=) new_id;
    RETURN r;
END $$ LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE VIEW tfm.models AS
SELECT m.name, m.version, m.architecture, m.task, m.labels, m.dim, m.max_tokens, m.params, m.sha256,
       m.created_at, m.metrics, m.options, m.owner, m.id,
       b.name OPERATOR(pg_catalog.||) '@'::pg_catalog.text
              OPERATOR(pg_catalog.||) b.version::pg_catalog.text AS base,
       m.training
FROM tfm.model m LEFT JOIN tfm.model b ON b.id OPERATOR(pg_catalog.=) m.base_id;

CREATE OR REPLACE VIEW tfm.cache AS
SELECT m.name, m.version, m.id AS model_id, f.bytes, f.modified, f.mapped_by
FROM tfm.model m
JOIN @extschema@.tfm_cache_files() f
  ON f.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d
                                        WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
 AND f.model_id OPERATOR(pg_catalog.=) COALESCE(m.encoder_id, m.id)
 AND f.cache_key OPERATOR(pg_catalog.=) (SELECT e.cache_key::pg_catalog.text FROM tfm.model e
                                         WHERE e.id OPERATOR(pg_catalog.=) COALESCE(m.encoder_id, m.id));
