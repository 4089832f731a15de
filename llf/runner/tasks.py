"""The runner's one surface: what the generated Airflow tasks (llf.dagbuild.callables), the CLI, the local stack
and the benchmarks call; an import-linter contract keeps every other package out of the runner's other modules.

Each function here is an entry point: it resolves the control DB URL once (the caller's own, as `--db-url`
gives it, else settings.control_db_url) and hands it down; nothing below resolves it again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import psycopg2
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from llf.context import RunContext, StreamRunKey
from llf.control.repository import Registration, process_registration
from llf.db import reused_connections
from llf.exceptions import ControlDatabaseError
from llf.runner import identity, kernel_user, process, stops, stream
from llf.runner.connections import ConnectionLookup
from llf.runner.identity import Trigger
from llf.runner.outputs import warm_html_exporter
from llf.runner.timeline import Timeline
from llf.settings import control_db_url

__all__ = [
    "ConnectionLookup",
    "Timeline",
    "Trigger",
    "close_stream_runs_airflow_finished",
    "dependencies_to_trigger",
    "finish_stream_if_open",
    "mark_stale_stream_runs_finished",
    "run_process",
    "run_stream_process",
    "stop_running_attempts",
    "trigger_for_dependency",
    "trigger_for_stream_task",
    "vouched_context",
    "warm_html_exporter",
]


def run_stream_process(context: RunContext, expected: Sequence[str], timeline: Timeline | None = None, *,
                       url: str | None = None, connection_lookup: ConnectionLookup | None = None) -> bool:
    """A stream task's work: open the stream run's row, then run the process; False (and nothing run)
    when a dependency needs a run first, which the stream task then triggers and awaits.

    `expected`: the processes of the stream DAG that runs (its process tasks), which the run accounts for.
    `connection_lookup`: how the process's registered Airflow connections are read (llf.runner.connections).
    """
    url = control_db_url(url)
    timeline = timeline or Timeline()
    with reused_connections():  # run_process closes them before the notebook runs
        stream.open_stream_run(url, _stream_run_of(context), expected)
        timeline.mark("stream row opened")
        registration = process_registration(url, context.prcs_nm)
        timeline.mark("registration read")
        waiting = process.dependencies_to_trigger(url, context, registration)
        timeline.mark("dependencies to trigger")
        if waiting:
            return False
        process.run_process(url, context, timeline, registration, connection_lookup=connection_lookup)
    return True


def _stream_run_of(context: RunContext) -> StreamRunKey:
    key = context.stream_run_key
    if key is None:
        raise ValueError(f"{context.prcs_nm}: a stream task's run context names its stream and stream run")
    return key


def run_process(context: RunContext, timeline: Timeline | None = None, registration: Registration | None = None,
                *, url: str | None = None, connection_lookup: ConnectionLookup | None = None) -> None:
    """Run the process for the context's business date, recording every outcome (llf.runner.process);
    `connection_lookup` reads its registered Airflow connections (llf.runner.connections)."""
    process.run_process(control_db_url(url), context, timeline, registration, connection_lookup=connection_lookup)


def dependencies_to_trigger(context: RunContext, *, url: str | None = None) -> list[str]:
    """The dependencies a process DAG run starts and awaits before its notebook (llf.runner.process)."""
    return process.dependencies_to_trigger(control_db_url(url), context)


def vouched_context(claim: RunContext, token: str | None, *, url: str | None = None) -> RunContext:
    """The run context a process DAG run is filed under, from its conf (`claim`) and the run token in it; a conf
    naming a stream run its trigger did not vouch for raises RunIdentityRefused (llf.runner.identity)."""
    return identity.vouched(control_db_url(url), claim, token)


def trigger_for_stream_task(asker: RunContext, *, url: str | None = None) -> Trigger:
    """The run id and token of a stream task's fallback run of its process DAG (llf.runner.identity)."""
    return identity.for_stream_task(control_db_url(url), asker)


def trigger_for_dependency(asker: RunContext, dependency: str, *, url: str | None = None) -> Trigger:
    """The run id and token of a dependant's run of `dependency`'s process DAG (llf.runner.identity)."""
    return identity.for_dependency(control_db_url(url), asker, dependency)


# How long the stream DAG's callback keeps trying to reach the control DB: it runs once (Airflow does not
# call it again), and a row it fails to close stays RUNNING until a sweep (close_stream_runs_airflow_finished).
CALLBACK_RETRY_SECONDS = 60.0


def finish_stream_if_open(strem_nm: str, run_id: str, business_date: dt.date | None,
                          expected: Sequence[str] = (), *, url: str | None = None) -> None:
    """The stream DAG's callbacks: close the run's row when no process task did (llf.runner.stream).

    Retried with bounded backoff while the control DB is unreachable or drops the connection (a restart, a
    moment of refused connections): each try re-reads the row under the run's lock, so a retry after a
    write that did land changes nothing.
    """
    url = control_db_url(url)
    retrying = Retrying(
        stop=stop_after_delay(CALLBACK_RETRY_SECONDS),
        wait=wait_exponential(multiplier=0.5, max=8),
        retry=retry_if_exception_type((ControlDatabaseError, psycopg2.OperationalError, psycopg2.InterfaceError)),
        reraise=True,
    )
    retrying(stream.finish_stream_if_open, url, strem_nm, run_id, business_date, expected)


def mark_stale_stream_runs_finished(url: str | None = None, strem_nm: str | None = None) -> int:
    """Close the abandoned process attempts, then the stream rows no one will close; return how many of those.

    What a DAG's failure callback runs (a SIGKILLed task never runs its own), and `llf status` before it reads.
    """
    return stream.mark_stale_stream_runs_finished(control_db_url(url), strem_nm)


def close_stream_runs_airflow_finished(run_state: Callable[[str, str], str | None], *, url: str | None = None) -> int:
    """Close the RUNNING stream rows of runs Airflow says are finished (`run_state(dag_id, run_id)`, asked
    through llf.airflow_api by the caller); how many (llf.runner.stream)."""
    return stream.close_stream_runs_airflow_finished(control_db_url(url), run_state)


def stop_running_attempts(reason: str) -> int:
    """Stop the kernels of the attempts running in this process, each run then ending FAILED with `reason`;
    return how many. The generated tasks' on_kill: Airflow calls it on SIGTERM, from a signal handler."""
    return stops.stop_running_attempts(reason)


def kernels_not_isolated() -> str | None:
    """What notebook kernels can reach on this host because they cannot run under their streams' own OS users
    (llf.runner.kernel_user), as a sentence for `llf local up` to say; None when they do run under them."""
    problem = kernel_user.isolation_problem()
    if problem is None:
        return None
    sentence = kernel_user.NOT_ISOLATED.format(problem=problem)
    return f"{sentence[0].upper()}{sentence[1:]}."
