-- depends: 0025_notebook_role
-- Where a process runs, registered beside what it runs (issue 25: CeleryExecutor on several hosts).
-- A group names the Celery queue of its processes (the workers that may run them: `airflow celery worker
-- -q llm` on the GPU host), a process may override it; a process may take slots of an Airflow pool, and
-- the pools themselves are registered here (`llf pools sync` creates them in Airflow), so one table says
-- how much LLM work all streams together may run at once. The defaults keep every existing registration
-- where it ran: queue `default` (Airflow's [operators] default_queue), no pool (Airflow's default_pool).
-- No foreign key from cntl_cfg_prcs.pool_nm to cntl_cfg_pool: registrations are inserted in any order, and
-- a process naming a pool nobody registered is a problem of its own stream that `llf validate` names
-- (with the closest registered name), not a refused insert in the middle of someone's script.

ALTER TABLE cntl_af.cntl_cfg_prcs_grp
    ADD COLUMN IF NOT EXISTS queue_nm text NOT NULL DEFAULT 'default'
        CONSTRAINT cntl_cfg_prcs_grp_queue_nm_format CHECK (queue_nm ~ '^[A-Za-z0-9_.-]{1,200}$');
COMMENT ON COLUMN cntl_af.cntl_cfg_prcs_grp.queue_nm IS 'Celery queue of the group''s processes (the workers started with -q <queue> run them); default: Airflow''s default queue.';

ALTER TABLE cntl_af.cntl_cfg_prcs
    ADD COLUMN IF NOT EXISTS queue_nm text
        CONSTRAINT cntl_cfg_prcs_queue_nm_format CHECK (queue_nm ~ '^[A-Za-z0-9_.-]{1,200}$'),
    ADD COLUMN IF NOT EXISTS pool_nm text
        CONSTRAINT cntl_cfg_prcs_pool_nm_format CHECK (pool_nm ~ '^[A-Za-z0-9_.-]{1,200}$'),
    ADD COLUMN IF NOT EXISTS pool_slots integer NOT NULL DEFAULT 1
        CONSTRAINT cntl_cfg_prcs_pool_slots_range CHECK (pool_slots BETWEEN 1 AND 1000);
COMMENT ON COLUMN cntl_af.cntl_cfg_prcs.queue_nm IS 'Celery queue of this process, overriding its group''s; null = the group''s queue.';
COMMENT ON COLUMN cntl_af.cntl_cfg_prcs.pool_nm IS 'Airflow pool whose slots the notebook takes while it runs (registered in cntl_cfg_pool); null = Airflow''s default_pool.';
COMMENT ON COLUMN cntl_af.cntl_cfg_prcs.pool_slots IS 'Slots of the pool the process takes (1..1000): a heavier prompt may take more than one.';

CREATE TABLE IF NOT EXISTS cntl_af.cntl_cfg_pool (
    pool_nm    text        PRIMARY KEY
        CONSTRAINT cntl_cfg_pool_pool_nm_format CHECK (pool_nm ~ '^[A-Za-z0-9_.-]{1,200}$' AND pool_nm <> 'default_pool'),
    slots      integer     NOT NULL CONSTRAINT cntl_cfg_pool_slots_range CHECK (slots BETWEEN 1 AND 10000),
    pool_desc  text        NOT NULL DEFAULT '',
    created_ts timestamptz NOT NULL DEFAULT now(),
    updated_ts timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE cntl_af.cntl_cfg_pool IS 'Airflow pools llf owns: the single source `llf pools sync` creates and updates them from (Airflow''s default_pool is never one).';
COMMENT ON COLUMN cntl_af.cntl_cfg_pool.pool_nm IS 'Pool name in Airflow; letters, digits, _ . - (not default_pool, which Airflow owns).';
COMMENT ON COLUMN cntl_af.cntl_cfg_pool.slots IS 'Tasks (weighted by their pool_slots) that may run at once in the pool, over all streams: at least 1.';
COMMENT ON COLUMN cntl_af.cntl_cfg_pool.pool_desc IS 'Why the pool exists (e.g. the LLM server''s parallelism); shown in Airflow.';
COMMENT ON COLUMN cntl_af.cntl_cfg_pool.created_ts IS 'When the row was inserted.';
COMMENT ON COLUMN cntl_af.cntl_cfg_pool.updated_ts IS 'When the row was last changed (set by the writer).';

ALTER TABLE cntl_af.cntl_cfg_log ADD COLUMN IF NOT EXISTS queue_nm text;
COMMENT ON COLUMN cntl_af.cntl_cfg_log.queue_nm IS 'Celery queue the attempt was sent to (beside hostname, the worker that took it); null on stream-level rows and rows written before this column existed.';
