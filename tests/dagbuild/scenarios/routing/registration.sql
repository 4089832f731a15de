-- Processes routed to Celery queues and Airflow pools (llf/control/sql/0026).
-- Group fetch stays on the default queue; group think sends its processes to the llm queue.
-- load: the group's queue, pool io; ask: the group's queue (llm), 2 slots of pool llm;
-- summarise: its own queue gpu overriding llm, no pool; it depends on ask (a dependency gate).
INSERT INTO cntl_af.cntl_cfg_pool (pool_nm, slots, pool_desc)
VALUES ('llm', 4, 'the LLM server''s parallelism'), ('io', 2, '');
INSERT INTO cntl_af.cntl_cfg_strem (strem_nm) VALUES ('routed');
INSERT INTO cntl_af.cntl_cfg_prcs_grp (strem_id, prcs_grp_nm, priority, max_parallel, queue_nm)
SELECT strem_id, g.nm, g.priority, 2, g.queue_nm FROM cntl_af.cntl_cfg_strem,
       (VALUES ('fetch', 1, 'default'), ('think', 2, 'llm')) AS g (nm, priority, queue_nm);
INSERT INTO cntl_af.cntl_cfg_prcs (prcs_grp_id, prcs_nm, queue_nm, pool_nm, pool_slots)
SELECT prcs_grp_id, p.nm, p.queue_nm, p.pool_nm, p.pool_slots FROM cntl_af.cntl_cfg_prcs_grp g
JOIN (VALUES ('fetch', 'load', NULL, 'io', 1), ('think', 'ask', NULL, 'llm', 2), ('think', 'summarise', 'gpu', NULL, 1))
     AS p (grp, nm, queue_nm, pool_nm, pool_slots) ON p.grp = g.prcs_grp_nm;
INSERT INTO cntl_af.cntl_cfg_sys_file (prcs_id, file_path) SELECT prcs_id, 'ok.ipynb' FROM cntl_af.cntl_cfg_prcs;
INSERT INTO cntl_af.cntl_cfg_prcs_depn (prcs_id, depn_prcs_id)
SELECT a.prcs_id, b.prcs_id FROM cntl_af.cntl_cfg_prcs a, cntl_af.cntl_cfg_prcs b
WHERE a.prcs_nm = 'summarise' AND b.prcs_nm = 'ask';
