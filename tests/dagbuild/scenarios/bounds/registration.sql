-- A stream of two groups (two lanes, then one) whose last process depends on a process of another stream.
INSERT INTO cntl_af.cntl_cfg_strem (strem_nm) VALUES ('ingest'), ('daily');
INSERT INTO cntl_af.cntl_cfg_prcs_grp (strem_id, prcs_grp_nm, priority, max_parallel)
SELECT strem_id, g.nm, g.priority, g.max_parallel FROM cntl_af.cntl_cfg_strem,
       (VALUES ('ingest', 'load', 1, 1), ('daily', 'first', 1, 2), ('daily', 'second', 2, 1))
       AS g (strem, nm, priority, max_parallel)
WHERE strem_nm = g.strem;
INSERT INTO cntl_af.cntl_cfg_prcs (prcs_grp_id, prcs_nm, priority, timeout_min, retries)
SELECT prcs_grp_id, p.nm, p.priority, p.timeout_min, p.retries FROM cntl_af.cntl_cfg_prcs_grp,
       (VALUES ('load', 'raw', 1, 30, 1),
               ('first', 'a', 1, 10, 2), ('first', 'b', 2, 5, 0), ('first', 'c', 3, 15, 1),
               ('second', 'd', 1, 20, 0)) AS p (grp, nm, priority, timeout_min, retries)
WHERE prcs_grp_nm = p.grp;
INSERT INTO cntl_af.cntl_cfg_sys_file (prcs_id, file_path) SELECT prcs_id, 'ok.ipynb' FROM cntl_af.cntl_cfg_prcs;
INSERT INTO cntl_af.cntl_cfg_prcs_depn (prcs_id, depn_prcs_id)
SELECT a.prcs_id, b.prcs_id FROM cntl_af.cntl_cfg_prcs a, cntl_af.cntl_cfg_prcs b
WHERE a.prcs_nm = 'd' AND b.prcs_nm = 'raw';
