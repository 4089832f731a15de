-- Quickstart: a three-group stream registered with plain INSERTs.
-- Every column not named here has a default (see the data dictionary in README.md).
-- Re-runnable, and a changed copy changes the rows: each INSERT updates the columns it names when the row
-- exists (ON CONFLICT ... DO UPDATE). Columns it does not name keep their value, so a process or group you
-- deactivated stays deactivated, and a process keeps its group (move one with UPDATE, or use `llf sync`).

INSERT INTO cntl_af.cntl_cfg_strem (strem_nm, strem_desc)
VALUES ('quickstart', 'Extract, transform and publish a daily report: the smallest complete llf stream.')
ON CONFLICT (strem_nm) DO UPDATE SET strem_desc = EXCLUDED.strem_desc, updated_ts = now();

INSERT INTO cntl_af.cntl_cfg_prcs_grp (strem_id, prcs_grp_nm, priority, max_parallel)
SELECT strem_id, grp.nm, grp.priority, grp.max_parallel
FROM cntl_af.cntl_cfg_strem,
     (VALUES ('extract', 1, 2), ('transform', 2, 1), ('publish', 3, 1)) AS grp (nm, priority, max_parallel)
WHERE strem_nm = 'quickstart'
ON CONFLICT (strem_id, prcs_grp_nm) DO UPDATE
    SET priority = EXCLUDED.priority, max_parallel = EXCLUDED.max_parallel, updated_ts = now();

INSERT INTO cntl_af.cntl_cfg_prcs (prcs_grp_id, prcs_nm, prcs_desc, priority, params)
SELECT g.prcs_grp_id, p.nm, p.descr, p.priority, p.params::jsonb
FROM cntl_af.cntl_cfg_prcs_grp g
JOIN cntl_af.cntl_cfg_strem s USING (strem_id)
JOIN (VALUES
        ('extract',   'qs_extract_orders',  'Daily orders',           1, '{"n_orders": 8}'),
        ('extract',   'qs_extract_returns', 'Daily returns',          2, '{"n_orders": 3}'),
        ('transform', 'qs_convert',         'Convert to EUR',         1, '{"rate": 0.92}'),
        ('publish',   'qs_publish',         'Publish the day report', 1, '{"title": "Quickstart report"}')
     ) AS p (grp, nm, descr, priority, params) ON p.grp = g.prcs_grp_nm
WHERE s.strem_nm = 'quickstart'
ON CONFLICT (prcs_nm) DO UPDATE
    SET prcs_desc = EXCLUDED.prcs_desc, priority = EXCLUDED.priority,
        params = EXCLUDED.params, updated_ts = now();

INSERT INTO cntl_af.cntl_cfg_sys_file (prcs_id, file_path)
SELECT prcs_id, f.path
FROM cntl_af.cntl_cfg_prcs
JOIN (VALUES
        ('qs_extract_orders',  'examples/quickstart/extract.ipynb'),
        ('qs_extract_returns', 'examples/quickstart/extract.ipynb'),
        ('qs_convert',         'examples/quickstart/transform.ipynb'),
        ('qs_publish',         'examples/quickstart/publish.ipynb')
     ) AS f (nm, path) ON f.nm = prcs_nm
ON CONFLICT (prcs_id) DO UPDATE SET file_path = EXCLUDED.file_path, updated_ts = now();

-- qs_convert needs both extracts; qs_publish needs qs_convert.
INSERT INTO cntl_af.cntl_cfg_prcs_depn (prcs_id, depn_prcs_id)
SELECT p.prcs_id, d.prcs_id
FROM (VALUES ('qs_convert', 'qs_extract_orders'),
             ('qs_convert', 'qs_extract_returns'),
             ('qs_publish', 'qs_convert')) AS dep (nm, depn_nm)
JOIN cntl_af.cntl_cfg_prcs p ON p.prcs_nm = dep.nm
JOIN cntl_af.cntl_cfg_prcs d ON d.prcs_nm = dep.depn_nm
ON CONFLICT (prcs_id, depn_prcs_id) DO NOTHING;
