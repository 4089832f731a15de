-- depends: 0008_cntl_cfg_log
CREATE TABLE IF NOT EXISTS cntl_af.cntl_llm_usage (
    usage_id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    log_id            bigint      REFERENCES cntl_af.cntl_cfg_log (log_id) ON DELETE CASCADE,
    strem_nm          text,
    prcs_nm           text        NOT NULL,
    business_date     date        NOT NULL,
    run_id            text        NOT NULL,
    provider_nm       text        NOT NULL,
    model_nm          text        NOT NULL,
    operation_nm      text        NOT NULL CHECK (operation_nm IN ('chat', 'embed')),
    prompt_tokens     integer     NOT NULL DEFAULT 0,
    completion_tokens integer     NOT NULL DEFAULT 0,
    duration_ms       integer     NOT NULL DEFAULT 0,
    server_ms         integer,
    attempt_cnt       integer     NOT NULL DEFAULT 1,
    cache_hit_flg     boolean     NOT NULL DEFAULT false,
    ts                timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS cntl_llm_usage_run_idx
    ON cntl_af.cntl_llm_usage (prcs_nm, business_date, run_id);
CREATE INDEX IF NOT EXISTS cntl_llm_usage_log_idx ON cntl_af.cntl_llm_usage (log_id);
COMMENT ON TABLE cntl_af.cntl_llm_usage IS 'One row per LLM call of a process run: tokens, time and whether the cache answered.';
COMMENT ON COLUMN cntl_af.cntl_llm_usage.usage_id IS 'Surrogate key, generated.';
COMMENT ON COLUMN cntl_af.cntl_llm_usage.log_id IS 'The cntl_cfg_log attempt that made the call (null outside a registered run).';
COMMENT ON COLUMN cntl_af.cntl_llm_usage.strem_nm IS 'Stream of the run, when run by a stream.';
COMMENT ON COLUMN cntl_af.cntl_llm_usage.prcs_nm IS 'Process that made the call (interactive in plain Jupyter).';
COMMENT ON COLUMN cntl_af.cntl_llm_usage.business_date IS 'Business date of the run.';
COMMENT ON COLUMN cntl_af.cntl_llm_usage.run_id IS 'Airflow DAG run id of the run (interactive in plain Jupyter).';
COMMENT ON COLUMN cntl_af.cntl_llm_usage.provider_nm IS 'LLM provider called (ollama, openai).';
COMMENT ON COLUMN cntl_af.cntl_llm_usage.model_nm IS 'Model called.';
COMMENT ON COLUMN cntl_af.cntl_llm_usage.operation_nm IS 'chat (complete and chat) or embed.';
COMMENT ON COLUMN cntl_af.cntl_llm_usage.prompt_tokens IS 'Input tokens reported by the server (0 on a cache hit).';
COMMENT ON COLUMN cntl_af.cntl_llm_usage.completion_tokens IS 'Output tokens reported by the server (0 on a cache hit).';
COMMENT ON COLUMN cntl_af.cntl_llm_usage.duration_ms IS 'Wall-clock milliseconds of the call seen by the client, retries included.';
COMMENT ON COLUMN cntl_af.cntl_llm_usage.server_ms IS 'Milliseconds the server reports for the call (Ollama total_duration); null when unknown.';
COMMENT ON COLUMN cntl_af.cntl_llm_usage.attempt_cnt IS 'Server requests the call took: retries and structured-output re-asks included; 0 on a cache hit.';
COMMENT ON COLUMN cntl_af.cntl_llm_usage.cache_hit_flg IS 'true when the response cache answered and no server was called.';
COMMENT ON COLUMN cntl_af.cntl_llm_usage.ts IS 'When the call ended.';
