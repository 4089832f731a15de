-- A good, scheduled stream with two groups and a dependency: what must keep loading whatever the
-- hostile registration beside it (tests/dagbuild/test_hostile_registrations.py) holds. Its notebooks/
-- folder also holds the hostile notebooks those registrations point at.
INSERT INTO cntl_af.cntl_cfg_strem (strem_nm, strem_desc) VALUES ('good', 'Keeps loading');
INSERT INTO cntl_af.cntl_cfg_schedule (strem_id, cron_expr, timezone)
SELECT strem_id, '0 6 * * 1-5', 'Europe/Paris' FROM cntl_af.cntl_cfg_strem WHERE strem_nm = 'good';
INSERT INTO cntl_af.cntl_cfg_prcs_grp (strem_id, prcs_grp_nm, priority, max_parallel)
SELECT strem_id, g.nm, g.priority, 2 FROM cntl_af.cntl_cfg_strem,
       (VALUES ('load', 1), ('report', 2)) AS g (nm, priority)
WHERE strem_nm = 'good';
INSERT INTO cntl_af.cntl_cfg_prcs (prcs_grp_id, prcs_nm)
SELECT prcs_grp_id, p.nm FROM cntl_af.cntl_cfg_prcs_grp,
       (VALUES ('load', 'good_load_a'), ('load', 'good_load_b'), ('report', 'good_report')) AS p (grp, nm)
WHERE prcs_grp_nm = p.grp;
INSERT INTO cntl_af.cntl_cfg_sys_file (prcs_id, file_path) SELECT prcs_id, 'ok.ipynb' FROM cntl_af.cntl_cfg_prcs;
INSERT INTO cntl_af.cntl_cfg_prcs_depn (prcs_id, depn_prcs_id)
SELECT a.prcs_id, b.prcs_id FROM cntl_af.cntl_cfg_prcs a, cntl_af.cntl_cfg_prcs b
WHERE a.prcs_nm = 'good_report' AND b.prcs_nm = 'good_load_a';
