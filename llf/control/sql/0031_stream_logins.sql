-- depends: 0030_run_identity
-- llf_results tables and llf_vectors collections isolated between streams by the database, through ownership
-- (issue 26). Before this file every notebook login shared the role llf_notebook, which could read, write and drop
-- every table of both schemas: stream B's notebook could read A's results or drop A's collection.
--
-- Now each stream has a role of its own, llf_nb_<strem_id>_<database> (cntl_af.stream_role), a member of llf_notebook (so the
-- grants and row-level security of the control tables hold for it as for any notebook login) and of nothing else.
-- The runner makes it a LOGIN before a kernel of the stream starts, with a password derived from the notebook
-- login's own (llf.control.stream_logins; nothing stored), and hands the kernel that login instead of the shared
-- one. What a stream's notebook creates in llf_results and llf_vectors is then owned by the stream's role: the
-- other streams' roles can neither read, write nor drop it. Registered results tables (DDL run by the owner, such
-- as control_sql/examples/*.sql) are given to the stream that writes them with cntl_af.grant_to_stream.
-- llf_notebook itself keeps USAGE and CREATE on the two schemas and no right on any table in them.
--
-- Roles belong to the cluster: creating them needs CREATEROLE (PostgreSQL 16: and ADMIN OPTION on llf_notebook,
-- which the role that created llf_notebook holds; docker/postgres/20-llf-notebook-role.sh grants it to the owner).
-- An owner without it keeps working with the shared login: the runner warns on each run, and grant_to_stream
-- falls back to llf_notebook with a WARNING; neither is isolated between streams then.

-- Roles are the cluster's, stream ids each database's: the name carries both, so two llf databases on one server
-- (a staging copy, a second deployment) never share a stream's role, nor the tables it owns.
CREATE OR REPLACE FUNCTION cntl_af.stream_role(p_strem_nm text) RETURNS name
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT ('llf_nb_' || strem_id || '_' || left(md5(current_database()), 8))::name
    FROM cntl_af.cntl_cfg_strem WHERE strem_nm = p_strem_nm
$$;
COMMENT ON FUNCTION cntl_af.stream_role(text) IS
    'The database role of a stream''s notebooks, llf_nb_<strem_id>_<first 8 hex of md5(database name)> (the id: a '
    'stream name may be longer than a role name may be; the database: roles are the whole server''s); null for a '
    'stream that is not registered. Whether the role exists is another matter.';

-- SECURITY INVOKER: it runs with the rights of its caller, the owner (the runner, `llf db apply`), and creates
-- nothing its caller could not create by hand.
CREATE OR REPLACE FUNCTION cntl_af.ensure_stream_role(p_strem_nm text, p_password text DEFAULT NULL,
                                                      p_connection_limit integer DEFAULT NULL) RETURNS name
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    role_nm name := cntl_af.stream_role(p_strem_nm);
BEGIN
    IF role_nm IS NULL THEN
        RAISE EXCEPTION 'stream % is not registered in cntl_af.cntl_cfg_strem', p_strem_nm
            USING ERRCODE = 'no_data_found';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = role_nm) THEN
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS '
                           'INHERIT', role_nm);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- a kernel of the same stream starting at the same moment made it
        END;
        EXECUTE format('COMMENT ON ROLE %I IS %L', role_nm,
                       'llf notebooks of stream ' || p_strem_nm || ': owns what they create in llf_results and '
                       'llf_vectors; a member of llf_notebook (cntl_af.ensure_stream_role)');
    END IF;
    IF NOT pg_has_role(role_nm, 'llf_notebook', 'MEMBER') THEN
        EXECUTE format('GRANT llf_notebook TO %I', role_nm);
    END IF;
    IF p_connection_limit IS NOT NULL THEN
        EXECUTE format('ALTER ROLE %I WITH LOGIN CONNECTION LIMIT %s PASSWORD %L', role_nm, p_connection_limit,
                       p_password);
    END IF;
    RETURN role_nm;
END
$$;
COMMENT ON FUNCTION cntl_af.ensure_stream_role(text, text, integer) IS
    'Create the role of a stream''s notebooks when missing (NOLOGIN, in llf_notebook) and return its name; with a '
    'connection limit, make it a LOGIN with that limit and the password given (a SCRAM verifier: the runner '
    'derives the password, llf.control.stream_logins). Needs CREATEROLE: insufficient_privilege otherwise.';

CREATE OR REPLACE FUNCTION cntl_af.grant_to_stream(p_strem_nm text, VARIADIC p_tables regclass[]) RETURNS name
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    grantee name;
    tbl regclass;
    seq regclass;
BEGIN
    BEGIN
        grantee := cntl_af.ensure_stream_role(p_strem_nm);
    EXCEPTION WHEN insufficient_privilege THEN
        grantee := 'llf_notebook';
        RAISE WARNING '% may not create roles: % granted to every stream''s notebooks (llf_notebook), not to stream '
                      '% alone', current_user, p_tables, p_strem_nm
            USING HINT = 'Give the owner CREATEROLE (README, Security) and apply this registration again.';
    END;
    FOREACH tbl IN ARRAY p_tables LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %I', tbl, grantee);
        FOR seq IN SELECT d.objid::regclass FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
                   WHERE d.classid = 'pg_class'::regclass AND d.refobjid = tbl AND d.deptype IN ('a', 'i')
                     AND c.relkind = 'S' LOOP
            EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE %s TO %I', seq, grantee);
        END LOOP;
    END LOOP;
    RETURN grantee;
END
$$;
COMMENT ON FUNCTION cntl_af.grant_to_stream(text, regclass[]) IS
    'Let the notebooks of one stream read and write registered tables (SELECT, INSERT, UPDATE, DELETE and their '
    'sequences), creating the stream''s role when missing; returns the grantee. Run by the owner in a registration '
    '(control_sql/examples/05_llm_question.sql). Without CREATEROLE it grants llf_notebook, with a WARNING.';

REVOKE ALL ON FUNCTION cntl_af.stream_role(text), cntl_af.ensure_stream_role(text, text, integer),
    cntl_af.grant_to_stream(text, regclass[]) FROM PUBLIC;

-- The schema-wide rights go: no table of either schema is llf_notebook's to use any more, only the schemas are.
-- Revoked table by table, on those the migrating role may revoke on: REVOKE ON ALL TABLES fails outright on a
-- table it has no right to (collections llf_notebook created, which stay its own; README, Security: upgrade).
GRANT USAGE, CREATE ON SCHEMA llf_results, llf_vectors TO llf_notebook;
ALTER DEFAULT PRIVILEGES IN SCHEMA llf_results REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM llf_notebook;
ALTER DEFAULT PRIVILEGES IN SCHEMA llf_results REVOKE USAGE, SELECT ON SEQUENCES FROM llf_notebook;
ALTER DEFAULT PRIVILEGES IN SCHEMA llf_vectors REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM llf_notebook;
DO $$
DECLARE
    rel regclass;
BEGIN
    FOR rel IN SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname IN ('llf_results', 'llf_vectors') AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
                 AND c.relowner <> 'llf_notebook'::regrole
                 AND (pg_has_role(c.relowner, 'USAGE')
                      OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)) LOOP
        EXECUTE format('REVOKE ALL ON %s FROM llf_notebook', rel);
    END LOOP;
END
$$;
