-- pg_tfm 0.1.0 -> 0.2.0 (ALTER EXTENSION pg_tfm UPDATE TO '0.2.0')
-- CREATE EXTENSION pg_tfm runs pg_tfm--0.1.0.sql and then this script, so a new install and an
-- upgraded one end with the same objects. 0.1.0 is released: never edit its script, add here.
\echo Use "ALTER EXTENSION pg_tfm UPDATE TO '0.2.0'" to load this file. \quit
