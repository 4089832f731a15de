"""Links to a run's output notebook, and the one door through which the UI reads lake files.

A log row stores the lake location of its output folder (`file:///lake/runs/...` or `s3://bucket/prefix/runs/...`).
The UI links to `outputs/<key>`; that route streams the object through the app, from a folder lake or MinIO
alike, confined to the lake's `runs/` folder (no `..`, no absolute paths, no symlink leaving it). The browser
never talks to the lake: it needs no lake credentials and no route to MinIO, and every output gets the app's
sandboxing headers (llf.ui.app.OUTPUT_HEADERS), which a presigned MinIO link would not.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from llf.services.lake import Lake, LakePathError
from llf.services.lake.base import clean_key
from llf.services.lake.folder import FolderLake

RUNS_PREFIX = "runs/"
# Outputs go to the browser in pieces of this size: one piece in memory at a time, however large the notebook.
OUTPUT_PIECE_BYTES = 64 * 1024


def lake_base(lake: Lake) -> str:
    """The location prefix every object of `lake` starts with, as written into cntl_cfg_log.output_path."""
    if isinstance(lake, FolderLake):
        return lake.root.as_uri() + "/"
    prefix = getattr(lake, "prefix", "")
    return f"s3://{lake.bucket}/" + (f"{prefix}/" if prefix else "")


def output_html_key(lake: Lake, output_path: str | None, prcs_nm: str | None) -> str | None:
    """The lake key of the HTML rendering of a run's notebook, or None when it is not in this lake's runs/."""
    base = lake_base(lake)
    if not output_path or not prcs_nm or not output_path.startswith(base):
        return None
    folder = output_path[len(base):].rstrip("/")
    try:
        key = clean_key(f"{folder}/{prcs_nm}.html")
    except LakePathError:
        return None
    return key if key.startswith(RUNS_PREFIX) else None


def confined_key(key: str) -> str:
    """`key` normalised, or LakePathError unless it names an object inside the lake's runs/ folder."""
    cleaned = clean_key(key)
    if not cleaned.startswith(RUNS_PREFIX):
        raise LakePathError(f"Lake path {key!r} is outside {RUNS_PREFIX}: the UI serves run outputs only.")
    return cleaned


def local_output_file(lake: FolderLake, key: str) -> Path:
    """The file of a folder lake at `key`, refusing anything that resolves outside runs/ (symlinks included)."""
    runs = (lake.root / RUNS_PREFIX).resolve()
    target = (lake.root / confined_key(key)).resolve()
    if not target.is_relative_to(runs):
        raise LakePathError(f"Lake path {key!r} resolves outside {RUNS_PREFIX}.")
    if not target.is_file():
        raise FileNotFoundError(f"No output {key!r} in the lake.")
    return target


def stored_output_key(lake: Lake, key: str) -> str:
    """The key to read for `key`: confined to runs/, and on a folder lake with its symlinks resolved (and
    refused when they lead out of runs/), so the check and the read are about the same file."""
    if isinstance(lake, FolderLake):
        return local_output_file(lake, key).relative_to(lake.root).as_posix()
    return confined_key(key)


def output_media_type(key: str) -> str:
    return mimetypes.guess_type(key)[0] or "application/octet-stream"
