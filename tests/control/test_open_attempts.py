"""Which attempts are over, as the sweep of per-attempt Weaviate users asks (llf.control.open_attempts)."""

from __future__ import annotations

import datetime as dt

from llf.context import RunContext
from llf.control import log as run_log
from llf.control.model import Status
from llf.control.open_attempts import closed_attempts


def _context(prcs_nm: str) -> RunContext:
    return RunContext(strem_nm="s", prcs_nm=prcs_nm, business_date=dt.date(2026, 3, 14), run_id=f"run_{prcs_nm}",
                      triggered_by="stream")


def test_given_running_closed_and_unknown_attempts_then_only_the_running_one_is_open(control_db_url):
    # given one attempt still RUNNING, one closed FAILED, and a log id with no row at all
    running = run_log.mark_running(control_db_url, _context("a"))
    closed = run_log.mark_running(control_db_url, _context("b"))
    run_log.close_attempt(control_db_url, _context("b").model_copy(update={"log_id": closed}),
                          Status.FAILED, "worker died")
    unknown = closed + 1000
    # when asked which are over, then the closed and the unknown ones are, the running one is not
    assert closed_attempts(control_db_url, [running, closed, unknown]) == {closed, unknown}
    assert closed_attempts(control_db_url, []) == set()
