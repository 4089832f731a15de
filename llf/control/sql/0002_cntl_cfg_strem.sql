-- depends: 0001_schema
CREATE TABLE IF NOT EXISTS cntl_af.cntl_cfg_strem (
    strem_id     integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    strem_nm     text        NOT NULL UNIQUE CHECK (strem_nm ~ '^[A-Za-z0-9_.-]{1,200}$'),
    strem_desc   text        NOT NULL DEFAULT '',
    owner_nm     text        NOT NULL DEFAULT 'llf',
    actv_flg     boolean     NOT NULL DEFAULT true,
    fail_policy  text        NOT NULL DEFAULT 'CONTINUE' CHECK (fail_policy IN ('CONTINUE', 'STOP')),
    created_ts   timestamptz NOT NULL DEFAULT now(),
    updated_ts   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE cntl_af.cntl_cfg_strem IS 'A stream (workflow): one Airflow DAG stream__<strem_nm> that runs its process groups in priority order.';
COMMENT ON COLUMN cntl_af.cntl_cfg_strem.strem_id IS 'Surrogate key, generated.';
COMMENT ON COLUMN cntl_af.cntl_cfg_strem.strem_nm IS 'Unique stream name; letters, digits, _ . - (it becomes the DAG id stream__<strem_nm>).';
COMMENT ON COLUMN cntl_af.cntl_cfg_strem.strem_desc IS 'What the stream does; shown as the DAG documentation.';
COMMENT ON COLUMN cntl_af.cntl_cfg_strem.owner_nm IS 'Owner shown in Airflow.';
COMMENT ON COLUMN cntl_af.cntl_cfg_strem.actv_flg IS 'false hides the stream and everything in it from Airflow.';
COMMENT ON COLUMN cntl_af.cntl_cfg_strem.fail_policy IS 'CONTINUE: independent processes go on after a failure; STOP: the stream stops after the current group.';
COMMENT ON COLUMN cntl_af.cntl_cfg_strem.created_ts IS 'When the row was inserted.';
COMMENT ON COLUMN cntl_af.cntl_cfg_strem.updated_ts IS 'When the row was last changed (set by the writer).';
