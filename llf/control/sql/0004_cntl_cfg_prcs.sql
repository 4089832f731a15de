-- depends: 0003_cntl_cfg_prcs_grp
CREATE TABLE IF NOT EXISTS cntl_af.cntl_cfg_prcs (
    prcs_id      integer     GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    prcs_grp_id  integer     NOT NULL REFERENCES cntl_af.cntl_cfg_prcs_grp (prcs_grp_id) ON DELETE CASCADE,
    prcs_nm      text        NOT NULL UNIQUE CHECK (prcs_nm ~ '^[A-Za-z0-9_.-]{1,200}$'),
    prcs_desc    text        NOT NULL DEFAULT '',
    owner_nm     text        NOT NULL DEFAULT 'llf',
    priority     integer     NOT NULL DEFAULT 1,
    params       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    timeout_min  numeric     NOT NULL DEFAULT 60 CHECK (timeout_min > 0),
    retries      integer     NOT NULL DEFAULT 0 CHECK (retries >= 0),
    actv_flg     boolean     NOT NULL DEFAULT true,
    created_ts   timestamptz NOT NULL DEFAULT now(),
    updated_ts   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS cntl_cfg_prcs_grp_idx ON cntl_af.cntl_cfg_prcs (prcs_grp_id, priority);
COMMENT ON TABLE cntl_af.cntl_cfg_prcs IS 'A process: one notebook run, one Airflow DAG process__<prcs_nm>.';
COMMENT ON COLUMN cntl_af.cntl_cfg_prcs.prcs_id IS 'Surrogate key, generated.';
COMMENT ON COLUMN cntl_af.cntl_cfg_prcs.prcs_grp_id IS 'The process group this process belongs to.';
COMMENT ON COLUMN cntl_af.cntl_cfg_prcs.prcs_nm IS 'Unique process name; letters, digits, _ . - (it becomes the DAG id process__<prcs_nm>).';
COMMENT ON COLUMN cntl_af.cntl_cfg_prcs.prcs_desc IS 'What the process does; shown as the DAG documentation.';
COMMENT ON COLUMN cntl_af.cntl_cfg_prcs.owner_nm IS 'Owner shown in Airflow.';
COMMENT ON COLUMN cntl_af.cntl_cfg_prcs.priority IS 'Start order inside the group: lower starts first.';
COMMENT ON COLUMN cntl_af.cntl_cfg_prcs.params IS 'JSON object of notebook parameters (never secrets); merged with the run context.';
COMMENT ON COLUMN cntl_af.cntl_cfg_prcs.timeout_min IS 'Minutes (fractions allowed) before the notebook kernel is stopped and the attempt is FAILED.';
COMMENT ON COLUMN cntl_af.cntl_cfg_prcs.retries IS 'Airflow retries of the notebook step after a failure.';
COMMENT ON COLUMN cntl_af.cntl_cfg_prcs.actv_flg IS 'false hides the process from Airflow.';
COMMENT ON COLUMN cntl_af.cntl_cfg_prcs.created_ts IS 'When the row was inserted.';
COMMENT ON COLUMN cntl_af.cntl_cfg_prcs.updated_ts IS 'When the row was last changed (set by the writer).';
