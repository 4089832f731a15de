-- Inactive rows at every level: they must vanish from Airflow without breaking what stays active.
INSERT INTO cntl_af.cntl_cfg_strem (strem_nm, actv_flg) VALUES ('live', true), ('retired', false);
INSERT INTO cntl_af.cntl_cfg_schedule (strem_id, cron_expr, actv_flg)
SELECT strem_id, '0 5 * * *', false FROM cntl_af.cntl_cfg_strem WHERE strem_nm = 'live';
INSERT INTO cntl_af.cntl_cfg_prcs_grp (strem_id, prcs_grp_nm, actv_flg)
SELECT strem_id, g.nm, g.active FROM cntl_af.cntl_cfg_strem,
       (VALUES ('live', 'kept', true), ('live', 'paused', false), ('retired', 'old', true)) AS g (strem, nm, active)
WHERE strem_nm = g.strem;
INSERT INTO cntl_af.cntl_cfg_prcs (prcs_grp_id, prcs_nm, actv_flg)
SELECT prcs_grp_id, p.nm, p.active FROM cntl_af.cntl_cfg_prcs_grp,
       (VALUES ('kept', 'kept_on', true), ('kept', 'kept_off', false), ('paused', 'in_paused_group', true),
               ('old', 'in_retired_stream', true)) AS p (grp, nm, active)
WHERE prcs_grp_nm = p.grp;
INSERT INTO cntl_af.cntl_cfg_sys_file (prcs_id, file_path) SELECT prcs_id, 'ok.ipynb' FROM cntl_af.cntl_cfg_prcs;
-- An inactive dependency on an inactive process is ignored, not an error.
INSERT INTO cntl_af.cntl_cfg_prcs_depn (prcs_id, depn_prcs_id, actv_flg)
SELECT a.prcs_id, b.prcs_id, false FROM cntl_af.cntl_cfg_prcs a, cntl_af.cntl_cfg_prcs b
WHERE a.prcs_nm = 'kept_on' AND b.prcs_nm = 'kept_off';
