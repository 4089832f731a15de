-- depends: 0004_cntl_cfg_prcs
CREATE TABLE IF NOT EXISTS cntl_af.cntl_cfg_sys_file (
    sys_file_id  integer     GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    prcs_id      integer     NOT NULL UNIQUE REFERENCES cntl_af.cntl_cfg_prcs (prcs_id) ON DELETE CASCADE,
    file_type    text        NOT NULL DEFAULT 'NOTEBOOK' CHECK (file_type IN ('NOTEBOOK')),
    file_path    text        NOT NULL,
    created_ts   timestamptz NOT NULL DEFAULT now(),
    updated_ts   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE cntl_af.cntl_cfg_sys_file IS 'The file a process runs: exactly one per process.';
COMMENT ON COLUMN cntl_af.cntl_cfg_sys_file.sys_file_id IS 'Surrogate key, generated.';
COMMENT ON COLUMN cntl_af.cntl_cfg_sys_file.prcs_id IS 'The process that runs this file (unique: one file per process).';
COMMENT ON COLUMN cntl_af.cntl_cfg_sys_file.file_type IS 'Kind of file; NOTEBOOK (a Jupyter notebook run by papermill).';
COMMENT ON COLUMN cntl_af.cntl_cfg_sys_file.file_path IS 'Path relative to the notebooks folder (LLF_NOTEBOOKS_DIR); never absolute, never ../.';
COMMENT ON COLUMN cntl_af.cntl_cfg_sys_file.created_ts IS 'When the row was inserted.';
COMMENT ON COLUMN cntl_af.cntl_cfg_sys_file.updated_ts IS 'When the row was last changed (set by the writer).';
