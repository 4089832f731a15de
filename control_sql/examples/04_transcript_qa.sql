-- Transcript Q&A (RAG): transcripts -> sentence chunks in the vector store -> answers citing the chunks used.
-- Manual runs only; re-runnable (see 01_quickstart.sql).

INSERT INTO cntl_af.cntl_cfg_strem (strem_nm, strem_desc)
VALUES ('transcript_qa', 'Answer a question set from video transcripts, citing the transcript chunks used.')
ON CONFLICT (strem_nm) DO UPDATE SET strem_desc = EXCLUDED.strem_desc, updated_ts = now();

INSERT INTO cntl_af.cntl_cfg_prcs_grp (strem_id, prcs_grp_nm, priority, max_parallel, queue_nm)
SELECT strem_id, grp.nm, grp.priority, grp.max_parallel, grp.queue_nm
FROM cntl_af.cntl_cfg_strem,
     -- the groups calling the LLM server go to the `llm` queue (00_pools.sql)
     (VALUES ('ingest', 1, 1, 'default'), ('index', 2, 1, 'llm'), ('answer', 3, 1, 'llm'))
         AS grp (nm, priority, max_parallel, queue_nm)
WHERE strem_nm = 'transcript_qa'
ON CONFLICT (strem_id, prcs_grp_nm) DO UPDATE
    SET priority = EXCLUDED.priority, max_parallel = EXCLUDED.max_parallel, queue_nm = EXCLUDED.queue_nm,
        updated_ts = now();

INSERT INTO cntl_af.cntl_cfg_prcs (prcs_grp_id, prcs_nm, prcs_desc, priority, params, timeout_min, pool_nm)
SELECT g.prcs_grp_id, p.nm, p.descr, p.priority, p.params::jsonb, p.timeout_min, p.pool_nm
FROM cntl_af.cntl_cfg_prcs_grp g
JOIN cntl_af.cntl_cfg_strem s USING (strem_id)
JOIN (VALUES
        ('ingest', 'tq_ingest_transcripts', 'Transcript files into the lake', 1,
         '{"transcripts_dir": "data/transcripts"}', 10, NULL),
        ('index',  'tq_index_chunks',       'Chunk and embed the transcripts', 1,
         '{"collection": "transcript_chunks", "chunk_words": 60, "overlap_sentences": 1}', 30, 'llm'),
        ('answer', 'tq_answer_questions',   'Answer the question set with citations', 1,
         '{"collection": "transcript_chunks", "questions_file": "data/questions.json", "top_k": 3}', 60, 'llm')
     ) AS p (grp, nm, descr, priority, params, timeout_min, pool_nm) ON p.grp = g.prcs_grp_nm
WHERE s.strem_nm = 'transcript_qa'
ON CONFLICT (prcs_nm) DO UPDATE
    SET prcs_desc = EXCLUDED.prcs_desc, priority = EXCLUDED.priority,
        params = EXCLUDED.params, timeout_min = EXCLUDED.timeout_min, pool_nm = EXCLUDED.pool_nm, updated_ts = now();

INSERT INTO cntl_af.cntl_cfg_sys_file (prcs_id, file_path)
SELECT prcs_id, f.path
FROM cntl_af.cntl_cfg_prcs
JOIN (VALUES
        ('tq_ingest_transcripts', 'examples/transcript_qa/ingest_transcripts.ipynb'),
        ('tq_index_chunks',       'examples/transcript_qa/index_chunks.ipynb'),
        ('tq_answer_questions',   'examples/transcript_qa/answer_questions.ipynb')
     ) AS f (nm, path) ON f.nm = prcs_nm
ON CONFLICT (prcs_id) DO UPDATE SET file_path = EXCLUDED.file_path, updated_ts = now();

INSERT INTO cntl_af.cntl_cfg_prcs_depn (prcs_id, depn_prcs_id)
SELECT p.prcs_id, d.prcs_id
FROM (VALUES ('tq_index_chunks',     'tq_ingest_transcripts'),
             ('tq_answer_questions', 'tq_index_chunks')) AS dep (nm, depn_nm)
JOIN cntl_af.cntl_cfg_prcs p ON p.prcs_nm = dep.nm
JOIN cntl_af.cntl_cfg_prcs d ON d.prcs_nm = dep.depn_nm
ON CONFLICT (prcs_id, depn_prcs_id) DO NOTHING;
