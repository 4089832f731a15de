-- depends: 0004_cntl_cfg_prcs
CREATE TABLE IF NOT EXISTS cntl_af.cntl_cfg_prcs_depn (
    prcs_id      integer     NOT NULL REFERENCES cntl_af.cntl_cfg_prcs (prcs_id) ON DELETE CASCADE,
    depn_prcs_id integer     NOT NULL REFERENCES cntl_af.cntl_cfg_prcs (prcs_id) ON DELETE CASCADE,
    actv_flg     boolean     NOT NULL DEFAULT true,
    created_ts   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (prcs_id, depn_prcs_id),
    CONSTRAINT cntl_cfg_prcs_depn_not_self CHECK (prcs_id <> depn_prcs_id)
);
COMMENT ON TABLE cntl_af.cntl_cfg_prcs_depn IS 'Process prcs_id depends on process depn_prcs_id: the dependency must be SUCCESS for the business date first.';
COMMENT ON COLUMN cntl_af.cntl_cfg_prcs_depn.prcs_id IS 'The dependant process.';
COMMENT ON COLUMN cntl_af.cntl_cfg_prcs_depn.depn_prcs_id IS 'The process it depends on (never itself; no cycles, checked by llf validate).';
COMMENT ON COLUMN cntl_af.cntl_cfg_prcs_depn.actv_flg IS 'false ignores this dependency.';
COMMENT ON COLUMN cntl_af.cntl_cfg_prcs_depn.created_ts IS 'When the row was inserted.';
