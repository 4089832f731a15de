-- depends: 0031_stream_logins
-- The control-plane UI only reads (llf/ui: the overview, the run log, stream runs, timelines), so it does not
-- connect as the owner of cntl_af, who may rewrite registrations and the run log. It connects with
-- LLF_UI_DB_URL, a login in the NOLOGIN group role llf_ui_reader, which this file grants exactly what the UI's
-- queries read (llf.control.repository.read_snapshot, llf.control.status.latest_statuses, llf.control.queries,
-- llf.control.log.attempts_of_stream_run): SELECT on the registrations, the run log, progress lines and LLM
-- usage; no write of any kind, and never the attempt tokens (cntl_attempt_token) or the LLM cache's prompts and
-- answers, which no page shows.
--
-- No default privileges: a table added later stays out of the UI's reach until a migration grants it here by
-- name, so a secret table can never be granted by accident. A UI query on a table not granted fails the UI's
-- tests as the reader (tests/ui/test_ui_reader.py), which is where a new grant is found to be needed.
--
-- Roles belong to the cluster, so creating one needs CREATEROLE: the deploy creates llf_ui_reader before this
-- runs (docker/postgres/40-llf-ui-reader.sh; llf.local.postgres in local mode and the tests); a migrating role
-- that may create roles creates it here; any other stops with the fix, as 0025 does for llf_notebook.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'llf_ui_reader') THEN
        IF NOT (SELECT rolsuper OR rolcreaterole FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
            RAISE EXCEPTION 'role llf_ui_reader does not exist, and % may not create roles', current_user
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'As a superuser run CREATE ROLE llf_ui_reader NOLOGIN (docker compose: '
                             || 'docker compose exec postgres bash /docker-entrypoint-initdb.d/40-llf-ui-reader.sh), '
                             || 'then llf db upgrade again.';
        END IF;
        CREATE ROLE llf_ui_reader NOLOGIN;
        COMMENT ON ROLE llf_ui_reader IS 'llf control-plane UI (group, no login): reads registrations, the run log, '
                                         'progress and LLM usage; writes nothing, never attempt tokens or the LLM cache.';
    END IF;
END
$$;

GRANT USAGE ON SCHEMA cntl_af TO llf_ui_reader;
GRANT SELECT ON cntl_af.cntl_cfg_strem, cntl_af.cntl_cfg_prcs_grp, cntl_af.cntl_cfg_prcs, cntl_af.cntl_cfg_sys_file,
                cntl_af.cntl_cfg_prcs_depn, cntl_af.cntl_cfg_schedule, cntl_af.cntl_cfg_pool, cntl_af.cntl_cfg_log,
                cntl_af.cntl_prcs_progress, cntl_af.cntl_llm_usage
    TO llf_ui_reader;
