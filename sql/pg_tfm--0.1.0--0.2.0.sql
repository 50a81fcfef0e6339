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
