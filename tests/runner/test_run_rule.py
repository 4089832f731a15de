"""The run rule as a table (docs/explanation/run-semantics.md): who asks × what the log holds → what happens.
No database."""

from __future__ import annotations

import datetime as dt

import pytest

from llf.context import RunContext
from llf.control.model import LogEntry, Status
from llf.runner.run_rule import Verdict, decide

DAY = dt.date(2026, 3, 14)
STARTED = dt.datetime(2026, 3, 14, 5, 0, tzinfo=dt.UTC)

# Who asks. The stream run "R" of stream "s"; "X" is a process-DAG run a dependant in R triggered.
STREAM = {"strem_nm": "s", "run_id": "R", "strem_run_id": "R", "triggered_by": "stream"}
STREAM_RETRY = STREAM | {"try_number": 2}
STREAM_FULL_RERUN = STREAM | {"full_rerun": True}
DEPENDENCY = {"strem_nm": "s", "run_id": "X", "strem_run_id": "R", "triggered_by": "dependency"}
DEPENDENCY_FULL_RERUN = DEPENDENCY | {"full_rerun": True}
DEPENDENCY_OF_OTHER_STREAM = DEPENDENCY | {"strem_nm": "t"}  # t's scheduled run shares R's id
# A process of stream t run as a dependency for stream s's run R (issue 26): filed under t, asked by R.
ASKED_BY_R = {"strem_nm": "t", "run_id": "Y", "triggered_by": "dependency", "rqst_strem_nm": "s",
              "rqst_strem_run_id": "R"}
ASKED_BY_R_FULL_RERUN = ASKED_BY_R | {"full_rerun": True}
ASKED_BY_ANOTHER_RUN = ASKED_BY_R | {"rqst_strem_run_id": "R2"}
MANUAL = {"run_id": "M", "triggered_by": "manual"}
MANUAL_RETRY = MANUAL | {"try_number": 2}
MANUAL_FULL_RERUN = MANUAL | {"full_rerun": True}


def attempt(status: Status, run_id: str, strem_run_id: str | None = None, *, strem_nm: str | None = "s",
            try_number: int = 1, asked_by: str | None = None) -> LogEntry:
    return LogEntry(log_id=1, strem_nm=strem_nm, prcs_nm="q", business_date=DAY, run_id=run_id,
                    strem_run_id=strem_run_id, try_number=try_number, status=status, start_ts=STARTED,
                    rqst_strem_nm="s" if asked_by else None, rqst_strem_run_id=asked_by)


SUCCESS_EARLIER = attempt(Status.SUCCESS, "earlier", "earlier")
SUCCESS_IN_R = attempt(Status.SUCCESS, "R", "R")
FAILED_IN_R = attempt(Status.FAILED, "R", "R")
BLOCKED_IN_R = attempt(Status.BLOCKED, "R", "R")
FAILED_BY_X = attempt(Status.FAILED, "X", "R")  # the record of a FINAL_FAILED dependency ask
FAILED_EARLIER = attempt(Status.FAILED, "earlier", "earlier")
SUCCESS_OF_M = attempt(Status.SUCCESS, "M")
FAILED_OF_M = attempt(Status.FAILED, "M")
FAILED_ELSEWHERE = attempt(Status.FAILED, "other", "other")
FAILED_FOR_R = attempt(Status.FAILED, "X", strem_nm="t", asked_by="R")  # t's process, asked by s's run R
SUCCESS_FOR_R = attempt(Status.SUCCESS, "X", strem_nm="t", asked_by="R")


@pytest.mark.parametrize(
    ("asker", "log", "verdict", "reason"),
    [
        # nothing recorded for the date: every ask runs
        (STREAM, [], Verdict.RUN, ""),
        (DEPENDENCY, [], Verdict.RUN, ""),
        (MANUAL, [], Verdict.RUN, ""),
        # a SUCCESS for the date is done, unless a run again was asked explicitly
        (STREAM, [SUCCESS_EARLIER], Verdict.DONE, "already SUCCESS for 2026-03-14 (run earlier)"),
        (DEPENDENCY, [SUCCESS_EARLIER], Verdict.DONE, "already SUCCESS"),
        (MANUAL, [SUCCESS_EARLIER], Verdict.RUN, ""),
        (STREAM_FULL_RERUN, [SUCCESS_EARLIER], Verdict.RUN, ""),
        (DEPENDENCY_FULL_RERUN, [SUCCESS_IN_R], Verdict.DONE, "already SUCCESS"),  # rerun once per stream run
        (MANUAL_FULL_RERUN, [SUCCESS_EARLIER], Verdict.RUN, ""),
        # a retry or clear never reruns what an earlier try of the same Airflow run did
        (MANUAL_RETRY, [SUCCESS_OF_M], Verdict.DONE, "try 1 of this run already succeeded"),
        (MANUAL_RETRY, [FAILED_ELSEWHERE, SUCCESS_OF_M], Verdict.DONE, "try 1 of this run already succeeded"),
        (STREAM_RETRY, [FAILED_BY_X, SUCCESS_IN_R], Verdict.DONE, "try 1 of this run already succeeded"),
        # ... and tries again after its own failure: what retries are for
        (MANUAL_RETRY, [FAILED_OF_M], Verdict.RUN, ""),
        (STREAM_RETRY, [FAILED_IN_R], Verdict.RUN, ""),
        (STREAM_RETRY, [FAILED_BY_X, FAILED_IN_R], Verdict.RUN, ""),
        # a FAILED/BLOCKED attempt of the stream run is final for the other runs that ask within it
        (DEPENDENCY, [FAILED_IN_R], Verdict.FINAL_FAILED, "already ended FAILED in this stream run"),
        (DEPENDENCY, [BLOCKED_IN_R], Verdict.FINAL_FAILED, "already ended BLOCKED in this stream run"),
        (DEPENDENCY, [FAILED_ELSEWHERE, FAILED_IN_R], Verdict.FINAL_FAILED, "attempt 1, run R"),
        (STREAM, [FAILED_BY_X], Verdict.FINAL_FAILED, "already ended FAILED in this stream run"),
        (DEPENDENCY_FULL_RERUN, [FAILED_IN_R, SUCCESS_EARLIER], Verdict.FINAL_FAILED, "already ended FAILED"),
        # ... and only for them: another stream run, another stream, a manual run try again
        (DEPENDENCY, [FAILED_EARLIER], Verdict.RUN, ""),
        (DEPENDENCY_OF_OTHER_STREAM, [FAILED_IN_R], Verdict.RUN, ""),
        (MANUAL, [FAILED_IN_R], Verdict.RUN, ""),
        # a dependency of another stream, filed under its own stream, counts for the stream run that asked for it
        (ASKED_BY_R, [FAILED_FOR_R], Verdict.FINAL_FAILED, "already ended FAILED in this stream run"),
        (STREAM, [FAILED_FOR_R], Verdict.FINAL_FAILED, "already ended FAILED in this stream run"),
        (ASKED_BY_R_FULL_RERUN, [SUCCESS_FOR_R], Verdict.DONE, "already SUCCESS"),  # rerun once per stream run
        (ASKED_BY_ANOTHER_RUN, [FAILED_FOR_R], Verdict.RUN, ""),
        (ASKED_BY_R_FULL_RERUN, [SUCCESS_EARLIER], Verdict.RUN, ""),
        # a success after the failure stands
        (DEPENDENCY, [SUCCESS_IN_R, FAILED_IN_R], Verdict.DONE, "already SUCCESS"),
    ],
)
def test_given_an_ask_and_the_log_when_decided_then_the_run_rule_says_what_happens(asker, log, verdict, reason):
    decision = decide(RunContext(prcs_nm="q", business_date=DAY, **asker), log)

    assert decision.verdict is verdict
    assert reason in decision.reason
    assert (decision.attempt is None) == (verdict is Verdict.RUN)


def test_given_a_final_failure_when_decided_then_the_reason_quotes_the_failed_attempts_message_on_one_line():
    failed = FAILED_IN_R.model_copy(update={"log_id": 42, "message": "ValueError: no customers\n  in cell 3"})

    decision = decide(RunContext(prcs_nm="q", business_date=DAY, **DEPENDENCY), [failed])

    assert decision.reason == ("not run again: q already ended FAILED in this stream run "
                               "(attempt 42, run R: ValueError: no customers in cell 3)")
