-- depends: 0027_notebook_pins
-- Connections a notebook may use, registered (issue 26): a process names the Airflow connections its notebook
-- needs, and the runner resolves those alone, through Airflow, when the attempt starts, and hands them to the
-- kernel (`nb.connection("name")`). Every other Airflow connection and variable stays in the worker.
--
-- A column, not a child table: the connections are a property of the process like its params, read in the
-- one statement that reads its registration at run time, written by `llf sync` in the process's own row
-- (one diff line, one upsert), and a list with no attribute of its own (no actv_flg, no order that matters)
-- needs no key, no foreign key and no deactivation rules.
--
-- The database refuses what could never be resolved, and the platform's own connections: cntl_af (the owner
-- of these tables), cntl_af_notebook (already handed to every kernel, as the notebook role) and llf_vectors
-- (the Weaviate key). Compared in upper case, as Airflow's environment-variable backend reads them
-- (AIRFLOW_CONN_<ID upper-cased>): a process naming CNTL_AF would otherwise get the owner's URL.
-- Whether Airflow has a connection is not checked here nor by `llf validate`: connections may live in a
-- secrets backend only the workers read; the run checks it, and fails before its kernel starts when one is missing.

-- A CHECK may not hold a subquery; a function may (IMMUTABLE: it reads nothing but its argument).
CREATE OR REPLACE FUNCTION cntl_af.distinct_elements(elements anyarray) RETURNS boolean
    LANGUAGE sql IMMUTABLE AS $$ SELECT count(DISTINCT e) = count(e) FROM unnest(elements) AS e $$;
COMMENT ON FUNCTION cntl_af.distinct_elements(anyarray) IS
    'Whether no element of the array is given twice (NULLs aside): what CHECKs of list columns call.';

ALTER TABLE cntl_af.cntl_cfg_prcs
    ADD COLUMN IF NOT EXISTS conn_ids text[] NOT NULL DEFAULT '{}'
        CONSTRAINT cntl_cfg_prcs_conn_ids_format CHECK (
            cardinality(conn_ids) = 0
            OR (array_ndims(conn_ids) = 1 AND cardinality(conn_ids) <= 50
                -- each element an id, none NULL (array_to_string writes a NULL as '!', which the pattern refuses)
                AND array_to_string(conn_ids, ',', '!') ~ '^[A-Za-z0-9_.-]{1,200}(,[A-Za-z0-9_.-]{1,200})*$'))
        CONSTRAINT cntl_cfg_prcs_conn_ids_not_platform CHECK (
            -- ids hold no quote or comma (the format above), so the text form of the array round-trips
            NOT (upper(conn_ids::text)::text[] && ARRAY['CNTL_AF', 'CNTL_AF_NOTEBOOK', 'LLF_VECTORS']))
        CONSTRAINT cntl_cfg_prcs_conn_ids_unique CHECK (cntl_af.distinct_elements(conn_ids));
COMMENT ON COLUMN cntl_af.cntl_cfg_prcs.conn_ids IS
    'Airflow connection ids the notebook may use (nb.connection(id)): resolved through Airflow when the attempt '
    'starts and handed to its kernel alone; an id Airflow does not have fails the attempt before the kernel starts. '
    'Never cntl_af, cntl_af_notebook or llf_vectors (the platform''s own). Default: none.';
COMMENT ON CONSTRAINT cntl_cfg_prcs_conn_ids_format ON cntl_af.cntl_cfg_prcs IS
    'conn_ids is a flat list of at most 50 Airflow connection ids, each 1 to 200 letters, digits, _ . or -.';
COMMENT ON CONSTRAINT cntl_cfg_prcs_conn_ids_not_platform ON cntl_af.cntl_cfg_prcs IS
    'conn_ids never names cntl_af, cntl_af_notebook or llf_vectors, in any case: a notebook must not get the '
    'control tables'' owner or the platform''s keys.';
COMMENT ON CONSTRAINT cntl_cfg_prcs_conn_ids_unique ON cntl_af.cntl_cfg_prcs IS
    'conn_ids names each connection once.';
