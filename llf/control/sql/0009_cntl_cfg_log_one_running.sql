-- depends: 0008_cntl_cfg_log
-- At most once, enforced by the database: one RUNNING attempt per process and business date.
CREATE UNIQUE INDEX IF NOT EXISTS cntl_cfg_log_one_running_idx
    ON cntl_af.cntl_cfg_log (prcs_nm, business_date) WHERE status = 'RUNNING' AND prcs_nm IS NOT NULL;
CREATE INDEX IF NOT EXISTS cntl_cfg_log_strem_run_idx
    ON cntl_af.cntl_cfg_log (strem_run_id) WHERE strem_run_id IS NOT NULL;
