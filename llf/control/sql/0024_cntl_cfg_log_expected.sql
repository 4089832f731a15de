-- depends: 0009_cntl_cfg_log_one_running
-- A stream run waits for, and accounts for, the processes it was started with, never for registrations
-- made while it runs: the set is captured when its stream-level row opens.
ALTER TABLE cntl_af.cntl_cfg_log ADD COLUMN IF NOT EXISTS expected_prcs text[];
COMMENT ON COLUMN cntl_af.cntl_cfg_log.expected_prcs IS 'Stream-level row only: the active processes of the stream when the run (re)opened the row, the ones it waits for and accounts for; null on process rows and on rows written before this column existed.';
