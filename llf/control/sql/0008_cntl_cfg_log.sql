-- depends: 0001_schema
CREATE TABLE IF NOT EXISTS cntl_af.cntl_cfg_log (
    log_id        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    strem_nm      text,
    prcs_nm       text,
    business_date date        NOT NULL,
    run_id        text        NOT NULL,
    strem_run_id  text,
    dag_id        text,
    task_id       text,
    try_number    integer     NOT NULL DEFAULT 1,
    status        text        NOT NULL CHECK (status IN ('RUNNING', 'SUCCESS', 'FAILED', 'BLOCKED', 'SKIPPED')),
    message       text        NOT NULL DEFAULT '',
    start_ts      timestamptz NOT NULL DEFAULT now(),
    end_ts        timestamptz,
    output_path   text,
    hostname      text,
    pid           integer,
    CONSTRAINT cntl_cfg_log_has_subject CHECK (strem_nm IS NOT NULL OR prcs_nm IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS cntl_cfg_log_prcs_latest_idx
    ON cntl_af.cntl_cfg_log (prcs_nm, business_date, log_id DESC) WHERE prcs_nm IS NOT NULL;
CREATE INDEX IF NOT EXISTS cntl_cfg_log_strem_latest_idx
    ON cntl_af.cntl_cfg_log (strem_nm, business_date, log_id DESC) WHERE prcs_nm IS NULL;
CREATE INDEX IF NOT EXISTS cntl_cfg_log_running_idx
    ON cntl_af.cntl_cfg_log (status) WHERE status = 'RUNNING';
COMMENT ON TABLE cntl_af.cntl_cfg_log IS 'The run log: one row per attempt of a process, and one row per stream run (prcs_nm null).';
COMMENT ON COLUMN cntl_af.cntl_cfg_log.log_id IS 'Surrogate key, generated; higher is newer.';
COMMENT ON COLUMN cntl_af.cntl_cfg_log.strem_nm IS 'Stream of the run (null when a process DAG was triggered on its own).';
COMMENT ON COLUMN cntl_af.cntl_cfg_log.prcs_nm IS 'Process of the attempt; null on a stream-level row.';
COMMENT ON COLUMN cntl_af.cntl_cfg_log.business_date IS 'The business date the run is for.';
COMMENT ON COLUMN cntl_af.cntl_cfg_log.run_id IS 'Airflow DAG run id of the attempt.';
COMMENT ON COLUMN cntl_af.cntl_cfg_log.strem_run_id IS 'Airflow run id of the stream DAG run that asked for this attempt (null when run on its own).';
COMMENT ON COLUMN cntl_af.cntl_cfg_log.dag_id IS 'Airflow DAG id of the attempt.';
COMMENT ON COLUMN cntl_af.cntl_cfg_log.task_id IS 'Airflow task id of the attempt.';
COMMENT ON COLUMN cntl_af.cntl_cfg_log.try_number IS 'Airflow try number of the attempt (1 = first).';
COMMENT ON COLUMN cntl_af.cntl_cfg_log.status IS 'RUNNING, SUCCESS, FAILED, BLOCKED (a dependency failed) or SKIPPED (already done).';
COMMENT ON COLUMN cntl_af.cntl_cfg_log.message IS 'Human-readable outcome; on FAILED the error type, message and failing cell.';
COMMENT ON COLUMN cntl_af.cntl_cfg_log.start_ts IS 'When the attempt started.';
COMMENT ON COLUMN cntl_af.cntl_cfg_log.end_ts IS 'When the attempt ended; null while RUNNING.';
COMMENT ON COLUMN cntl_af.cntl_cfg_log.output_path IS 'Lake folder of the executed notebook and its HTML.';
COMMENT ON COLUMN cntl_af.cntl_cfg_log.hostname IS 'Host of the worker that ran the attempt.';
COMMENT ON COLUMN cntl_af.cntl_cfg_log.pid IS 'Process id of the worker that ran the attempt.';
