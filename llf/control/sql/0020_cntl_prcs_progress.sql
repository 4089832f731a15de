-- depends: 0008_cntl_cfg_log
CREATE TABLE IF NOT EXISTS cntl_af.cntl_prcs_progress (
    progress_id   bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    log_id        bigint      REFERENCES cntl_af.cntl_cfg_log (log_id) ON DELETE CASCADE,
    prcs_nm       text        NOT NULL,
    business_date date        NOT NULL,
    run_id        text        NOT NULL,
    ts            timestamptz NOT NULL DEFAULT clock_timestamp(),
    message       text        NOT NULL
);
CREATE INDEX IF NOT EXISTS cntl_prcs_progress_run_idx
    ON cntl_af.cntl_prcs_progress (prcs_nm, business_date, run_id, progress_id);
CREATE INDEX IF NOT EXISTS cntl_prcs_progress_log_idx ON cntl_af.cntl_prcs_progress (log_id);
COMMENT ON TABLE cntl_af.cntl_prcs_progress IS 'Progress lines a notebook writes with nb.log(), tied to its process run.';
COMMENT ON COLUMN cntl_af.cntl_prcs_progress.progress_id IS 'Surrogate key, generated; higher is newer.';
COMMENT ON COLUMN cntl_af.cntl_prcs_progress.log_id IS 'The cntl_cfg_log attempt the line belongs to (null outside a registered run).';
COMMENT ON COLUMN cntl_af.cntl_prcs_progress.prcs_nm IS 'Process that wrote the line (interactive in plain Jupyter).';
COMMENT ON COLUMN cntl_af.cntl_prcs_progress.business_date IS 'Business date of the run.';
COMMENT ON COLUMN cntl_af.cntl_prcs_progress.run_id IS 'Airflow DAG run id of the run (interactive in plain Jupyter).';
COMMENT ON COLUMN cntl_af.cntl_prcs_progress.ts IS 'When the line was written.';
COMMENT ON COLUMN cntl_af.cntl_prcs_progress.message IS 'The progress message.';
