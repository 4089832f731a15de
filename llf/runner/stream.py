"""The stream-level log row: opened by the first process task of a run, closed with the outcome of its processes."""

from __future__ import annotations

import datetime as dt
import logging

from llf.control import log as run_log
from llf.db import transaction
from llf.settings import control_db_url

FAILING = ("FAILED", "BLOCKED")
log = logging.getLogger(__name__)


def open_stream_run(strem_nm: str, business_date: dt.date, run_id: str) -> None:
    """Mark the stream run RUNNING; every process task of the run calls this, the first one opens the row."""
    run_log.mark_stream_running(control_db_url(), strem_nm, business_date, run_id)


def _stream_processes(url: str, strem_nm: str) -> tuple[str, list[str]]:
    """(fail_policy, active process names) of a stream."""
    with transaction(url) as cursor:
        cursor.execute(
            "SELECT s.fail_policy, coalesce(array_agg(p.prcs_nm ORDER BY p.prcs_nm) "
            "FILTER (WHERE p.prcs_nm IS NOT NULL), '{}') FROM cntl_af.cntl_cfg_strem s "
            "LEFT JOIN cntl_af.cntl_cfg_prcs_grp g ON g.strem_id = s.strem_id AND g.actv_flg "
            "LEFT JOIN cntl_af.cntl_cfg_prcs p ON p.prcs_grp_id = g.prcs_grp_id AND p.actv_flg "
            "WHERE s.strem_nm = %s GROUP BY s.fail_policy",
            (strem_nm,),
        )
        row = cursor.fetchone()
    return (row[0], list(row[1])) if row else ("CONTINUE", [])


def finish_stream(strem_nm: str, run_id: str, business_date: dt.date) -> str | None:
    """Close the stream run's row with its outcome; return the failure message, or None when it succeeded.

    Processes with no row in the run are recorded too: SKIPPED when a failure stopped the stream
    (fail_policy STOP), else FAILED (their task ended before the runner started).
    """
    from llf.control.model import LogEntry
    from llf.runner.context import RunContext

    url = control_db_url()
    if run_log.stream_run_row(url, strem_nm, run_id) is None:  # no process task got as far as opening it
        run_log.mark_stream_running(url, strem_nm, business_date, run_id)
    run_log.mark_abandoned_attempts_failed(url)
    fail_policy, processes = _stream_processes(url, strem_nm)
    attempts = run_log.attempts_of_stream_run(url, strem_nm, run_id)
    outcome: dict[str, LogEntry] = {entry.prcs_nm: entry for entry in attempts}
    failing = sorted(name for name, entry in outcome.items() if entry.status in FAILING)
    for name in (p for p in processes if p not in outcome):
        never_ran = RunContext(strem_nm=strem_nm, prcs_nm=name, business_date=business_date, run_id=run_id,
                               strem_run_id=run_id, triggered_by="stream")
        if failing and fail_policy == "STOP":
            run_log.mark_skipped(url, never_ran, "not run: the stream stopped after a failure (fail_policy STOP)")
        else:
            run_log.mark_failed(url, never_ran, f"no result recorded: its task ended before the runner started "
                                f"(see the Airflow task log of {name} in stream__{strem_nm}, or of process__{name})")
            failing.append(name)
    counts = {status: sum(e.status == status for e in outcome.values()) for status in ("SUCCESS", "SKIPPED")}
    if failing:
        message = f"{len(failing)} process(es) failed or blocked: {', '.join(sorted(failing))}"
        run_log.mark_stream_finished(url, strem_nm, run_id, "FAILED", message)
        return message
    run_log.mark_stream_finished(
        url, strem_nm, run_id, "SUCCESS",
        f"{counts['SUCCESS']} process(es) ran, {counts['SKIPPED']} already done",
    )
    return None


def finish_stream_if_complete(strem_nm: str, business_date: dt.date, run_id: str) -> None:
    """Close the stream run's row once every active process of the stream has a final row in the run.

    Each process of a stream run calls this as it ends, after its own row is final, so the last one
    to end always sees every row: the row closes with the last notebook, not one task start later.
    """
    url = control_db_url()
    _, processes = _stream_processes(url, strem_nm)
    latest = {entry.prcs_nm: entry.status for entry in run_log.attempts_of_stream_run(url, strem_nm, run_id)}
    if all(latest.get(name) not in (None, "RUNNING") for name in processes):
        finish_stream(strem_nm, run_id, business_date)


def finish_stream_if_open(strem_nm: str, run_id: str, business_date: dt.date | None) -> None:
    """The stream DAG's callbacks: close the row when no process task did, because some never ran.

    The date is the row's own; `business_date` (None when the callback could not tell) is used only
    when no process task opened a row at all.
    """
    row = run_log.stream_run_row(control_db_url(), strem_nm, run_id)
    if row is not None and not row[1]:
        return  # the last process task closed it
    day = row[0] if row is not None else business_date
    if day is None:
        log.warning("stream run %s of %s: no log row and no business date, nothing to close", run_id, strem_nm)
        return
    finish_stream(strem_nm, run_id, day)
