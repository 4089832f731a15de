-- A manual-only STOP stream with two groups.
INSERT INTO cntl_af.cntl_cfg_strem (strem_nm, fail_policy) VALUES ('strict', 'STOP');
INSERT INTO cntl_af.cntl_cfg_prcs_grp (strem_id, prcs_grp_nm, priority, max_parallel)
SELECT strem_id, g.nm, g.priority, 1 FROM cntl_af.cntl_cfg_strem, (VALUES ('first', 1), ('second', 2)) AS g (nm, priority);
INSERT INTO cntl_af.cntl_cfg_prcs (prcs_grp_id, prcs_nm)
SELECT prcs_grp_id, 'step_' || prcs_grp_nm FROM cntl_af.cntl_cfg_prcs_grp;
INSERT INTO cntl_af.cntl_cfg_sys_file (prcs_id, file_path) SELECT prcs_id, 'ok.ipynb' FROM cntl_af.cntl_cfg_prcs;
