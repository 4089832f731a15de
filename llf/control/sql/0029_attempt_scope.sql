-- depends: 0028_process_connections
-- Streams isolated from each other in the stores notebooks write, by the database, not by the key (issue 26).
--
-- Every notebook login shares the role llf_notebook, so grants alone cannot tell stream A's kernel from stream
-- B's: B could read A's cached prompts and answers, plant the answer A's next prompt gets, and write progress
-- lines and token usage on A's attempt. Now each attempt gets a random token when the runner starts its kernel
-- (llf.control.attempt_tokens); only its SHA-256 is kept here, in a table llf_notebook cannot read. The SDK
-- sends the token when it connects (the session setting llf.attempt_token), and row-level security scopes
-- every row llf_notebook reads or writes in these tables to the attempt that token names:
--   cntl_llm_cache      read, counted and written only within the attempt's stream (the stream its process is
--                       registered in: never the run conf's word); the stream is part of the cache's key, so
--                       the same prompt in two streams is two rows, and no stream learns what another asked;
--   cntl_prcs_progress  written only for the attempt itself (its log_id, process, date and run id);
--   cntl_llm_usage      the same, and the attempt's stream.
-- A token is alive while its attempt's row is RUNNING: whatever closes the row (the run itself, a sweep of a
-- dead worker's row, a retry's stale sweep) ends the token with it, with no write of its own that could be
-- missed. A session with no token, a wrong one or a dead one gets no row and may write none.
--
-- The platform is not held back: the tables' owner (the runner, `llf status`, the UI) is not subject to
-- row-level security (not FORCEd), and a permissive policy for PUBLIC keeps any other role's reach to what its
-- grants say; the restrictive policies below narrow llf_notebook (and each login in it) alone.

CREATE TABLE IF NOT EXISTS cntl_af.cntl_attempt_token (
    token_hash bytea       PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    log_id     bigint      NOT NULL UNIQUE REFERENCES cntl_af.cntl_cfg_log (log_id) ON DELETE CASCADE,
    created_ts timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON cntl_af.cntl_attempt_token FROM PUBLIC;
COMMENT ON TABLE cntl_af.cntl_attempt_token IS
    'The token of each attempt whose notebook ran (SHA-256 only): what scopes a notebook session to its attempt '
    'and stream in the LLM cache, progress and usage. Readable by the owner alone.';
COMMENT ON COLUMN cntl_af.cntl_attempt_token.token_hash IS
    'SHA-256 of the token the runner handed the kernel (LLF_ATTEMPT_TOKEN); the token itself is never stored.';
COMMENT ON COLUMN cntl_af.cntl_attempt_token.log_id IS
    'The attempt the token speaks for; the token is alive while that row is RUNNING.';
COMMENT ON COLUMN cntl_af.cntl_attempt_token.created_ts IS 'When the runner minted the token.';

-- The attempt the session's token names, or no row. SECURITY DEFINER: it reads the token table and the run log,
-- which llf_notebook cannot; it returns the one attempt the caller already holds the token of, nothing else.
CREATE OR REPLACE FUNCTION cntl_af.attempt_scope()
    RETURNS TABLE (log_id bigint, strem_nm text, run_strem_nm text, prcs_nm text, business_date date, run_id text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT l.log_id, s.strem_nm, l.strem_nm, l.prcs_nm, l.business_date, l.run_id
    FROM cntl_af.cntl_attempt_token t
    JOIN cntl_af.cntl_cfg_log l ON l.log_id = t.log_id AND l.status = 'RUNNING'
    LEFT JOIN cntl_af.cntl_cfg_prcs p ON p.prcs_nm = l.prcs_nm
    LEFT JOIN cntl_af.cntl_cfg_prcs_grp g ON g.prcs_grp_id = p.prcs_grp_id
    LEFT JOIN cntl_af.cntl_cfg_strem s ON s.strem_id = g.strem_id
    WHERE t.token_hash = sha256(convert_to(nullif(current_setting('llf.attempt_token', true), ''), 'UTF8'))
$$;
COMMENT ON FUNCTION cntl_af.attempt_scope() IS
    'The RUNNING attempt named by the session''s llf.attempt_token (its SHA-256 in cntl_attempt_token): log_id, '
    'the stream its process is registered in (strem_nm), the run''s stream (run_strem_nm), process, date and run '
    'id; no row without a live token. What the row-level security of the LLM cache, progress and usage reads.';

CREATE OR REPLACE FUNCTION cntl_af.attempt_stream() RETURNS text
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$ SELECT strem_nm FROM cntl_af.attempt_scope() $$;
COMMENT ON FUNCTION cntl_af.attempt_stream() IS
    'The stream of the session''s attempt (cntl_af.attempt_scope), null without a live token: the scope of '
    'the LLM cache rows the session may read and write.';

REVOKE ALL ON FUNCTION cntl_af.attempt_scope(), cntl_af.attempt_stream() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cntl_af.attempt_scope(), cntl_af.attempt_stream() TO llf_notebook;

-- The cache's key gains the stream. Answers stored before this file have none (null): the owner still sees them,
-- no notebook does (a notebook's first call asks the server again). NULLS NOT DISTINCT: one unscoped row per key.
ALTER TABLE cntl_af.cntl_llm_cache ADD COLUMN IF NOT EXISTS strem_nm text DEFAULT cntl_af.attempt_stream();
COMMENT ON COLUMN cntl_af.cntl_llm_cache.strem_nm IS
    'The stream whose attempts stored and may read this answer (filled in from the session''s attempt token); '
    'null for answers stored outside a stream''s attempt (plain Jupyter with the owner''s URL), which no '
    'notebook session sees.';
ALTER TABLE cntl_af.cntl_llm_cache DROP CONSTRAINT IF EXISTS cntl_llm_cache_pkey;
ALTER TABLE cntl_af.cntl_llm_cache ADD COLUMN IF NOT EXISTS cache_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;
COMMENT ON COLUMN cntl_af.cntl_llm_cache.cache_id IS 'Surrogate key, generated.';
ALTER TABLE cntl_af.cntl_llm_cache ADD CONSTRAINT cntl_llm_cache_stream_key UNIQUE NULLS NOT DISTINCT (strem_nm, cache_key);
COMMENT ON CONSTRAINT cntl_llm_cache_stream_key ON cntl_af.cntl_llm_cache IS
    'One answer per request and stream: a stream''s cache is its own.';

ALTER TABLE cntl_af.cntl_llm_cache ENABLE ROW LEVEL SECURITY;
ALTER TABLE cntl_af.cntl_prcs_progress ENABLE ROW LEVEL SECURITY;
ALTER TABLE cntl_af.cntl_llm_usage ENABLE ROW LEVEL SECURITY;

CREATE POLICY cntl_llm_cache_by_grants ON cntl_af.cntl_llm_cache AS PERMISSIVE FOR ALL TO PUBLIC
    USING (true) WITH CHECK (true);
CREATE POLICY cntl_prcs_progress_by_grants ON cntl_af.cntl_prcs_progress AS PERMISSIVE FOR ALL TO PUBLIC
    USING (true) WITH CHECK (true);
CREATE POLICY cntl_llm_usage_by_grants ON cntl_af.cntl_llm_usage AS PERMISSIVE FOR ALL TO PUBLIC
    USING (true) WITH CHECK (true);

-- Each (SELECT ...) is evaluated once per statement, not per row.
CREATE POLICY cntl_llm_cache_own_stream ON cntl_af.cntl_llm_cache AS RESTRICTIVE FOR ALL TO llf_notebook
    USING (strem_nm = (SELECT cntl_af.attempt_stream()))
    WITH CHECK (strem_nm = (SELECT cntl_af.attempt_stream()));
CREATE POLICY cntl_prcs_progress_own_attempt ON cntl_af.cntl_prcs_progress AS RESTRICTIVE FOR ALL TO llf_notebook
    USING ((log_id, prcs_nm, business_date, run_id) IN (
        SELECT s.log_id, s.prcs_nm, s.business_date, s.run_id FROM cntl_af.attempt_scope() s))
    WITH CHECK ((log_id, prcs_nm, business_date, run_id) IN (
        SELECT s.log_id, s.prcs_nm, s.business_date, s.run_id FROM cntl_af.attempt_scope() s));
CREATE POLICY cntl_llm_usage_own_attempt ON cntl_af.cntl_llm_usage AS RESTRICTIVE FOR ALL TO llf_notebook
    USING ((log_id, prcs_nm, business_date, run_id) IN (
        SELECT s.log_id, s.prcs_nm, s.business_date, s.run_id FROM cntl_af.attempt_scope() s)
        AND strem_nm IS NOT DISTINCT FROM (SELECT s.run_strem_nm FROM cntl_af.attempt_scope() s))
    WITH CHECK ((log_id, prcs_nm, business_date, run_id) IN (
        SELECT s.log_id, s.prcs_nm, s.business_date, s.run_id FROM cntl_af.attempt_scope() s)
        AND strem_nm IS NOT DISTINCT FROM (SELECT s.run_strem_nm FROM cntl_af.attempt_scope() s));
COMMENT ON POLICY cntl_llm_cache_own_stream ON cntl_af.cntl_llm_cache IS
    'A notebook session reads, counts and stores answers of its own attempt''s stream only (cntl_af.attempt_scope).';
COMMENT ON POLICY cntl_prcs_progress_own_attempt ON cntl_af.cntl_prcs_progress IS
    'A notebook session writes progress lines for its own RUNNING attempt only (cntl_af.attempt_scope).';
COMMENT ON POLICY cntl_llm_usage_own_attempt ON cntl_af.cntl_llm_usage IS
    'A notebook session records LLM usage for its own RUNNING attempt and stream only (cntl_af.attempt_scope).';
