-- LLM question: one notebook registered twice, answers (or errors) kept in a results table by LLM hooks.
-- Manual runs only; re-runnable (see 01_quickstart.sql).

CREATE SCHEMA IF NOT EXISTS llf_results;
COMMENT ON SCHEMA llf_results IS 'Business results written by the example streams (not control data).';

CREATE TABLE IF NOT EXISTS llf_results.llm_answers (
    answer_id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id             text        NOT NULL,
    log_id             bigint,
    prcs_nm            text        NOT NULL,
    business_date      date        NOT NULL,
    request_key        text        NOT NULL,
    model              text        NOT NULL,
    question           text        NOT NULL,
    status             text        NOT NULL CHECK (status IN ('ASKED', 'ANSWERED', 'FAILED')),
    answer             text,
    error              text,
    prompt_tokens      integer,
    completion_tokens  integer,
    cache_hit          boolean,
    asked_ts           timestamptz NOT NULL DEFAULT now(),
    done_ts            timestamptz,
    UNIQUE (run_id, request_key)
);
COMMENT ON TABLE llf_results.llm_answers IS 'One LLM question of the llm_question example and how it ended, written by its hooks.';
COMMENT ON COLUMN llf_results.llm_answers.answer_id IS 'Surrogate key, generated.';
COMMENT ON COLUMN llf_results.llm_answers.run_id IS 'The process run that asked (cntl_cfg_log.run_id).';
COMMENT ON COLUMN llf_results.llm_answers.log_id IS 'The attempt that asked (cntl_cfg_log.log_id); null in plain Jupyter.';
COMMENT ON COLUMN llf_results.llm_answers.prcs_nm IS 'The process that asked.';
COMMENT ON COLUMN llf_results.llm_answers.business_date IS 'Business date of the run.';
COMMENT ON COLUMN llf_results.llm_answers.request_key IS 'The LLM cache key of the request: same question, same key.';
COMMENT ON COLUMN llf_results.llm_answers.model IS 'The model asked (LLF_LLM_MODEL).';
COMMENT ON COLUMN llf_results.llm_answers.question IS 'The question (last user message).';
COMMENT ON COLUMN llf_results.llm_answers.status IS 'ASKED (in flight), ANSWERED or FAILED.';
COMMENT ON COLUMN llf_results.llm_answers.answer IS 'The answer, when ANSWERED.';
COMMENT ON COLUMN llf_results.llm_answers.error IS 'Error type and message, when FAILED.';
COMMENT ON COLUMN llf_results.llm_answers.prompt_tokens IS 'Prompt tokens (0 on a cache hit).';
COMMENT ON COLUMN llf_results.llm_answers.completion_tokens IS 'Completion tokens (0 on a cache hit).';
COMMENT ON COLUMN llf_results.llm_answers.cache_hit IS 'Whether the answer came from the LLM response cache.';
COMMENT ON COLUMN llf_results.llm_answers.asked_ts IS 'When the question was sent.';
COMMENT ON COLUMN llf_results.llm_answers.done_ts IS 'When it was answered or failed.';

INSERT INTO cntl_af.cntl_cfg_strem (strem_nm, strem_desc)
VALUES ('llm_question', 'Ask the LLM questions; answers or errors land in llf_results.llm_answers through LLM hooks.')
ON CONFLICT (strem_nm) DO UPDATE SET strem_desc = EXCLUDED.strem_desc, updated_ts = now();

-- The results table is this stream's: its notebooks read and write it, no other stream's do (README, Security).
SELECT cntl_af.grant_to_stream('llm_question', 'llf_results.llm_answers');

-- Both questions call the LLM server: the `llm` queue and the `llm` pool (00_pools.sql).
INSERT INTO cntl_af.cntl_cfg_prcs_grp (strem_id, prcs_grp_nm, priority, max_parallel, queue_nm)
SELECT strem_id, 'ask', 1, 2, 'llm' FROM cntl_af.cntl_cfg_strem WHERE strem_nm = 'llm_question'
ON CONFLICT (strem_id, prcs_grp_nm) DO UPDATE
    SET priority = EXCLUDED.priority, max_parallel = EXCLUDED.max_parallel, queue_nm = EXCLUDED.queue_nm,
        updated_ts = now();

INSERT INTO cntl_af.cntl_cfg_prcs (prcs_grp_id, prcs_nm, prcs_desc, priority, params, timeout_min, pool_nm)
SELECT g.prcs_grp_id, p.nm, p.descr, p.priority, p.params::jsonb, 10, 'llm'
FROM cntl_af.cntl_cfg_prcs_grp g
JOIN cntl_af.cntl_cfg_strem s USING (strem_id)
JOIN (VALUES
        ('lq_ask_airflow', 'What Airflow does', 1, '{"question": "In one sentence, what does Apache Airflow do?"}'),
        ('lq_ask_rag',     'What RAG means',    2, '{"question": "In one sentence, what is retrieval-augmented generation?"}')
     ) AS p (nm, descr, priority, params) ON g.prcs_grp_nm = 'ask'
WHERE s.strem_nm = 'llm_question'
ON CONFLICT (prcs_nm) DO UPDATE
    SET prcs_desc = EXCLUDED.prcs_desc, priority = EXCLUDED.priority,
        params = EXCLUDED.params, timeout_min = EXCLUDED.timeout_min, pool_nm = EXCLUDED.pool_nm, updated_ts = now();

INSERT INTO cntl_af.cntl_cfg_sys_file (prcs_id, file_path)
SELECT prcs_id, 'examples/llm_question/ask.ipynb' FROM cntl_af.cntl_cfg_prcs
WHERE prcs_nm IN ('lq_ask_airflow', 'lq_ask_rag')
ON CONFLICT (prcs_id) DO UPDATE SET file_path = EXCLUDED.file_path, updated_ts = now();
