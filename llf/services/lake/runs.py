"""The one definition of where an attempt's outputs live in the lake: runs/<stream>/<process>/<date>/<run id>/try-<n>/.

The runner writes there, the UI reads from there and decides who may read what by the same layout, so the
layout is written once, here. Locations (what the run log records) belong to the lake (Lake.location /
Lake.key_of); this module only knows keys.

Each try of an Airflow run has its own folder, so a retry never overwrites the notebook (and traceback) of
the try it retries. Rows written before the try folder existed name runs/<stream>/<process>/<date>/<run id>/:
they still open, since the UI reads a row's own location and authorises by the segments both layouts share.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llf.context import RunContext
from llf.services.lake.base import Lake, LakePathError, clean_key

RUNS_PREFIX = "runs/"
NO_STREAM = "_no_stream"  # a process DAG run triggered on its own stores here
TRY_PREFIX = "try-"  # the last segment of a run folder: try-<Airflow's try number>


def _segment(value: str) -> str:
    """A run id such as manual__2026-01-01T00:00:00+00:00 as a portable path segment."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", value)


def run_folder(context: RunContext) -> str:
    """The key of an attempt's output folder (no trailing '/'): one per try of an Airflow run.

    The try number, not the log id: it is known before the RUNNING row is written, so that row names the
    folder from the start, and Airflow never gives two tries of one task in one run the same number (a retry
    and a clear both raise it). The log id would also tell apart the rows a stream's end writes, but those
    never ran a notebook and have no folder.
    """
    parts = (context.strem_nm or NO_STREAM, context.prcs_nm, context.business_date.isoformat(), context.run_id,
             f"{TRY_PREFIX}{context.try_number}")
    return RUNS_PREFIX + "/".join(_segment(part) for part in parts)


def notebook_key(folder: str, prcs_nm: str) -> str:
    """The executed notebook in a run folder."""
    return f"{folder}/{prcs_nm}.ipynb"


def html_key(folder: str, prcs_nm: str) -> str:
    """The notebook's HTML rendering in a run folder."""
    return f"{folder}/{prcs_nm}.html"


@dataclass(frozen=True)
class RunKey:
    """Whose run an output key belongs to, read back from the layout."""

    strem_nm: str | None  # None: a process run on its own (NO_STREAM)
    prcs_nm: str


def confined_key(key: str) -> str:
    """`key` normalised, or LakePathError unless it names an object inside the runs/ folder."""
    cleaned = clean_key(key)
    if not cleaned.startswith(RUNS_PREFIX):
        raise LakePathError(f"Lake path {key!r} is outside {RUNS_PREFIX}: only run outputs are served.")
    return cleaned


def run_of(key: str) -> RunKey | None:
    """The stream and process a confined output key belongs to; None for a key too short to be an output.

    Read from the segments after runs/, the same in the try-folder layout and the one before it."""
    parts = key.split("/")
    if len(parts) < 4:
        return None
    return RunKey(None if parts[1] == NO_STREAM else parts[1], parts[2])


def html_key_of(lake: Lake, output_path: str | None, prcs_nm: str | None) -> str | None:
    """The key of the HTML rendering of the run whose log row says `output_path`; None when that location is
    not in this lake's runs/ folder (another lake, or a value no run of this lake wrote)."""
    folder = lake.key_of(output_path) if output_path and prcs_nm else None
    if folder is None or prcs_nm is None:
        return None
    try:
        return confined_key(html_key(folder, prcs_nm))
    except LakePathError:
        return None


def stored_output_key(lake: Lake, key: str) -> str:
    """The key to read for `key`: confined to runs/ before and after the lake follows any link, so the check
    and the read are about the same file."""
    return confined_key(lake.stored_key(confined_key(key)))
