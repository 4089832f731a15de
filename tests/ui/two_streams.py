"""Two registered streams with runs, log rows and outputs: the data the per-DAG access tests read.

Stream `a` (a_extract, then a_clean, which waits for b_feed) and stream `b` (b_feed), each with a run, log rows
and output notebooks in a folder lake; b_feed also ran on its own, outside any stream.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from llf.context import RunContext, StreamRunKey
from llf.control import log as run_log
from llf.control import stream_runs

DAY = dt.date(2026, 5, 1)
A_OUTPUT = "runs/a/a_extract/2026-05-01/run-a-a_extract/a_extract.html"
B_OUTPUT = "runs/b/b_feed/2026-05-01/run-b-b_feed/b_feed.html"
B_ALONE_OUTPUT = "runs/_no_stream/b_feed/2026-05-01/manual-b_feed/b_feed.html"
B_SECRETS = ("b secret message", "b stream secret", "b alone secret")
# The DAG ids of everything registered: what the UI asks the auth manager about, in one call.
REGISTERED_DAG_IDS = {"stream__a", "stream__b", "process__a_extract", "process__a_clean", "process__b_feed"}


def _attempt(url: str, lake: Path, stream: str | None, process: str, message: str, run: str) -> None:
    """A successful attempt of `process` with its HTML output in the lake where the runner would put it."""
    folder = f"runs/{stream or '_no_stream'}/{process}/{DAY}/{run}"
    (lake / folder).mkdir(parents=True)
    (lake / folder / f"{process}.html").write_text(f"<h1>output of {process}</h1>")
    context = RunContext(strem_nm=stream, prcs_nm=process, business_date=DAY, run_id=run,
                         strem_run_id=f"run-{stream}" if stream else None, dag_id=f"process__{process}")
    run_log.mark_success(url, context, message, f"{(lake / folder).as_uri()}/")


def build_two_streams(registry: Any, control_db_url: str, lake_dir: Path) -> None:
    """Register streams a and b, and record their runs, log rows and outputs (see module doc)."""
    a_group = registry.group(registry.stream("a"), "load")
    b_group = registry.group(registry.stream("b"), "feed")
    extract, clean = registry.process(a_group, "a_extract"), registry.process(a_group, "a_clean", priority=2)
    feed = registry.process(b_group, "b_feed")
    registry.depend(clean, extract)
    registry.depend(clean, feed)
    for stream, message in (("a", "a stream done"), ("b", "b stream secret")):
        stream_run = StreamRunKey(stream, f"run-{stream}", DAY)
        stream_runs.mark_stream_running(control_db_url, stream_run)
        stream_runs.mark_stream_finished(control_db_url, stream_run, "SUCCESS", message)
    _attempt(control_db_url, lake_dir, "a", "a_extract", "a extract message", "run-a-a_extract")
    _attempt(control_db_url, lake_dir, "b", "b_feed", "b secret message", "run-b-b_feed")
    _attempt(control_db_url, lake_dir, None, "b_feed", "b alone secret", "manual-b_feed")
