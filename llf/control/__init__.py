"""The control plane: registrations (cntl_cfg_* tables), their snapshot, validation and the run log."""
