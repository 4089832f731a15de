-- One scheduled stream; rows inserted out of order so the DAG must sort by priority, not by insertion.
INSERT INTO cntl_af.cntl_cfg_strem (strem_nm, strem_desc, owner_nm, fail_policy)
VALUES ('sales', 'Daily sales recommendations', 'merch_team', 'CONTINUE');
INSERT INTO cntl_af.cntl_cfg_schedule (strem_id, cron_expr, timezone)
SELECT strem_id, '30 6 * * 1-5', 'Europe/Paris' FROM cntl_af.cntl_cfg_strem WHERE strem_nm = 'sales';
INSERT INTO cntl_af.cntl_cfg_prcs_grp (strem_id, prcs_grp_nm, priority, max_parallel)
SELECT strem_id, g.nm, g.priority, g.max_parallel FROM cntl_af.cntl_cfg_strem,
       (VALUES ('report', 2, 1), ('prepare', 1, 2)) AS g (nm, priority, max_parallel)
WHERE strem_nm = 'sales';
INSERT INTO cntl_af.cntl_cfg_prcs (prcs_grp_id, prcs_nm, priority, owner_nm)
SELECT prcs_grp_id, p.nm, p.priority, 'analyst' FROM cntl_af.cntl_cfg_prcs_grp,
       (VALUES ('prepare', 'load_c', 3), ('prepare', 'load_a', 1), ('prepare', 'load_e', 5),
               ('prepare', 'load_b', 2), ('prepare', 'load_d', 4),
               ('report', 'report_2', 2), ('report', 'report_1', 1)) AS p (grp, nm, priority)
WHERE prcs_grp_nm = p.grp;
INSERT INTO cntl_af.cntl_cfg_sys_file (prcs_id, file_path) SELECT prcs_id, 'ok.ipynb' FROM cntl_af.cntl_cfg_prcs;
