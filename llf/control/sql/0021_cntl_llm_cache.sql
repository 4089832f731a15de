-- depends: 0008_cntl_cfg_log
CREATE TABLE IF NOT EXISTS cntl_af.cntl_llm_cache (
    cache_key   text        PRIMARY KEY CHECK (cache_key ~ '^[0-9a-f]{64}$'),
    provider_nm text        NOT NULL,
    model_nm    text        NOT NULL,
    request     jsonb       NOT NULL,
    response    jsonb       NOT NULL,
    created_ts  timestamptz NOT NULL DEFAULT now(),
    hit_cnt     integer     NOT NULL DEFAULT 0,
    last_hit_ts timestamptz
);
COMMENT ON TABLE cntl_af.cntl_llm_cache IS 'LLM response cache: an identical request (provider, model, messages, schema, options) is answered from here without a server call.';
COMMENT ON COLUMN cntl_af.cntl_llm_cache.cache_key IS 'SHA-256 of the canonical JSON of provider, model, messages, schema and options.';
COMMENT ON COLUMN cntl_af.cntl_llm_cache.provider_nm IS 'LLM provider of the request (ollama, openai).';
COMMENT ON COLUMN cntl_af.cntl_llm_cache.model_nm IS 'Model of the request.';
COMMENT ON COLUMN cntl_af.cntl_llm_cache.request IS 'The canonical request the key was computed from (for inspection).';
COMMENT ON COLUMN cntl_af.cntl_llm_cache.response IS 'The reply: text, token counts and server time of the original call.';
COMMENT ON COLUMN cntl_af.cntl_llm_cache.created_ts IS 'When the reply was first stored.';
COMMENT ON COLUMN cntl_af.cntl_llm_cache.hit_cnt IS 'How many calls were answered from this row.';
COMMENT ON COLUMN cntl_af.cntl_llm_cache.last_hit_ts IS 'When a call was last answered from this row.';
