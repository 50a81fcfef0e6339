-- per-model usage rights, model ownership, and the catalog tables behind them (issue #6)
\getenv model_dir PG_TFM_MODEL_DIR
\set cfile :model_dir '/config.json'
\set tfile :model_dir '/tokenizer.json'
\set wfile :model_dir '/model.fp16.safetensors'
SET client_min_messages = warning;
DROP ROLE IF EXISTS tfm_alice, tfm_bob, tfm_carol, tfm_team;
RESET client_min_messages;
CREATE ROLE tfm_alice;
CREATE ROLE tfm_bob;
CREATE ROLE tfm_team;
CREATE ROLE tfm_carol IN ROLE tfm_team;
-- the model files as content the roles can pass to tfm_import (only superusers may read files)
CREATE TABLE priv_content AS
SELECT convert_from(pg_read_binary_file(:'cfile'), 'UTF8')::jsonb AS config,
       convert_from(pg_read_binary_file(:'tfile'), 'UTF8')::jsonb AS tokenizer,
       pg_read_binary_file(:'wfile') AS weights;
GRANT SELECT ON priv_content TO PUBLIC;
CREATE TABLE priv_mail (body text, label text);
INSERT INTO priv_mail VALUES ('win money now', 'spam'), ('meeting at noon', 'ham'), ('cheap pills', 'spam'), ('lunch?', 'ham');
GRANT SELECT ON priv_mail TO PUBLIC;
CREATE FUNCTION priv_import(name text) RETURNS TABLE (name text, version int, owner name) AS $$
  SELECT i.name, i.version, i.owner
  FROM priv_content c, tfm_import($1, c.config, c.tokenizer, c.weights, '{"max_tokens": 128}') i
$$ LANGUAGE sql;

-- creating a model needs CREATE on schema tfm (or superuser); importing server files needs more
SET ROLE tfm_alice;
SELECT err($$SELECT * FROM priv_import('priv_m')$$);
SELECT err(format('SELECT tfm_import(%L, %L)', 'priv_m', :'model_dir'));
RESET ROLE;
GRANT CREATE ON SCHEMA tfm TO tfm_alice, tfm_bob;
SET ROLE tfm_alice;
SELECT * FROM priv_import('priv_m');

-- by default every role may use a new model
SET ROLE tfm_bob;
SELECT tfm_has_usage('priv_m') AS bob_may, array_length(tfm_embed('hello', 'priv_m'), 1) AS dim;
-- but only its owner may replace, grant, revoke or drop it
SELECT err($$SELECT * FROM priv_import('priv_m')$$);
SELECT err($$SELECT tfm_grant('priv_m', 'tfm_bob')$$);
SELECT err($$SELECT tfm_revoke('priv_m', 'public')$$);
SELECT err($$SELECT tfm_drop('priv_m')$$);
SELECT err($$CALL tfm_train('priv_m', 'priv_m', 'SELECT body, label FROM priv_mail', 'classification', '{"epochs": 1}')$$);
-- the catalog tables are not readable directly; the listing and the rights are
SELECT err($$SELECT count(*) FROM tfm.model_data$$);
SELECT err($$SELECT head FROM tfm.model$$);
SELECT name, version, owner FROM tfm.models WHERE name = 'priv_m';
SELECT count(*) AS acl_rows FROM tfm.model_acl WHERE name = 'priv_m';

-- the owner restricts the model to tfm_team
SET ROLE tfm_alice;
SELECT tfm_revoke('priv_m', 'public');
SELECT tfm_grant('priv_m', 'tfm_team'::regrole);
SELECT tfm_grant('priv_m', 'tfm_team');   -- twice is once
SELECT name, public, grantees FROM tfm.model_acl WHERE name = 'priv_m';
SELECT err($$SELECT tfm_grant('priv_m', 'no_such_role')$$);
SELECT err($$SELECT tfm_grant('no_such_model', 'public')$$);

-- every use of the model by others fails at model resolution
SET ROLE tfm_bob;
SELECT tfm_has_usage('priv_m') AS bob_may, tfm_has_usage('priv_m', 'tfm_carol') AS carol_may,
       tfm_has_usage('no_such_model') AS unknown;
SELECT err($$SELECT tfm_embed('hello', 'priv_m')$$);
SELECT err($$SELECT * FROM tfm_embed(ARRAY['a', 'b'], 'priv_m')$$);
SELECT err($$SELECT tfm_tokenize('hello', 'priv_m')$$);
SELECT err($$SELECT tfm_classify('hello', 'priv_m')$$);
SELECT err($$SELECT tfm_score('hello', 'priv_m', 'spam')$$);
SELECT err($$SELECT tfm_predict('hello', 'priv_m')$$);
SELECT err($$SELECT tfm_generate('hello', 'priv_m')$$);
SELECT err($$SELECT tfm_evaluate('priv_m', 'SELECT body, label FROM priv_mail')$$);
SELECT err($$SELECT tfm._train_step('priv_m', '{101,102}', '{2}', '{0}')$$);
SELECT err($$CALL tfm_train('bob_m', 'priv_m', 'SELECT body, label FROM priv_mail', 'classification', '{"epochs": 1}')$$);
SET pg_tfm.default_model = 'priv_m';
SELECT err($$SELECT tfm_embed('hello')$$);
RESET pg_tfm.default_model;
-- in a trigger too
CREATE TEMP TABLE bob_mail (body text, flagged bool);
CREATE TRIGGER f BEFORE INSERT ON bob_mail FOR EACH ROW EXECUTE FUNCTION tfm_flag('priv_m', 'body', 'flagged', 'spam');
SELECT err($$INSERT INTO bob_mail VALUES ('win money')$$);
DROP TABLE bob_mail;
-- and nothing was created by the failed training
SELECT count(*) AS bob_models FROM tfm.models WHERE name = 'bob_m';

-- a member of the granted role may use it, and so may the owner and superusers
SET ROLE tfm_carol;
SELECT array_length(tfm_embed('hello', 'priv_m'), 1) AS carol_dim;
SET ROLE tfm_alice;
SELECT array_length(tfm_embed('hello', 'priv_m'), 1) AS alice_dim;
RESET ROLE;
SELECT array_length(tfm_embed('hello', 'priv_m'), 1) AS superuser_dim;

-- a check made in one role is not reused for another in the same statement's function
CREATE FUNCTION priv_embed_dim(m text) RETURNS int AS $$
BEGIN RETURN array_length(tfm_embed('hello', m), 1); END $$ LANGUAGE plpgsql;
BEGIN;
SET LOCAL ROLE tfm_carol;
SELECT priv_embed_dim('priv_m') AS carol_dim;
SET LOCAL ROLE tfm_bob;
SELECT err($$SELECT priv_embed_dim('priv_m')$$);
ROLLBACK;

-- rights belong to the name: a new version keeps them; a superuser's version keeps the owner
SET ROLE tfm_alice;
SELECT * FROM priv_import('priv_m');
RESET ROLE;
SELECT * FROM priv_import('priv_m');
SET ROLE tfm_bob;
SELECT err($$SELECT tfm_embed('hello', 'priv_m')$$);
SET ROLE tfm_carol;
SELECT array_length(tfm_embed('hello', 'priv_m'), 1) AS carol_dim;

-- catalog reads run as the extension owner with a fixed search_path: an operator the caller put
-- first on the path runs for the caller's own queries only, never with the owner's rights
RESET ROLE;
CREATE SCHEMA tfm_evil AUTHORIZATION tfm_bob;
SET ROLE tfm_bob;
CREATE FUNCTION tfm_evil.texteq(a text, b text) RETURNS bool AS $$
BEGIN RAISE NOTICE 'evil operator ran as %', current_user; RETURN pg_catalog.texteq(a, b); END
$$ LANGUAGE plpgsql;
CREATE OPERATOR tfm_evil.= (FUNCTION = tfm_evil.texteq, LEFTARG = text, RIGHTARG = text);
SET search_path = tfm_evil, pg_catalog, public;
SELECT 'a'::text = 'a'::text AS trap_works;
SELECT array_length(tfm_embed('hello', 'minilm'), 1) AS dim;
SELECT err($$SELECT tfm_embed('hello', 'priv_m')$$);
RESET search_path;
-- the tfm_flag trigger (run on behalf of whoever inserts) calls nothing a user can shadow: a
-- to_jsonb(bob_mail) in a schema writable by users is not picked over pg_catalog's
RESET ROLE;
GRANT CREATE ON SCHEMA public TO tfm_bob;
SET ROLE tfm_bob;
CREATE TABLE bob_mail (body text, flagged bool);
CREATE FUNCTION public.to_jsonb(r bob_mail) RETURNS jsonb AS $$
BEGIN RAISE NOTICE 'shadowing to_jsonb ran as %', current_user; RETURN '{}'; END $$ LANGUAGE plpgsql;
CREATE TRIGGER f BEFORE INSERT ON bob_mail FOR EACH ROW EXECUTE FUNCTION tfm_flag('minilm', 'body', 'flagged', 'spam');
SELECT err($$INSERT INTO bob_mail VALUES ('win money')$$);
DROP TABLE bob_mail CASCADE;
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM tfm_bob;
DROP SCHEMA tfm_evil CASCADE;

-- no function of pg_tfm runs with more rights than its caller
SELECT count(*) AS security_definer FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid
WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_tfm') AND p.prosecdef;
SELECT proname, proconfig FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid
WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_tfm') AND p.proconfig IS NOT NULL
ORDER BY p.oid::regprocedure::text;

-- PUBLIC again; revoking a role
SET ROLE tfm_alice;
SELECT tfm_grant('priv_m', 'PUBLIC');
SELECT tfm_revoke('priv_m', 'tfm_team'::regrole);
SELECT name, public, grantees FROM tfm.model_acl WHERE name = 'priv_m';
SET ROLE tfm_bob;
SELECT array_length(tfm_embed('hello', 'priv_m'), 1) AS bob_dim;

-- the owner drops it; its rights go with it, and a new model of the name starts usable by all
SET ROLE tfm_alice;
SELECT tfm_revoke('priv_m', 'public');
SELECT tfm_drop('priv_m');
SELECT count(*) AS acl_rows FROM tfm.model_acl WHERE name = 'priv_m';
SET ROLE tfm_bob;
SELECT name, version, owner FROM priv_import('priv_m');
SELECT tfm_has_usage('priv_m', 'tfm_carol') AS carol_may;
SELECT tfm_drop('priv_m');

RESET ROLE;
DROP FUNCTION priv_import(text), priv_embed_dim(text);
DROP TABLE priv_content, priv_mail;
REVOKE CREATE ON SCHEMA tfm FROM tfm_alice, tfm_bob;
DROP ROLE tfm_alice, tfm_bob, tfm_carol, tfm_team;
