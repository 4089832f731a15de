-- Merchandise recommendation (RAG): ingest the catalogue and purchases, embed the catalogue,
-- recommend per customer with reasons. Scheduled every morning; re-runnable (see 01_quickstart.sql).

CREATE SCHEMA IF NOT EXISTS llf_results;
COMMENT ON SCHEMA llf_results IS 'Business results written by the example streams (not control data).';

CREATE TABLE IF NOT EXISTS llf_results.recommendations (
    business_date  date        NOT NULL,
    customer_id    text        NOT NULL,
    rank           integer     NOT NULL CHECK (rank >= 1),
    product_id     text        NOT NULL,
    product_name   text        NOT NULL,
    reason         text        NOT NULL,
    run_id         text        NOT NULL,
    written_ts     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (business_date, customer_id, rank)
);
COMMENT ON TABLE llf_results.recommendations IS 'Ranked recommendations per customer and business date, written by mr_recommend; a rerun replaces the date''s rows.';
COMMENT ON COLUMN llf_results.recommendations.business_date IS 'Business date of the run that recommended.';
COMMENT ON COLUMN llf_results.recommendations.customer_id IS 'The customer (purchases.csv customer_id).';
COMMENT ON COLUMN llf_results.recommendations.rank IS '1 = best recommendation for the customer that day.';
COMMENT ON COLUMN llf_results.recommendations.product_id IS 'The recommended product (products.csv product_id), always one the vector search retrieved.';
COMMENT ON COLUMN llf_results.recommendations.product_name IS 'The product''s name, copied for readers of this table.';
COMMENT ON COLUMN llf_results.recommendations.reason IS 'The LLM''s one-sentence reason.';
COMMENT ON COLUMN llf_results.recommendations.run_id IS 'The process run that wrote the row (cntl_cfg_log.run_id).';
COMMENT ON COLUMN llf_results.recommendations.written_ts IS 'When the row was last written.';

INSERT INTO cntl_af.cntl_cfg_strem (strem_nm, strem_desc)
VALUES ('merchandise_recommendation',
        'Per customer, retrieve catalogue products similar to their purchases and let the LLM rank them with reasons.')
ON CONFLICT (strem_nm) DO UPDATE SET strem_desc = EXCLUDED.strem_desc, updated_ts = now();

-- The results table is this stream's: its notebooks read and write it, no other stream's do (README, Security).
SELECT cntl_af.grant_to_stream('merchandise_recommendation', 'llf_results.recommendations');

INSERT INTO cntl_af.cntl_cfg_prcs_grp (strem_id, prcs_grp_nm, priority, max_parallel, queue_nm)
SELECT strem_id, grp.nm, grp.priority, grp.max_parallel, grp.queue_nm
FROM cntl_af.cntl_cfg_strem,
     -- the groups calling the LLM server go to the `llm` queue (00_pools.sql)
     (VALUES ('ingest', 1, 1, 'default'), ('index', 2, 1, 'llm'), ('recommend', 3, 1, 'llm'))
         AS grp (nm, priority, max_parallel, queue_nm)
WHERE strem_nm = 'merchandise_recommendation'
ON CONFLICT (strem_id, prcs_grp_nm) DO UPDATE
    SET priority = EXCLUDED.priority, max_parallel = EXCLUDED.max_parallel, queue_nm = EXCLUDED.queue_nm,
        updated_ts = now();

INSERT INTO cntl_af.cntl_cfg_prcs (prcs_grp_id, prcs_nm, prcs_desc, priority, params, timeout_min, pool_nm)
SELECT g.prcs_grp_id, p.nm, p.descr, p.priority, p.params::jsonb, p.timeout_min, p.pool_nm
FROM cntl_af.cntl_cfg_prcs_grp g
JOIN cntl_af.cntl_cfg_strem s USING (strem_id)
JOIN (VALUES
        ('ingest',    'mr_ingest',         'Catalogue and purchases into the lake', 1, '{"data_dir": "data"}', 10, NULL),
        ('index',     'mr_embed_products', 'Embed the catalogue into the vector store', 1, '{"collection": "products"}', 30, 'llm'),
        ('recommend', 'mr_recommend',      'Ranked recommendations with reasons per customer', 1,
         '{"collection": "products", "candidates_per_customer": 5, "recommendations_per_customer": 3}', 60, 'llm')
     ) AS p (grp, nm, descr, priority, params, timeout_min, pool_nm) ON p.grp = g.prcs_grp_nm
WHERE s.strem_nm = 'merchandise_recommendation'
ON CONFLICT (prcs_nm) DO UPDATE
    SET prcs_desc = EXCLUDED.prcs_desc, priority = EXCLUDED.priority,
        params = EXCLUDED.params, timeout_min = EXCLUDED.timeout_min, pool_nm = EXCLUDED.pool_nm, updated_ts = now();

INSERT INTO cntl_af.cntl_cfg_sys_file (prcs_id, file_path)
SELECT prcs_id, f.path
FROM cntl_af.cntl_cfg_prcs
JOIN (VALUES
        ('mr_ingest',         'examples/merchandise_recommendation/ingest.ipynb'),
        ('mr_embed_products', 'examples/merchandise_recommendation/embed_products.ipynb'),
        ('mr_recommend',      'examples/merchandise_recommendation/recommend.ipynb')
     ) AS f (nm, path) ON f.nm = prcs_nm
ON CONFLICT (prcs_id) DO UPDATE SET file_path = EXCLUDED.file_path, updated_ts = now();

-- Embedding needs the ingested catalogue; recommending needs the index and the purchases.
INSERT INTO cntl_af.cntl_cfg_prcs_depn (prcs_id, depn_prcs_id)
SELECT p.prcs_id, d.prcs_id
FROM (VALUES ('mr_embed_products', 'mr_ingest'),
             ('mr_recommend',      'mr_embed_products'),
             ('mr_recommend',      'mr_ingest')) AS dep (nm, depn_nm)
JOIN cntl_af.cntl_cfg_prcs p ON p.prcs_nm = dep.nm
JOIN cntl_af.cntl_cfg_prcs d ON d.prcs_nm = dep.depn_nm
ON CONFLICT (prcs_id, depn_prcs_id) DO NOTHING;

-- Every day at 05:30, Paris time (the stream's one active schedule: cntl_cfg_schedule_one_active_idx).
-- ON CONFLICT, not a NOT EXISTS guard: `llf db apply` reports an INSERT whose SELECT found nothing as a
-- lost registration, and a guard makes every re-apply look like one.
INSERT INTO cntl_af.cntl_cfg_schedule (strem_id, cron_expr, timezone)
SELECT strem_id, '30 5 * * *', 'Europe/Paris' FROM cntl_af.cntl_cfg_strem
WHERE strem_nm = 'merchandise_recommendation'
ON CONFLICT (strem_id) WHERE actv_flg DO UPDATE
    SET cron_expr = EXCLUDED.cron_expr, timezone = EXCLUDED.timezone, updated_ts = now();
