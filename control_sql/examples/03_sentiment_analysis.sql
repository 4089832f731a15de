-- Sentiment analysis: documents -> sentences -> one LLM classification per sentence -> accuracy check
-- against a labelled sample. Manual runs only (no schedule); re-runnable (see 01_quickstart.sql).

INSERT INTO cntl_af.cntl_cfg_strem (strem_nm, strem_desc)
VALUES ('sentiment_analysis',
        'Classify the sentiment of every sentence of the day''s documents and check accuracy on a labelled sample.')
ON CONFLICT (strem_nm) DO UPDATE SET strem_desc = EXCLUDED.strem_desc, updated_ts = now();

INSERT INTO cntl_af.cntl_cfg_prcs_grp (strem_id, prcs_grp_nm, priority, max_parallel, queue_nm)
SELECT strem_id, grp.nm, grp.priority, grp.max_parallel, grp.queue_nm
FROM cntl_af.cntl_cfg_strem,
     -- classify calls the LLM server: the `llm` queue (00_pools.sql)
     (VALUES ('ingest', 1, 1, 'default'), ('prepare', 2, 1, 'default'), ('classify', 3, 1, 'llm'),
             ('evaluate', 4, 1, 'default'))
         AS grp (nm, priority, max_parallel, queue_nm)
WHERE strem_nm = 'sentiment_analysis'
ON CONFLICT (strem_id, prcs_grp_nm) DO UPDATE
    SET priority = EXCLUDED.priority, max_parallel = EXCLUDED.max_parallel, queue_nm = EXCLUDED.queue_nm,
        updated_ts = now();

-- sa_classify keeps `concurrency` LLM calls in flight: it takes as many slots of the `llm` pool (the whole
-- server, whose parallelism is 2), so its calls never crowd out the other streams' beyond what the server takes.
INSERT INTO cntl_af.cntl_cfg_prcs (prcs_grp_id, prcs_nm, prcs_desc, priority, params, timeout_min, pool_nm,
                                   pool_slots)
SELECT g.prcs_grp_id, p.nm, p.descr, p.priority, p.params::jsonb, p.timeout_min, p.pool_nm, p.pool_slots
FROM cntl_af.cntl_cfg_prcs_grp g
JOIN cntl_af.cntl_cfg_strem s USING (strem_id)
JOIN (VALUES
        ('ingest',   'sa_ingest',          'Documents into the lake',         1, '{"documents_file": "data/documents.csv"}', 10, NULL, 1),
        ('prepare',  'sa_split_sentences', 'Split documents into sentences',  1, '{"min_words": 2}', 10, NULL, 1),
        ('classify', 'sa_classify',        'LLM sentiment per sentence',      1, '{"concurrency": 2}', 60, 'llm', 2),
        ('evaluate', 'sa_evaluate',        'Accuracy on the labelled sample', 1, '{"min_accuracy": 0.8}', 10, NULL, 1)
     ) AS p (grp, nm, descr, priority, params, timeout_min, pool_nm, pool_slots) ON p.grp = g.prcs_grp_nm
WHERE s.strem_nm = 'sentiment_analysis'
ON CONFLICT (prcs_nm) DO UPDATE
    SET prcs_desc = EXCLUDED.prcs_desc, priority = EXCLUDED.priority,
        params = EXCLUDED.params, timeout_min = EXCLUDED.timeout_min, pool_nm = EXCLUDED.pool_nm,
        pool_slots = EXCLUDED.pool_slots, updated_ts = now();

INSERT INTO cntl_af.cntl_cfg_sys_file (prcs_id, file_path)
SELECT prcs_id, f.path
FROM cntl_af.cntl_cfg_prcs
JOIN (VALUES
        ('sa_ingest',          'examples/sentiment_analysis/ingest.ipynb'),
        ('sa_split_sentences', 'examples/sentiment_analysis/split_sentences.ipynb'),
        ('sa_classify',        'examples/sentiment_analysis/classify.ipynb'),
        ('sa_evaluate',        'examples/sentiment_analysis/evaluate.ipynb')
     ) AS f (nm, path) ON f.nm = prcs_nm
ON CONFLICT (prcs_id) DO UPDATE SET file_path = EXCLUDED.file_path, updated_ts = now();

INSERT INTO cntl_af.cntl_cfg_prcs_depn (prcs_id, depn_prcs_id)
SELECT p.prcs_id, d.prcs_id
FROM (VALUES ('sa_split_sentences', 'sa_ingest'),
             ('sa_classify',        'sa_split_sentences'),
             ('sa_evaluate',        'sa_classify')) AS dep (nm, depn_nm)
JOIN cntl_af.cntl_cfg_prcs p ON p.prcs_nm = dep.nm
JOIN cntl_af.cntl_cfg_prcs d ON d.prcs_nm = dep.depn_nm
ON CONFLICT (prcs_id, depn_prcs_id) DO NOTHING;
