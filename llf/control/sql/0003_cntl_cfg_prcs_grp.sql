-- depends: 0002_cntl_cfg_strem
CREATE TABLE IF NOT EXISTS cntl_af.cntl_cfg_prcs_grp (
    prcs_grp_id   integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    strem_id      integer     NOT NULL REFERENCES cntl_af.cntl_cfg_strem (strem_id) ON DELETE CASCADE,
    prcs_grp_nm   text        NOT NULL CHECK (prcs_grp_nm ~ '^[A-Za-z0-9_.-]{1,200}$'),
    prcs_grp_desc text        NOT NULL DEFAULT '',
    priority      integer     NOT NULL DEFAULT 1,
    max_parallel  integer     NOT NULL DEFAULT 1 CHECK (max_parallel >= 1),
    actv_flg      boolean     NOT NULL DEFAULT true,
    created_ts    timestamptz NOT NULL DEFAULT now(),
    updated_ts    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (strem_id, prcs_grp_nm)
);
CREATE INDEX IF NOT EXISTS cntl_cfg_prcs_grp_strem_idx ON cntl_af.cntl_cfg_prcs_grp (strem_id, priority);
COMMENT ON TABLE cntl_af.cntl_cfg_prcs_grp IS 'A process group inside a stream: groups run one after the other in ascending priority.';
COMMENT ON COLUMN cntl_af.cntl_cfg_prcs_grp.prcs_grp_id IS 'Surrogate key, generated.';
COMMENT ON COLUMN cntl_af.cntl_cfg_prcs_grp.strem_id IS 'The stream this group belongs to.';
COMMENT ON COLUMN cntl_af.cntl_cfg_prcs_grp.prcs_grp_nm IS 'Group name, unique inside its stream (becomes an Airflow task group).';
COMMENT ON COLUMN cntl_af.cntl_cfg_prcs_grp.prcs_grp_desc IS 'What the group does.';
COMMENT ON COLUMN cntl_af.cntl_cfg_prcs_grp.priority IS 'Run order inside the stream: lower runs first.';
COMMENT ON COLUMN cntl_af.cntl_cfg_prcs_grp.max_parallel IS 'At most this many processes of the group run at once.';
COMMENT ON COLUMN cntl_af.cntl_cfg_prcs_grp.actv_flg IS 'false hides the group and its processes from Airflow.';
COMMENT ON COLUMN cntl_af.cntl_cfg_prcs_grp.created_ts IS 'When the row was inserted.';
COMMENT ON COLUMN cntl_af.cntl_cfg_prcs_grp.updated_ts IS 'When the row was last changed (set by the writer).';
