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

-- ==== issue 13: checks before the work ====
-- tfm._train_step (a test aid: one forward and backward pass of any batch) is for superusers and
-- roles they grant it to; it also checks pg_tfm.max_memory before allocating
REVOKE ALL ON FUNCTION tfm._train_step(text, int[], int[], int[]) FROM PUBLIC;

-- tfm_flag checks all its arguments before scoring: a threshold that is not a number in [0, 1]
-- ('NaN', '2', 'abc') and a flag column that is not boolean are refused at the first row (22023,
-- 42804), not taken as "never flag" or written as text. (CREATE TRIGGER cannot check them: a
-- trigger's arguments reach the function only when it fires.)
CREATE OR REPLACE FUNCTION tfm_flag() RETURNS trigger AS $$
DECLARE
    doc jsonb;
    score real;
    threshold numeric := 0.5;
    flag_type oid;
BEGIN
    IF TG_NARGS < 4 OR TG_NARGS > 5 THEN
        RAISE EXCEPTION 'tfm_flag needs (model, text column, flag column, label [, threshold])'
            USING ERRCODE = '22023';
    END IF;
    IF TG_LEVEL <> 'ROW' OR TG_WHEN <> 'BEFORE' THEN
        RAISE EXCEPTION 'tfm_flag must be a BEFORE ... FOR EACH ROW trigger' USING ERRCODE = '39P01';
    END IF;
    IF TG_NARGS = 5 THEN
        IF TG_ARGV[4] IS NULL
           OR TG_ARGV[4] !~ '^\s*([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,3})?\s*$' THEN
            RAISE EXCEPTION 'tfm_flag threshold must be a number between 0 and 1, not "%"', TG_ARGV[4]
                USING ERRCODE = '22023', HINT = 'Pass the threshold as the fifth trigger argument, for example ''0.8''.';
        END IF;
        threshold := TG_ARGV[4]::numeric;
        IF threshold > 1 THEN
            RAISE EXCEPTION 'tfm_flag threshold must be a number between 0 and 1, not "%"', TG_ARGV[4]
                USING ERRCODE = '22023', HINT = 'The threshold is compared with a probability (tfm_score).';
        END IF;
    END IF;
    doc := pg_catalog.to_jsonb(NEW);
    IF NOT doc ? TG_ARGV[1] OR NOT doc ? TG_ARGV[2] THEN
        RAISE EXCEPTION 'table %.% has no column % or %', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_ARGV[1], TG_ARGV[2]
            USING ERRCODE = '42703';
    END IF;
    -- the column's type, or a domain's base type (a domain over boolean is a boolean column)
    SELECT CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END INTO flag_type
    FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
    WHERE a.attrelid = TG_RELID AND a.attname = TG_ARGV[2]::name AND a.attnum > 0 AND NOT a.attisdropped;
    IF flag_type IS DISTINCT FROM 'pg_catalog.bool'::pg_catalog.regtype THEN
        RAISE EXCEPTION 'tfm_flag flag column % of table %.% must be boolean, not %', TG_ARGV[2], TG_TABLE_SCHEMA,
            TG_TABLE_NAME, pg_catalog.format_type(flag_type, NULL) USING ERRCODE = '42804';
    END IF;
    score := @extschema@.tfm_score(doc->>TG_ARGV[1], TG_ARGV[0], TG_ARGV[3]);
    RETURN pg_catalog.jsonb_populate_record(NEW, pg_catalog.jsonb_build_object(TG_ARGV[2],
               score >= threshold::real));
END $$ LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp;
