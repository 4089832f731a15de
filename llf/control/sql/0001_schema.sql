-- The control schema: every registration and every run record of llf lives here.
CREATE SCHEMA IF NOT EXISTS cntl_af;
COMMENT ON SCHEMA cntl_af IS 'LLM Local Framework control tables: registrations (cntl_cfg_*) and the run log.';
