-- 'good' is fine; 'broken' registers a notebook that does not exist; 'downstream' depends on 'broken'.
INSERT INTO cntl_af.cntl_cfg_strem (strem_nm) VALUES ('good'), ('broken'), ('downstream');
INSERT INTO cntl_af.cntl_cfg_prcs_grp (strem_id, prcs_grp_nm) SELECT strem_id, 'main' FROM cntl_af.cntl_cfg_strem;
INSERT INTO cntl_af.cntl_cfg_prcs (prcs_grp_id, prcs_nm)
SELECT prcs_grp_id, s.strem_nm || '_step' FROM cntl_af.cntl_cfg_prcs_grp JOIN cntl_af.cntl_cfg_strem s USING (strem_id);
INSERT INTO cntl_af.cntl_cfg_sys_file (prcs_id, file_path)
SELECT prcs_id, CASE prcs_nm WHEN 'broken_step' THEN 'missing.ipynb' ELSE 'ok.ipynb' END FROM cntl_af.cntl_cfg_prcs;
INSERT INTO cntl_af.cntl_cfg_prcs_depn (prcs_id, depn_prcs_id)
SELECT a.prcs_id, b.prcs_id FROM cntl_af.cntl_cfg_prcs a, cntl_af.cntl_cfg_prcs b
WHERE a.prcs_nm = 'downstream_step' AND b.prcs_nm = 'broken_step';
