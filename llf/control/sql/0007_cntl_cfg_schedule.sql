-- depends: 0002_cntl_cfg_strem
CREATE TABLE IF NOT EXISTS cntl_af.cntl_cfg_schedule (
    schedule_id  integer     GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    strem_id     integer     NOT NULL REFERENCES cntl_af.cntl_cfg_strem (strem_id) ON DELETE CASCADE,
    cron_expr    text        NOT NULL,
    timezone     text        NOT NULL DEFAULT 'UTC',
    actv_flg     boolean     NOT NULL DEFAULT true,
    created_ts   timestamptz NOT NULL DEFAULT now(),
    updated_ts   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS cntl_cfg_schedule_one_active_idx
    ON cntl_af.cntl_cfg_schedule (strem_id) WHERE actv_flg;
COMMENT ON TABLE cntl_af.cntl_cfg_schedule IS 'When a stream runs: at most one active schedule per stream; none = manual runs only.';
COMMENT ON COLUMN cntl_af.cntl_cfg_schedule.schedule_id IS 'Surrogate key, generated.';
COMMENT ON COLUMN cntl_af.cntl_cfg_schedule.strem_id IS 'The scheduled stream.';
COMMENT ON COLUMN cntl_af.cntl_cfg_schedule.cron_expr IS 'Five-field cron expression, e.g. 0 6 * * 1-5.';
COMMENT ON COLUMN cntl_af.cntl_cfg_schedule.timezone IS 'IANA time zone the cron expression is read in, e.g. Europe/Paris.';
COMMENT ON COLUMN cntl_af.cntl_cfg_schedule.actv_flg IS 'false makes the stream manual-only.';
COMMENT ON COLUMN cntl_af.cntl_cfg_schedule.created_ts IS 'When the row was inserted.';
COMMENT ON COLUMN cntl_af.cntl_cfg_schedule.updated_ts IS 'When the row was last changed (set by the writer).';
