"""Running one process: dependencies, at-most-once, papermill, outputs, and the run log."""
