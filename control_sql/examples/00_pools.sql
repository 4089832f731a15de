-- Pools shared by every stream, registered once: cntl_af.cntl_cfg_pool is their single source, and
-- `llf pools sync` creates or updates them in Airflow (make demo, `llf local up` and compose's llf-init run it).
-- Re-runnable: a changed copy changes the row (then `llf pools sync` again).
--
-- llm: the LLM server answers OLLAMA_NUM_PARALLEL = 2 requests at once (docker-compose.yml sets it for Ollama).
-- Every process that calls it (chat or embeddings) takes a slot, so all streams together never have more LLM
-- work running than the server can take: the rest waits in Airflow, visibly, instead of piling up inside the
-- server until a timeout. Change both numbers together. Those processes also go to the Celery queue `llm`
-- (their group's queue_nm), served by the worker beside the GPU; LocalExecutor ignores queues, not pools.
INSERT INTO cntl_af.cntl_cfg_pool (pool_nm, slots, pool_desc)
VALUES ('llm', 2, 'Calls to the LLM server of all streams at once: 2 = its OLLAMA_NUM_PARALLEL (change both together).')
ON CONFLICT (pool_nm) DO UPDATE SET slots = EXCLUDED.slots, pool_desc = EXCLUDED.pool_desc, updated_ts = now();
