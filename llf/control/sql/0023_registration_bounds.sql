-- depends: 0004_cntl_cfg_prcs
-- What a registration can never sensibly hold, refused by the database (bounds: llf/control/model.py).
-- Every constraint is NOT VALID: an upgrade over rows registered before it still succeeds, the
-- constraint holds for every row inserted or updated from now on, and `llf validate` names the old rows.
-- Why each bound: a NaN or infinite timeout_min is > 0 for PostgreSQL, and breaks the DAG's timeout;
-- a week is longer than any batch notebook run; 64 processes of one group at once is twice Airflow's
-- default parallelism; 100 retries is a loop; params nested deeper than 32 levels are not notebook
-- parameters and cannot be read back into Python safely; Airflow stores owners in 2000 characters;
-- a group whose Airflow id is finish_stream collides with the stream DAG's last task.

ALTER TABLE cntl_af.cntl_cfg_prcs
    ADD CONSTRAINT cntl_cfg_prcs_timeout_min_range CHECK (timeout_min > 0 AND timeout_min <= 10080) NOT VALID;
COMMENT ON CONSTRAINT cntl_cfg_prcs_timeout_min_range ON cntl_af.cntl_cfg_prcs IS
    'timeout_min is a finite number of minutes in (0, 10080]: NaN and Infinity are refused, a week at most.';

ALTER TABLE cntl_af.cntl_cfg_prcs
    ADD CONSTRAINT cntl_cfg_prcs_retries_range CHECK (retries BETWEEN 0 AND 100) NOT VALID;
COMMENT ON CONSTRAINT cntl_cfg_prcs_retries_range ON cntl_af.cntl_cfg_prcs IS
    'retries is between 0 and 100: more is a loop, not a retry policy.';

ALTER TABLE cntl_af.cntl_cfg_prcs
    ADD CONSTRAINT cntl_cfg_prcs_params_depth CHECK (NOT jsonb_path_exists(params, 'strict $.**{33}')) NOT VALID;
COMMENT ON CONSTRAINT cntl_cfg_prcs_params_depth ON cntl_af.cntl_cfg_prcs IS
    'params nests at most 32 levels deep: notebook parameters are flat values, and deeper JSON cannot be read back safely.';

ALTER TABLE cntl_af.cntl_cfg_prcs
    ADD CONSTRAINT cntl_cfg_prcs_owner_nm_length CHECK (char_length(owner_nm) <= 2000) NOT VALID;
COMMENT ON CONSTRAINT cntl_cfg_prcs_owner_nm_length ON cntl_af.cntl_cfg_prcs IS
    'owner_nm fits the 2000 characters Airflow stores a DAG''s owners in.';

ALTER TABLE cntl_af.cntl_cfg_strem
    ADD CONSTRAINT cntl_cfg_strem_owner_nm_length CHECK (char_length(owner_nm) <= 2000) NOT VALID;
COMMENT ON CONSTRAINT cntl_cfg_strem_owner_nm_length ON cntl_af.cntl_cfg_strem IS
    'owner_nm fits the 2000 characters Airflow stores a DAG''s owners in.';

ALTER TABLE cntl_af.cntl_cfg_prcs_grp
    ADD CONSTRAINT cntl_cfg_prcs_grp_max_parallel_range CHECK (max_parallel BETWEEN 1 AND 64) NOT VALID;
COMMENT ON CONSTRAINT cntl_cfg_prcs_grp_max_parallel_range ON cntl_af.cntl_cfg_prcs_grp IS
    'max_parallel is between 1 and 64 processes of the group at once.';

ALTER TABLE cntl_af.cntl_cfg_prcs_grp
    ADD CONSTRAINT cntl_cfg_prcs_grp_nm_not_reserved
    CHECK (replace(prcs_grp_nm, '.', '_') <> 'finish_stream') NOT VALID;
COMMENT ON CONSTRAINT cntl_cfg_prcs_grp_nm_not_reserved ON cntl_af.cntl_cfg_prcs_grp IS
    'A group''s Airflow id (its name with . as _) is never finish_stream, the last task of every stream DAG.';

-- Two groups of one stream must not become the same Airflow task group (a.b and a_b both become a_b).
-- A trigger rather than a unique index on replace(prcs_grp_nm, '.', '_'): an index cannot be NOT VALID,
-- so it would make this upgrade fail wherever such a pair is already registered.
CREATE OR REPLACE FUNCTION cntl_af.cntl_cfg_prcs_grp_task_group_id_unique() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    other_nm text;
BEGIN
    -- One writer per stream at a time, so two concurrent inserts cannot both pass the check below.
    PERFORM pg_advisory_xact_lock(hashtext('cntl_af.cntl_cfg_prcs_grp'), NEW.strem_id);
    SELECT g.prcs_grp_nm INTO other_nm
      FROM cntl_af.cntl_cfg_prcs_grp g
     WHERE g.strem_id = NEW.strem_id
       AND g.prcs_grp_id <> NEW.prcs_grp_id
       AND g.prcs_grp_nm <> NEW.prcs_grp_nm  -- the same name is the unique key's case (ON CONFLICT may skip it)
       AND replace(g.prcs_grp_nm, '.', '_') = replace(NEW.prcs_grp_nm, '.', '_')
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'groups % and % of stream id % would both be the Airflow task group %',
                        other_nm, NEW.prcs_grp_nm, NEW.strem_id, replace(NEW.prcs_grp_nm, '.', '_')
            USING ERRCODE = 'unique_violation',
                  CONSTRAINT = 'cntl_cfg_prcs_grp_task_group_id_unique',
                  HINT = 'Rename one of the groups: Airflow turns each . of a group name into _.';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION cntl_af.cntl_cfg_prcs_grp_task_group_id_unique() IS
    'Refuses a group whose Airflow task group id (name with . as _) another group of its stream already has.';

DROP TRIGGER IF EXISTS cntl_cfg_prcs_grp_task_group_id_unique ON cntl_af.cntl_cfg_prcs_grp;
CREATE TRIGGER cntl_cfg_prcs_grp_task_group_id_unique
    BEFORE INSERT OR UPDATE OF strem_id, prcs_grp_nm ON cntl_af.cntl_cfg_prcs_grp
    FOR EACH ROW EXECUTE FUNCTION cntl_af.cntl_cfg_prcs_grp_task_group_id_unique();
COMMENT ON TRIGGER cntl_cfg_prcs_grp_task_group_id_unique ON cntl_af.cntl_cfg_prcs_grp IS
    'Two groups of one stream never share an Airflow task group id (cntl_cfg_prcs_grp_task_group_id_unique()).';
