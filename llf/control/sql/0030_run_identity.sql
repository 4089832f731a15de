-- depends: 0029_attempt_scope
-- Run identity from the scheduler, not from the caller (issue 26): a process DAG run is filed under a stream run
-- only when the trigger that started it vouched for it. Before, anyone allowed to trigger one process DAG could
-- file its attempt and outputs under another stream's run by writing strem_nm/strem_run_id in the run's conf.
--
-- The trigger (a stream task falling back to the process DAG, or a dependant's dependency task) mints a random
-- token, keeps its SHA-256 here with what it vouches for, and puts the token itself in the conf of the run it
-- triggers, whose run id it chooses. The process DAG's tasks accept the conf's stream run only when a row here,
-- found by the token's hash, vouches for exactly that process, run id, business date and stream run. The token
-- is bound to one Airflow run (dag_id and run_id are unique together): a retry or clear of that run passes, a
-- copy of the conf into any other run is refused. It expires, so an old clear cannot reopen a long-closed
-- stream run, and the table does not grow without end (the trigger deletes rows long expired).
--
-- Only the owner of cntl_af reads or writes it: no grant to llf_notebook, and only hashes are stored.
CREATE TABLE IF NOT EXISTS cntl_af.cntl_run_token (
    token_sha256      text        PRIMARY KEY CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
    prcs_nm           text        NOT NULL,
    run_id            text        NOT NULL,
    business_date     date        NOT NULL,
    strem_nm          text,
    strem_run_id      text,
    triggered_by      text        NOT NULL CHECK (triggered_by IN ('stream', 'dependency')),
    rqst_strem_nm     text,
    rqst_strem_run_id text,
    rqst_prcs_nm      text,
    rqst_run_id       text        NOT NULL,
    created_ts        timestamptz NOT NULL DEFAULT now(),
    used_ts           timestamptz,
    expires_ts        timestamptz NOT NULL,
    CONSTRAINT cntl_run_token_stream_run_named CHECK (strem_run_id IS NULL OR strem_nm IS NOT NULL),
    CONSTRAINT cntl_run_token_asker_named CHECK ((rqst_strem_nm IS NULL) = (rqst_strem_run_id IS NULL)),
    CONSTRAINT cntl_run_token_expires_after CHECK (expires_ts > created_ts)
);
CREATE INDEX IF NOT EXISTS cntl_run_token_expires_idx ON cntl_af.cntl_run_token (expires_ts);
REVOKE ALL ON cntl_af.cntl_run_token FROM PUBLIC;
COMMENT ON TABLE cntl_af.cntl_run_token IS
    'Run tokens: what the trigger of a process DAG run vouched for (one row per token, by its SHA-256); the run '
    'is filed under a stream run only when a row here names exactly that stream run.';
COMMENT ON COLUMN cntl_af.cntl_run_token.token_sha256 IS
    'Hex SHA-256 of the token; the token itself is only in the conf of the run it was minted for.';
COMMENT ON COLUMN cntl_af.cntl_run_token.prcs_nm IS 'The process whose DAG run (process__<prcs_nm>) the token is for.';
COMMENT ON COLUMN cntl_af.cntl_run_token.run_id IS 'The Airflow run id of that run, chosen by the trigger.';
COMMENT ON COLUMN cntl_af.cntl_run_token.business_date IS 'The business date the run is for.';
COMMENT ON COLUMN cntl_af.cntl_run_token.strem_nm IS 'The stream its attempts are filed under: the process''s own.';
COMMENT ON COLUMN cntl_af.cntl_run_token.strem_run_id IS
    'The stream run its attempts are filed under; null for a dependency asked by another stream''s run.';
COMMENT ON COLUMN cntl_af.cntl_run_token.triggered_by IS
    'stream (a stream task''s fallback to the process DAG) or dependency (a dependant''s dependency task).';
COMMENT ON COLUMN cntl_af.cntl_run_token.rqst_strem_nm IS 'Stream of the stream run that asked for the run (null: none).';
COMMENT ON COLUMN cntl_af.cntl_run_token.rqst_strem_run_id IS 'Airflow run id of the stream run that asked for the run.';
COMMENT ON COLUMN cntl_af.cntl_run_token.rqst_prcs_nm IS 'The dependant process that asked for it (null: the stream task).';
COMMENT ON COLUMN cntl_af.cntl_run_token.rqst_run_id IS 'The Airflow run id of the task that minted the token.';
COMMENT ON COLUMN cntl_af.cntl_run_token.created_ts IS 'When the token was minted.';
COMMENT ON COLUMN cntl_af.cntl_run_token.used_ts IS 'When a task of the run first presented it; null: never.';
COMMENT ON COLUMN cntl_af.cntl_run_token.expires_ts IS 'After this, the token vouches for nothing (a late clear is refused).';

-- A dependency's attempt is filed under its own stream, linked to the stream run that asked for it.
ALTER TABLE cntl_af.cntl_cfg_log
    ADD COLUMN IF NOT EXISTS rqst_strem_nm text,
    ADD COLUMN IF NOT EXISTS rqst_strem_run_id text;
COMMENT ON COLUMN cntl_af.cntl_cfg_log.rqst_strem_nm IS
    'Stream of the stream run that asked for this attempt as a dependency of one of its processes (null: none); '
    'the attempt itself is filed under its own process''s stream (strem_nm).';
COMMENT ON COLUMN cntl_af.cntl_cfg_log.rqst_strem_run_id IS
    'Airflow run id of the stream run that asked for this attempt as a dependency (null: none).';
