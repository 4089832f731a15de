-- depends: 0026_routing
-- Pinned notebooks (issue 26): the registration records what a notebook's file held when it was registered,
-- and the runner refuses to run different content. JupyterLab edits the notebooks folder, so without a pin
-- anyone holding the Jupyter token changed what production runs without any right on the registrations.
-- The pin is written by those who register (`llf sync`, `llf db apply` of a registration, `llf pin`), all with
-- the owner's rights: llf_notebook gets no grant here (0025 gave it nothing on cntl_cfg_*), so notebook code
-- can neither read nor re-pin a registration.
--
-- Rows registered before this file have no pin (NULL): they run as before, and `llf validate` names them with
-- the command that pins them, so an upgrade never stops a deployment that has not pinned yet.

ALTER TABLE cntl_af.cntl_cfg_sys_file
    ADD COLUMN IF NOT EXISTS content_sha256 text
        CONSTRAINT cntl_cfg_sys_file_content_sha256_format CHECK (content_sha256 ~ '^[0-9a-f]{64}$');
COMMENT ON COLUMN cntl_af.cntl_cfg_sys_file.content_sha256 IS
    'Pin: SHA-256 (64 lower-case hex digits) of the notebook file''s bytes, after symlink resolution, when it was '
    'registered or last pinned; set by `llf sync`, `llf db apply` (rows it registers) and `llf pin`. A run of other '
    'content fails before any kernel starts; null = not pinned (runs, `llf validate` warns).';

-- A pin belongs to the file it was taken of: a row pointed at another file loses it, so the new file is
-- pinned by whoever registered the change (sync and db apply pin rows without one) instead of failing every
-- run with a hash of the old file. An UPDATE that sets a new pin with the new path keeps it.
CREATE OR REPLACE FUNCTION cntl_af.cntl_cfg_sys_file_unpin_moved() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.file_path IS DISTINCT FROM OLD.file_path AND NEW.content_sha256 IS NOT DISTINCT FROM OLD.content_sha256 THEN
        NEW.content_sha256 := NULL;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION cntl_af.cntl_cfg_sys_file_unpin_moved() IS
    'Clears the pin (content_sha256) of a cntl_cfg_sys_file row whose file_path changes: it was of the old file.';

DROP TRIGGER IF EXISTS cntl_cfg_sys_file_unpin_moved ON cntl_af.cntl_cfg_sys_file;
CREATE TRIGGER cntl_cfg_sys_file_unpin_moved BEFORE UPDATE OF file_path ON cntl_af.cntl_cfg_sys_file
    FOR EACH ROW EXECUTE FUNCTION cntl_af.cntl_cfg_sys_file_unpin_moved();
