-- depends: 0024_cntl_cfg_log_expected
-- Notebook code never runs as the owner of cntl_af. The runner hands the kernel the URL of a login that
-- is a member of the NOLOGIN group role llf_notebook (LLF_NOTEBOOK_DB_URL); this file grants that group
-- exactly what the SDK writes: progress lines, LLM usage and cache rows, llf_results.* and llf_vectors.*.
-- Registrations (cntl_cfg_*) and the run log stay out of reach: a notebook that tries gets
-- "permission denied", and its attempt ends FAILED with that message.
--
-- Roles belong to the cluster, so creating one needs CREATEROLE. The deploy creates llf_notebook before
-- this runs (docker/postgres/20-llf-notebook-role.sh; llf.local.postgres in local mode and the tests); a
-- migrating role that may create roles creates it here; any other stops with the fix, since grants to a
-- role that is not there cannot wait for later.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'llf_notebook') THEN
        IF NOT (SELECT rolsuper OR rolcreaterole FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
            RAISE EXCEPTION 'role llf_notebook does not exist, and % may not create roles', current_user
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'As a superuser run CREATE ROLE llf_notebook NOLOGIN (docker compose: '
                             || 'docker compose exec postgres bash /docker-entrypoint-initdb.d/20-llf-notebook-role.sh), '
                             || 'then llf db upgrade again.';
        END IF;
        CREATE ROLE llf_notebook NOLOGIN;
        COMMENT ON ROLE llf_notebook IS 'llf notebooks (group, no login): write progress, LLM usage and cache, '
                                        'llf_results and llf_vectors; never registrations or the run log.';
    END IF;
END
$$;

-- pgvector is created by whoever may: the notebook role cannot, and needs it for its first collection.
-- Where the migrating role may not either (not a superuser), the deploy creates it (the compose init does).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'vector')
       AND EXISTS (SELECT FROM pg_catalog.pg_available_extensions WHERE name = 'vector') THEN
        CREATE EXTENSION vector;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'pgvector is not installed and % may not install it: a superuser must run CREATE EXTENSION vector '
                 'before notebooks keep vectors in PostgreSQL', current_user;
END
$$;

-- The control tables: only the service records the SDK writes. No SELECT on progress and usage (the SDK
-- never reads them back); the cache is read by key, and only its hit counters may change, so a notebook
-- cannot rewrite an answer another stream gets from it. Foreign keys to cntl_cfg_log are checked with
-- the owner's rights: no read of the run log is needed to write a progress line.
GRANT USAGE ON SCHEMA cntl_af TO llf_notebook;
GRANT INSERT ON cntl_af.cntl_prcs_progress, cntl_af.cntl_llm_usage TO llf_notebook;
GRANT SELECT, INSERT ON cntl_af.cntl_llm_cache TO llf_notebook;
GRANT UPDATE (hit_cnt, last_hit_ts) ON cntl_af.cntl_llm_cache TO llf_notebook;

-- Business results: tables are registered DDL (control_sql/examples/*.sql, run by the owner), so the
-- notebook role reads and writes rows, including those of tables created after this file (default
-- privileges of the role running it, the one that also runs `llf db apply`), but creates no table.
CREATE SCHEMA IF NOT EXISTS llf_results;
GRANT USAGE ON SCHEMA llf_results TO llf_notebook;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA llf_results TO llf_notebook;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA llf_results TO llf_notebook;
ALTER DEFAULT PRIVILEGES IN SCHEMA llf_results GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO llf_notebook;
ALTER DEFAULT PRIVILEGES IN SCHEMA llf_results GRANT USAGE, SELECT ON SEQUENCES TO llf_notebook;

-- Vector collections: the SDK creates a collection's table on its first upsert, so the notebook role may
-- create tables in llf_vectors. A notebook login's sessions run as llf_notebook (ALTER ROLE ... SET role,
-- set where the login is created), so the tables it creates belong to the group and every notebook login
-- can use them; collections the owner made before this file are granted here, later ones by default.
CREATE SCHEMA IF NOT EXISTS llf_vectors;
GRANT USAGE, CREATE ON SCHEMA llf_vectors TO llf_notebook;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA llf_vectors TO llf_notebook;
ALTER DEFAULT PRIVILEGES IN SCHEMA llf_vectors GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO llf_notebook;
