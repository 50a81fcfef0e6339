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

-- ==== issue 13: model owners and grantees by role oid ====
-- 0.1.0 kept the owner as a role name: a dropped role's models passed to any new role of that name.
-- The owner is now a regrole (an oid: dumps carry the role's name, pg_upgrade keeps role oids), and
-- a role that owns models, or holds a tfm_grant on one, holds SELECT on the marker view
-- tfm.owner_of_models, resp. tfm.grantee_of_models. PostgreSQL records those privileges in
-- pg_shdepend, so DROP ROLE fails (2BP01, "privileges for view tfm.owner_of_models") until the models
-- are dropped or handed over with tfm_reassign_owned(). DROP OWNED BY revokes the markers; models
-- whose owner is then dropped are managed by superusers only and go to the extension's owner at the
-- next change of the catalog; grants to a dropped role are forgotten then. A role created later with
-- the old name has another oid and never inherits them.
ALTER TABLE tfm.model ADD COLUMN owner_oid regrole;
-- the owner names of 0.1.0 become oids; a name no role has any more goes to the extension's owner
DO $$
DECLARE
    missing text;
BEGIN
    SELECT pg_catalog.string_agg(DISTINCT m.owner::text, ', ') INTO missing FROM tfm.model m
    WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) m.owner);
    IF missing IS NOT NULL THEN
        RAISE WARNING 'pg_tfm: models of roles that no longer exist (%) now belong to the extension''s owner', missing;
    END IF;
END $$;
UPDATE tfm.model m SET owner_oid = COALESCE(
    (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) m.owner),
    (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) 'tfm.model'::pg_catalog.regclass))::regrole;
ALTER TABLE tfm.model ALTER COLUMN owner_oid SET NOT NULL,
                      ALTER COLUMN owner_oid SET DEFAULT pg_catalog.to_regrole(pg_catalog.quote_ident(CURRENT_USER));
-- tfm.models keeps its owner column: the role's name (unknown (OID=n) for a dropped role)
-- (every operator named with its schema: see the search_path section below)
CREATE OR REPLACE VIEW tfm.models AS
SELECT m.name, m.version, m.architecture, m.task, m.labels, m.dim, m.max_tokens, m.params, m.sha256,
       m.created_at, m.metrics, m.options, pg_catalog.pg_get_userbyid(m.owner_oid) AS owner, m.id,
       b.name OPERATOR(pg_catalog.||) '@'::pg_catalog.text
              OPERATOR(pg_catalog.||) b.version::pg_catalog.text AS base,
       m.training
FROM tfm.model m LEFT JOIN tfm.model b ON b.id OPERATOR(pg_catalog.=) m.base_id;
ALTER TABLE tfm.model DROP COLUMN owner;
ALTER TABLE tfm.model RENAME COLUMN owner_oid TO owner;

-- markers: SELECT here is held by every role that owns models (resp. may use models by tfm_grant),
-- so that DROP ROLE fails while it does; each shows the current user its models (resp. grants)
CREATE VIEW tfm.owner_of_models WITH (security_barrier) AS
SELECT m.name, m.version FROM tfm.model m
WHERE m.owner OPERATOR(pg_catalog.=) pg_catalog.to_regrole(pg_catalog.quote_ident(CURRENT_USER));
COMMENT ON VIEW tfm.owner_of_models IS
  'roles with SELECT here own pg_tfm models: tfm_drop() them or hand them over with tfm_reassign_owned() before DROP ROLE';
CREATE VIEW tfm.grantee_of_models WITH (security_barrier) AS
SELECT a.name FROM tfm.model_acl a
WHERE pg_catalog.to_regrole(pg_catalog.quote_ident(CURRENT_USER)) OPERATOR(pg_catalog.=) ANY (a.grantees);
COMMENT ON VIEW tfm.grantee_of_models IS
  'roles with SELECT here may use pg_tfm models by tfm_grant(): tfm_revoke() them (or DROP OWNED BY) before DROP ROLE';
-- the owners of models at the time of the upgrade get their marker (the extension's owner needs none)
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT DISTINCT m.owner FROM tfm.model m, pg_catalog.pg_class c
             WHERE c.oid OPERATOR(pg_catalog.=) 'tfm.model'::pg_catalog.regclass
               AND m.owner::pg_catalog.oid OPERATOR(pg_catalog.<>) c.relowner LOOP
        EXECUTE pg_catalog.format('GRANT SELECT ON tfm.owner_of_models TO %s', r.owner);
    END LOOP;
END $$;

-- give every model old_role owns (every version) to new_role; superuser, or a role with the
-- privileges of both (as REASSIGN OWNED); old_role may be the oid of a dropped role. Returns how many
-- versions changed owner
CREATE FUNCTION tfm_reassign_owned(old_role regrole, new_role regrole) RETURNS bigint
AS 'MODULE_PATHNAME', 'tfm_reassign_owned' LANGUAGE C VOLATILE STRICT;

-- drop a model and, with cascade, the models trained on it that use its encoder, whoever owns them
-- (as DROP ... CASCADE does); without it such models make the drop fail (2BP01, naming them and owners)
CREATE FUNCTION tfm_drop(name text, cascade boolean) RETURNS void
AS 'MODULE_PATHNAME', 'tfm_drop' LANGUAGE C VOLATILE STRICT;

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

-- tfm.models was re-created qualified in the owner section above
CREATE OR REPLACE VIEW tfm.cache AS
SELECT m.name, m.version, m.id AS model_id, f.bytes, f.modified, f.mapped_by
FROM tfm.model m
JOIN @extschema@.tfm_cache_files() f
  ON f.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d
                                        WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
 AND f.model_id OPERATOR(pg_catalog.=) COALESCE(m.encoder_id, m.id)
 AND f.cache_key OPERATOR(pg_catalog.=) (SELECT e.cache_key::pg_catalog.text FROM tfm.model e
                                         WHERE e.id OPERATOR(pg_catalog.=) COALESCE(m.encoder_id, m.id));

-- ==== issue 13: checks before the work ====
-- tfm._train_step (a test aid: one forward and backward pass of any batch) is for superusers and
-- roles they grant it to; it also checks pg_tfm.max_memory before allocating
REVOKE ALL ON FUNCTION tfm._train_step(text, int[], int[], int[]) FROM PUBLIC;

-- (tfm_flag's argument checks are in its definition, in the issue 17 section below)

-- ==== issue 15: sequence-classification checkpoints and cross-encoders ====
-- BertForSequenceClassification checkpoints import with their head (task classification, regression
-- or cross-encoder); a cross-encoder scores (query, document) pairs as [CLS] a [SEP] b [SEP].
CREATE FUNCTION tfm_tokenize(a text, b text, model text) RETURNS int[]
AS 'MODULE_PATHNAME', 'tfm_tokenize_pair' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION tfm_score_pair(a text, b text, model text) RETURNS real
AS 'MODULE_PATHNAME', 'tfm_score_pair' LANGUAGE C IMMUTABLE PARALLEL SAFE COST 10000;
CREATE FUNCTION tfm_rerank(query text, documents text[], model text DEFAULT NULL,
                           OUT ordinality bigint, OUT score real)
RETURNS SETOF record AS 'MODULE_PATHNAME', 'tfm_rerank' LANGUAGE C IMMUTABLE PARALLEL SAFE COST 10000 ROWS 100;

-- ==== issue 15: query/passage prefixes ====
-- the import options prefixes ({"query": "query: ", ...}) and default_prefix are stored in the model's
-- options; tfm_embed(input, model, kind) embeds the prefix named kind followed by input (kind NULL: the
-- default prefix, if the model has one, as tfm_embed(input, model) does)
CREATE FUNCTION tfm_embed(input text, model text, kind text) RETURNS real[]
AS 'MODULE_PATHNAME', 'tfm_embed' LANGUAGE C IMMUTABLE PARALLEL SAFE COST 10000;
CREATE FUNCTION tfm_embed(inputs text[], model text, kind text, OUT ordinality int, OUT embedding real[])
RETURNS SETOF record AS 'MODULE_PATHNAME', 'tfm_embed_many' LANGUAGE C IMMUTABLE PARALLEL SAFE COST 10000 ROWS 100;

-- ==== issue 14: token strings ====
-- tfm_tokens(input, model): the token strings of tfm_tokenize's ids (Hugging Face's encoding.tokens)
CREATE FUNCTION tfm_tokens(input text, model text DEFAULT NULL) RETURNS text[]
AS 'MODULE_PATHNAME', 'tfm_tokens' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- ==== issue 17: tfm_evaluate by group (fairness) ====
-- tfm_evaluate(model, query, options): a third column of the query groups the rows: the result gets
-- "groups" (each group's metrics) and, for a positive label, "fairness" (Fairlearn's gaps between
-- the groups). The two-argument form of 0.1.0 stays as it is (same object, grants and dependent
-- views) and means options '{}': an options argument with DEFAULT '{}' beside it would make every
-- two-argument call ambiguous (42725), so the new form has none.
CREATE FUNCTION tfm_evaluate(model text, query text, options jsonb) RETURNS jsonb
AS 'MODULE_PATHNAME', 'tfm_evaluate' LANGUAGE C STABLE;

-- ==== issue 17: MLPs on feature vectors ====
-- CALL tfm_train(name, 'mlp', query, task, options) trains a multi-layer perceptron on rows
-- (features real[] or float8[], label or target); its weights, shape and standardisation live in the
-- model's tfm.model row (architecture 'mlp', head = parameters, options = feature_mean/feature_std),
-- so versions, grants, pg_dump and replicas treat it as any trained model. These overloads score
-- feature vectors; the text forms refuse MLP models (42809) and these refuse text models.
CREATE FUNCTION tfm_classify(features real[], model text) RETURNS text
AS 'MODULE_PATHNAME', 'tfm_classify_features' LANGUAGE C IMMUTABLE PARALLEL SAFE COST 100;
CREATE FUNCTION tfm_classify(features float8[], model text) RETURNS text
AS 'MODULE_PATHNAME', 'tfm_classify_features' LANGUAGE C IMMUTABLE PARALLEL SAFE COST 100;
CREATE FUNCTION tfm_score(features real[], model text, label text) RETURNS real
AS 'MODULE_PATHNAME', 'tfm_score_features' LANGUAGE C IMMUTABLE PARALLEL SAFE COST 100;
CREATE FUNCTION tfm_score(features float8[], model text, label text) RETURNS real
AS 'MODULE_PATHNAME', 'tfm_score_features' LANGUAGE C IMMUTABLE PARALLEL SAFE COST 100;
CREATE FUNCTION tfm_predict(features real[], model text) RETURNS real
AS 'MODULE_PATHNAME', 'tfm_predict_features' LANGUAGE C IMMUTABLE PARALLEL SAFE COST 100;
CREATE FUNCTION tfm_predict(features float8[], model text) RETURNS real
AS 'MODULE_PATHNAME', 'tfm_predict_features' LANGUAGE C IMMUTABLE PARALLEL SAFE COST 100;
-- bulk forms: features is a two-dimensional array (one row per vector, for example
-- array_agg(features ORDER BY id)); the result has one element per row, in order
CREATE FUNCTION tfm_classify_many(features real[], model text) RETURNS text[]
AS 'MODULE_PATHNAME', 'tfm_classify_features_many' LANGUAGE C IMMUTABLE PARALLEL SAFE COST 1000;
CREATE FUNCTION tfm_classify_many(features float8[], model text) RETURNS text[]
AS 'MODULE_PATHNAME', 'tfm_classify_features_many' LANGUAGE C IMMUTABLE PARALLEL SAFE COST 1000;
CREATE FUNCTION tfm_score_many(features real[], model text, label text) RETURNS real[]
AS 'MODULE_PATHNAME', 'tfm_score_features_many' LANGUAGE C IMMUTABLE PARALLEL SAFE COST 1000;
CREATE FUNCTION tfm_score_many(features float8[], model text, label text) RETURNS real[]
AS 'MODULE_PATHNAME', 'tfm_score_features_many' LANGUAGE C IMMUTABLE PARALLEL SAFE COST 1000;
CREATE FUNCTION tfm_predict_many(features real[], model text) RETURNS real[]
AS 'MODULE_PATHNAME', 'tfm_predict_features_many' LANGUAGE C IMMUTABLE PARALLEL SAFE COST 1000;
CREATE FUNCTION tfm_predict_many(features float8[], model text) RETURNS real[]
AS 'MODULE_PATHNAME', 'tfm_predict_features_many' LANGUAGE C IMMUTABLE PARALLEL SAFE COST 1000;

-- tfm_flag: the trigger runs with its caller's rights (not SECURITY DEFINER), on behalf of whoever writes the
-- table. It is C (src/flag.c): it resolves no name through search_path (so a function a user creates in a
-- writable schema, say to_jsonb(their_table) in public, can never run instead of a built-in), checks its
-- arguments and finds its columns once per statement, and scores each row with the C code behind
-- tfm_score. It checks all its arguments before scoring: a threshold that is not a number in [0, 1]
-- ('NaN', '2', 'abc') and a flag column that is not boolean are refused at the first row (22023,
-- 42804), not taken as "never flag" or written as text. (CREATE TRIGGER cannot check them: a
-- trigger's arguments reach the function only when it fires.)
-- tfm_flag reads its input column as a feature vector when the column is an array (real[], float8[],
-- or any array of numbers), else as text, as before. The input argument may also list numeric columns
-- separated by commas ('amount,age,velocity'): their values, in that order, are the feature vector.
-- (A generated column cannot feed a BEFORE trigger: PostgreSQL computes it after BEFORE triggers.)
-- (0.2.0 development had a PL/pgSQL body here; sql/flag.sql keeps it as its reference.)
CREATE OR REPLACE FUNCTION tfm_flag() RETURNS trigger
AS 'MODULE_PATHNAME', 'tfm_flag' LANGUAGE C;

-- ==== issue 16: run-time CPU dispatch and reduced precision ====
-- which SIMD level pg_tfm's kernels run at in this session (pg_tfm.cpu_features caps it), the best
-- the CPU and OS allow (CPUID + XGETBV), the CPU's features and OpenBLAS's kernel set (loads OpenBLAS)
CREATE FUNCTION tfm_cpu_info() RETURNS jsonb
AS 'MODULE_PATHNAME', 'tfm_cpu_info' LANGUAGE C STABLE PARALLEL SAFE;

-- the weights' precision (import option or tfm_train option precision; fp32 unless set): a model
-- trained head-only runs at its encoder's, so it is read from the row holding the weights
CREATE OR REPLACE VIEW tfm.models AS
SELECT m.name, m.version, m.architecture, m.task, m.labels, m.dim, m.max_tokens, m.params, m.sha256,
       m.created_at, m.metrics, m.options, pg_catalog.pg_get_userbyid(m.owner) AS owner, m.id,
       b.name OPERATOR(pg_catalog.||) '@'::pg_catalog.text
              OPERATOR(pg_catalog.||) b.version::pg_catalog.text AS base,
       m.training,
       COALESCE(e.options OPERATOR(pg_catalog.->>) 'precision', 'fp32'::pg_catalog.text) AS precision
FROM tfm.model m LEFT JOIN tfm.model b ON b.id OPERATOR(pg_catalog.=) m.base_id
     LEFT JOIN tfm.model e ON e.id OPERATOR(pg_catalog.=) COALESCE(m.encoder_id, m.id);

-- a copy of an embedding model at another precision (fp32, bf16, int8), imported again from the
-- weights the catalog holds: a new model (or a new version of name) owned by the caller, who must
-- be allowed to use source
CREATE FUNCTION tfm._quantize(source text, name text, "precision" text)
RETURNS pg_catalog.int8 AS 'MODULE_PATHNAME', 'tfm_quantize' LANGUAGE C VOLATILE;
CREATE FUNCTION tfm_quantize(source text, name text, "precision" text) RETURNS tfm.models AS $$
DECLARE
    r tfm.models;
    new_id pg_catalog.int8 := tfm._quantize($1, $2, $3);
BEGIN
    SELECT * INTO r FROM tfm.models m WHERE m.id OPERATOR(pg_catalog.=) new_id;
    RETURN r;
END $$ LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp;

-- tfm_cache() also shows the memory each handle holds privately in this backend (private_bytes): its
-- layer tables, labels and head, and the fp32 panels a bf16 model widens once per backend at a CPU
-- level without AVX512-BF16
DROP FUNCTION @extschema@.tfm_cache();
CREATE FUNCTION @extschema@.tfm_cache(OUT model_id pg_catalog.int8, OUT name pg_catalog.text,
                                      OUT sha256 pg_catalog.text, OUT path pg_catalog.text,
                                      OUT bytes pg_catalog.int8, OUT hits pg_catalog.int8,
                                      OUT private_bytes pg_catalog.int8)
RETURNS SETOF record AS 'MODULE_PATHNAME', 'tfm_cache' LANGUAGE C VOLATILE;

-- ==== issue 15: ranking metrics of cross-encoders ====
-- the "ranking" tfm_evaluate reports for a cross-encoder (MRR@10, nDCG@10 over the documents of each query
-- text, ranked by score), for checking by hand
CREATE FUNCTION tfm._ranking_metrics(queries text[], scores float8[], relevance float8[]) RETURNS jsonb
AS 'MODULE_PATHNAME', 'tfm_ranking_metrics' LANGUAGE C IMMUTABLE STRICT;
-- the validation rows tfm_train draws from a cross-encoder's rows (whole queries), for checking by hand
CREATE FUNCTION tfm._pair_split(queries text[], labels text[], task text, validation_fraction float8, seed int8)
RETURNS boolean[] AS 'MODULE_PATHNAME', 'tfm_pair_split' LANGUAGE C IMMUTABLE STRICT;
