"""Storing an executed notebook and its HTML in the lake at runs/<stream>/<process>/<date>/<run id>/."""

from __future__ import annotations

import re
from pathlib import Path

from nbconvert import HTMLExporter

from llf.runner.context import RunContext
from llf.services.lake import open_lake

NO_STREAM = "_no_stream"  # a process DAG run triggered on its own


def _segment(value: str) -> str:
    """A run id such as manual__2026-01-01T00:00:00+00:00 as a portable path segment."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", value)


def run_folder(context: RunContext) -> str:
    parts = (context.strem_nm or NO_STREAM, context.prcs_nm, context.business_date.isoformat(), context.run_id)
    return "runs/" + "/".join(_segment(part) for part in parts)


def store_outputs(context: RunContext, executed: Path) -> str:
    """Put the executed notebook and its HTML rendering in the lake; return the folder's location."""
    folder = run_folder(context)
    lake = open_lake()
    location = lake.put(f"{folder}/{context.prcs_nm}.ipynb", executed)
    html, _ = HTMLExporter().from_filename(str(executed))
    lake.put(f"{folder}/{context.prcs_nm}.html", html)
    return location.rsplit("/", 1)[0] + "/"
