"""The run rule: whether a process asked to run for a date runs, is done already, or has failed for good.

One function, no database: the runner reads the process's attempts for the date under its run lock and asks
it, whoever asks (a stream task, a dependant's trigger, a manual run, a backfill, Airflow's retry, a clear).
docs/explanation/run-semantics.md is the same rule as a table; each line of `decide` is one of its rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from llf.context import RunContext
from llf.control.model import FAILING, LogEntry, Status
from llf.text import one_line


class Verdict(StrEnum):
    RUN = "RUN"  # execute the notebook
    DONE = "DONE"  # its work for the date is done: record SKIPPED with the reason
    FINAL_FAILED = "FINAL_FAILED"  # it failed for good in this stream run: record that again and fail, no retry


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str = ""
    attempt: LogEntry | None = None  # the attempt the verdict rests on (None for RUN)


RUN = Decision(Verdict.RUN)


def decide(asker: RunContext, attempts: Sequence[LogEntry]) -> Decision:
    """What happens to `asker`'s request, given the process's attempts for its date, newest first, no SKIPPED.

    In this order, the first that holds decides:
    1. this Airflow run already succeeded (an earlier try, before Airflow retried it or a user cleared it): DONE;
    2. the newest attempt is a SUCCESS and nobody asked to run it again: DONE;
    3. the process already ended FAILED/BLOCKED in the asker's stream run, and the asker is another Airflow run
       of it (a dependant's trigger, a delegated process-DAG run): FINAL_FAILED; the run that failed may try
       again (its retry, or a clear), which is what retries are for;
    4. otherwise: RUN.
    """
    own_success = _newest(attempts, lambda a: _same_airflow_run(a, asker) and a.status == Status.SUCCESS)
    if own_success is not None:
        return Decision(Verdict.DONE, f"try {own_success.try_number} of this run already succeeded "
                                      f"(attempt {own_success.log_id})", own_success)
    latest = attempts[0] if attempts else None
    if latest is not None and latest.status == Status.SUCCESS and not _asks_to_run_again(asker, latest):
        return Decision(Verdict.DONE, f"already SUCCESS for {asker.business_date} (run {latest.run_id})", latest)
    failure = _failure_final_for(asker, attempts)
    if failure is not None:
        return Decision(Verdict.FINAL_FAILED,
                        f"not run again: {asker.prcs_nm} already ended {failure.status} in this stream run "
                        f"(attempt {failure.log_id}, run {failure.run_id}: {one_line(failure.message, 300)})",
                        failure)
    return RUN


def _asks_to_run_again(asker: RunContext, success: LogEntry) -> bool:
    """A SUCCESS is rerun when asked explicitly: a manual run (you asked for this very run), or `full_rerun`,
    once per stream run (a dependant of the same stream run finds the rerun done)."""
    if asker.triggered_by == "manual":
        return True
    return asker.full_rerun and not same_stream_run(success, asker)


def _failure_final_for(asker: RunContext, attempts: Sequence[LogEntry]) -> LogEntry | None:
    """The FAILED/BLOCKED attempt that ends the process for `asker`'s stream run, if any."""
    if stream_run_served(asker) is None:
        return None  # no stream run to be final for: a manual or standalone run
    if any(_same_airflow_run(attempt, asker) for attempt in attempts):
        return None  # this run's own earlier try failed: its retry or clear tries again
    newest_in_stream_run = _newest(attempts, lambda a: same_stream_run(a, asker))
    if newest_in_stream_run is None or newest_in_stream_run.status not in FAILING:
        return None
    return newest_in_stream_run


def _same_airflow_run(attempt: LogEntry, asker: RunContext) -> bool:
    """An earlier try of the asker's own Airflow run: its run id, and its DAG where both rows name one (the
    rows a stream's end writes for processes that never ran name none)."""
    same_dag = attempt.dag_id is None or asker.dag_id is None or attempt.dag_id == asker.dag_id
    return attempt.run_id == asker.run_id and same_dag


def same_stream_run(attempt: LogEntry, asker: RunContext) -> bool:
    """Made for the asker's stream run: by stream name too, since scheduled runs of two streams on one cron
    share their run id. "For": within it, or asked by it as a dependency of another stream (filed under that
    stream, linked to the run that asked), so a dependency's failure stays final for the run that asked for it."""
    served = stream_run_served(asker)
    return served is not None and stream_run_served(attempt) == served


def stream_run_served(run: LogEntry | RunContext) -> tuple[str | None, str] | None:
    """The stream run an attempt (or an ask) is made for: its own stream run, else the one that asked for it."""
    if run.strem_run_id is not None:
        return run.strem_nm, run.strem_run_id
    if run.rqst_strem_run_id is not None:
        return run.rqst_strem_nm, run.rqst_strem_run_id
    return None


def _newest(attempts: Sequence[LogEntry], matches: Callable[[LogEntry], bool]) -> LogEntry | None:
    return next((attempt for attempt in attempts if matches(attempt)), None)
