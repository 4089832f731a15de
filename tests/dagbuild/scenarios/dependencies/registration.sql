-- report depends on two extracts; the extracts depend on nothing.
INSERT INTO cntl_af.cntl_cfg_strem (strem_nm) VALUES ('finance');
INSERT INTO cntl_af.cntl_cfg_prcs_grp (strem_id, prcs_grp_nm, max_parallel)
SELECT strem_id, 'all', 3 FROM cntl_af.cntl_cfg_strem;
INSERT INTO cntl_af.cntl_cfg_prcs (prcs_grp_id, prcs_nm, prcs_desc, params, timeout_min, retries)
SELECT prcs_grp_id, p.nm, p.descr, p.params::jsonb, p.timeout_min, p.retries FROM cntl_af.cntl_cfg_prcs_grp,
       (VALUES ('extract_gl', 'General ledger extract', '{}', 60, 0),
               ('extract_ap', 'Payables extract', '{}', 60, 0),
               ('report', 'Monthly report', '{"prompt": "Summarise {{ totals }}", "top_k": 5}', 20, 2))
       AS p (nm, descr, params, timeout_min, retries);
INSERT INTO cntl_af.cntl_cfg_sys_file (prcs_id, file_path) SELECT prcs_id, 'ok.ipynb' FROM cntl_af.cntl_cfg_prcs;
INSERT INTO cntl_af.cntl_cfg_prcs_depn (prcs_id, depn_prcs_id)
SELECT a.prcs_id, b.prcs_id FROM cntl_af.cntl_cfg_prcs a, cntl_af.cntl_cfg_prcs b
WHERE a.prcs_nm = 'report' AND b.prcs_nm IN ('extract_gl', 'extract_ap');
