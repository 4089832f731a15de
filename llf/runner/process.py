"""One process run, in the order users rely on: at-most-once (the lock), skip-if-done, dependencies, notebook, log."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg2.extensions

from llf.context import RUN_CONTEXT_ENV, RunContext, StreamRunKey
from llf.control import log as run_log
from llf.control.attempt_tokens import open_attempt_token
from llf.control.lock import RunLock, RunLockBusy, process_run_lock
from llf.control.model import FAILING, Status, lock_wait_limit
from llf.control.repository import Registration, process_registration
from llf.control.stream_logins import kernel_login_url
from llf.db import ReusedConnections, reused_connections
from llf.exceptions import ConfigurationError, FinalFailure, ProcessFailed
from llf.runner import connections as airflow_connections
from llf.runner import kernel_user, stops
from llf.runner import notebook as notebook_runner
from llf.runner.connections import ConnectionLookup
from llf.runner.lake_key import kernel_lake_key
from llf.runner.mirror import mirrored
from llf.runner.notebook_check import rejected_here
from llf.runner.outputs import keep_unstored, output_location, outputs_stored, store_outputs, warm_up_html_export
from llf.runner.run_rule import Decision, Verdict, decide, same_stream_run
from llf.runner.stream import finish_stream_if_complete
from llf.runner.timeline import Timeline
from llf.runner.vector_key import kernel_vector_key
from llf.services.connections import Connection
from llf.settings import (
    ATTEMPT_TOKEN,
    LAKE_STREAM,
    NOTEBOOK_DB_URL_ENV,
    STREAM_DB_CONNECTION_LIMIT,
    notebook_db_url,
    notebooks_dir,
)
from llf.text import format_duration

log = logging.getLogger(__name__)


def dependencies_to_trigger(url: str, context: RunContext, registration: Registration | None = None) -> list[str]:
    """Dependencies not yet SUCCESS for the date, except those already FAILED/BLOCKED in this stream run.

    A dependency still RUNNING is triggered too: that run waits on its lock and ends with the result.
    `registration` is the process's, when the caller has read it already.
    """
    dependencies = (registration or process_registration(url, context.prcs_nm)).dependencies
    if not dependencies:
        return []
    latest = run_log.latest_attempts(url, dependencies, context.business_date)

    def settled(name: str) -> bool:
        attempt = latest.get(name)
        if attempt is None:
            return False
        failed_in_this_run = attempt.status in FAILING and same_stream_run(attempt, context)
        return attempt.status == Status.SUCCESS or failed_in_this_run

    return [name for name in dependencies if not settled(name)]


def _unmet_dependencies(url: str, dependencies: list[str], context: RunContext) -> list[str]:
    if not dependencies:
        return []
    latest = run_log.latest_attempts(url, dependencies, context.business_date)
    return [
        f"{name} ({latest[name].status if name in latest else 'never ran'})"
        for name in dependencies
        if name not in latest or latest[name].status != Status.SUCCESS
    ]


def _refuse_unmet_dependencies(url: str, context: RunContext, registration: Registration) -> None:
    """Record BLOCKED and raise FinalFailure when a dependency has no SUCCESS as its newest attempt for the date:
    the dependencies' runs are over, so a retry would only block again."""
    unmet = _unmet_dependencies(url, registration.dependencies, context)
    if unmet:
        message = f"blocked: dependencies not SUCCESS for {context.business_date}: {', '.join(unmet)}"
        run_log.mark_blocked(url, context, message)
        raise FinalFailure(message)


def run_process(url: str, context: RunContext, timeline: Timeline | None = None,
                registration: Registration | None = None, *, lock_wait: dt.timedelta | None = None,
                connection_lookup: ConnectionLookup | None = None) -> None:
    """Run the process's notebook for the context's business date, recording every outcome.

    A process of a stream run then closes the stream's row if it was the run's last to end.
    `timeline` (a new one when None) gets the task's steps, logged at DEBUG at the end; `registration`
    is the process's, when the caller has read it already. The steps before and after the notebook
    share one control-DB connection (closed while the notebook runs). The registration's params are the ones
    the notebook gets: read at run time, so a params change reaches the next run without a DAG refresh.
    `lock_wait` bounds the wait for the run lock (default: control.model.lock_wait_limit of the process).
    `connection_lookup` reads an Airflow connection (llf.runner.connections): the process's registered ones
    are resolved with it before the kernel starts; None (outside Airflow) fails a process that names any.
    """
    timeline = timeline or Timeline()
    with reused_connections() as connections:
        try:
            _run_process(url, context, timeline, registration, connections, lock_wait, connection_lookup)
        finally:
            stream_run = context.stream_run_key
            if context.triggered_by == "stream" and stream_run is not None:
                _finish_stream_if_complete(url, stream_run)
                timeline.mark("stream row checked")
            timeline.log(context.prcs_nm)


def _finish_stream_if_complete(url: str, stream_run: StreamRunKey) -> None:
    try:
        finish_stream_if_complete(url, stream_run)
    except Exception:  # logged: the process's own outcome is recorded; the DAG callback closes the row
        log.exception("could not close stream run %s of %s; its DAG callback will", stream_run.run_id,
                      stream_run.strem_nm)


def _run_process(url: str, context: RunContext, timeline: Timeline, registration: Registration | None,
                 connections: ReusedConnections, lock_wait: dt.timedelta | None,
                 lookup: ConnectionLookup | None) -> None:
    if registration is None:
        registration = process_registration(url, context.prcs_nm)
        timeline.mark("registration read")
    # A wait for another attempt's lock can be long: no idle connection is kept through it. It is bounded on
    # its own, apart from the notebook's timeout, whose clock starts with the notebook (notebook.execute).
    wait = lock_wait_limit(registration.timeout_min) if lock_wait is None else lock_wait
    try:
        with process_run_lock(url, context.prcs_nm, context.business_date, before_waiting=connections.close,
                              wait_limit=wait) as lock:
            timeline.mark("lock taken")
            _run_holding_lock(url, context, registration, lock, connections, timeline, lookup)
    except RunLockBusy as busy:
        _record_lock_wait_ended(url, context, busy.waited)
    timeline.mark("lock released")


def _run_holding_lock(url: str, context: RunContext, registration: Registration, lock: RunLock,
                      connections: ReusedConnections, timeline: Timeline, lookup: ConnectionLookup | None) -> None:
    # Holding the lock, any RUNNING row of this process and date is dead (a killed try Airflow now
    # retries); the global sweep leaves it alone since it sees the lock held, by us.
    if run_log.mark_stale_attempts_failed(url, context.prcs_nm, context.business_date, outputs_stored):
        log.warning("%s: closed the RUNNING attempt of a dead worker for %s", context.prcs_nm,
                    context.business_date)
    run_log.mark_abandoned_attempts_failed(url, outputs_stored=outputs_stored)
    timeline.mark("stale rows swept")
    decision = decide(context, run_log.attempts_for_date(url, context.prcs_nm, context.business_date))
    timeline.mark("done-check")
    if decision.verdict is not Verdict.RUN:
        _record_not_run(url, context, decision)
        return
    # Dependencies after the done-check: a process done for the date is SKIPPED, whatever its dependencies'
    # newest attempts say since; a BLOCKED row for it would hide its SUCCESS from the next asker, which would run
    # it again (chaos soak, round 5 seed 6: a dependency failed and recovered between two triggers).
    _refuse_unmet_dependencies(url, context, registration)
    timeline.mark("dependencies checked")
    context = context.model_copy(update={"output_path": output_location(context), "params": registration.params})
    log_id = run_log.mark_running(url, context)
    timeline.mark("RUNNING row written")
    connections.close()  # idle through the notebook run, a session could be ended under it
    _execute_and_record(url, context.model_copy(update={"log_id": log_id}), registration, lock, timeline, lookup)


def _record_lock_wait_ended(url: str, context: RunContext, waited: dt.timedelta) -> None:
    """Record FAILED, naming who holds the lock, and raise ProcessFailed: a retry may find the holder done."""
    message = (f"waited {format_duration(waited)} for the run lock of {context.prcs_nm} {context.business_date}, "
               f"the longest a run waits; {run_log.lock_holder(url, context.prcs_nm, context.business_date)}")
    run_log.mark_failed(url, context, message)
    raise ProcessFailed(message)


def _record_not_run(url: str, context: RunContext, decision: Decision) -> None:
    """Record why the notebook does not run: SKIPPED when its work is done; else the status it already ended
    with in this stream run, again, and FinalFailure, so the stream run, the dependants (which read the
    newest attempt) and Airflow (which fails this run, without a retry) all see the failure stand."""
    if decision.verdict is Verdict.DONE:
        run_log.mark_skipped(url, context, decision.reason)
        log.info("%s skipped: %s", context.prcs_nm, decision.reason)
        return
    assert decision.attempt is not None  # a FINAL_FAILED decision names the attempt it rests on
    if decision.attempt.status == Status.BLOCKED:
        run_log.mark_blocked(url, context, decision.reason)
    else:
        run_log.mark_failed(url, context, decision.reason)
    raise FinalFailure(decision.reason)


@dataclass(frozen=True)
class _Ending:
    """How an attempt's notebook part ended: the error for the run log (None: it succeeded), where its outputs
    are, and the BaseException by which Airflow stopped the task, raised again once the row is closed."""

    error: str | None
    output_path: str | None = None
    stop: BaseException | None = None


def _execute_and_record(url: str, context: RunContext, registration: Registration, lock: RunLock,
                        timeline: Timeline, lookup: ConnectionLookup | None) -> None:
    """Close the RUNNING row whatever happens: SUCCESS, or FAILED with the reason and any stored output.

    A lost run lock stops the kernel (through the lock's watchdog) and always ends FAILED: another run
    of the same process and date may have started meanwhile, so this one's result proves nothing.
    Airflow stopping the task (stops) stops the kernel too, ends FAILED with its reason, and is raised again.
    """
    stopper = notebook_runner.KernelStopper()
    lock.on_lost(stopper.stop)
    # Credentials made for this attempt alone (its Weaviate user) are revoked once its row is closed: a slow
    # revocation never delays the final status, and a dead worker's are swept by the next run.
    with contextlib.ExitStack() as attempt_keys:
        with stops.running(stopper):  # so that the task's on_kill reaches this kernel
            try:
                ending = _execute(url, context, registration, stopper, timeline, lookup, attempt_keys)
            except Exception as unexpected:  # noqa: BLE001 - whatever broke, the row must close with the reason
                ending = _Ending(f"{type(unexpected).__name__}: {unexpected}")
            except BaseException as stop:  # noqa: BLE001 - Airflow's stops, before or after the notebook: raised again
                ending = _stopped(stop, stopper, timeline)
        error = ending.error
        lost = lock.lost or lock.check()  # checked once more: the last watchdog check may be seconds old
        if lost:
            stopped = "its kernel was stopped" if stopper.stopped else f"the notebook ended ({error or 'no error'})"
            error = f"run lock lost: {lost}; {stopped}, and no result of this attempt counts"
        if ending.stop is None:
            _record(url, context, error, ending.output_path)
            timeline.mark("final row written")
            return
        with contextlib.suppress(ProcessFailed):  # Airflow is to see its own stop, not the runner's failure
            _record(url, context, error, ending.output_path)
        timeline.mark("final row written")
        raise ending.stop


def _stopped(stop: BaseException, stopper: notebook_runner.KernelStopper, timeline: Timeline) -> _Ending:
    """Airflow is stopping the task (a BaseException that is no Exception): stop the kernel, say why."""
    timeline.mark("stopped")
    reason = stops.stop_reason(stop, sum(seconds for _, seconds in timeline.phases()))
    stopper.stop(reason)
    log.error("%s; its kernel was stopped", reason)
    return _Ending(f"{reason}; the kernel was stopped, the notebook kept as far as it ran", stop=stop)


def _record(url: str, context: RunContext, error: str | None, output_path: str | None) -> None:
    """Close the attempt's row; raise ProcessFailed when it failed, so Airflow fails (and retries) the task.

    When the row is no longer RUNNING, a sweep closed it FAILED because this run's lock was free (lost):
    that row is left as it is, never overwritten, and the task fails too, naming both outcomes. The write is
    retried while the control database cannot be reached (run_log.close_attempt); when it never gets
    through, the task fails with that sentence, and the row is left RUNNING for a sweep to close.
    """
    status, message = (Status.FAILED, error) if error else (Status.SUCCESS, "notebook ran to completion")
    try:
        run_log.close_attempt(url, context, status, message, output_path)
    except run_log.AttemptAlreadyClosed as closed:
        log.warning("%s: %s; this run's own result is not recorded", context.prcs_nm, closed)
        raise ProcessFailed(f"{closed}; this run ended {'FAILED: ' + error if error else 'SUCCESS'}, "
                            "not recorded") from closed
    except run_log.AttemptNotClosed as not_closed:
        outcome = f"FAILED: {error}" if error else f"SUCCESS, its outputs in {output_path}"
        log.error("%s: the notebook ended %s, but %s", context.prcs_nm, outcome, not_closed)
        raise ProcessFailed(f"the notebook ended {outcome}, but {not_closed}") from not_closed
    if error:
        raise ProcessFailed(error)


def _execute(url: str, context: RunContext, registration: Registration, stopper: notebook_runner.KernelStopper,
             timeline: Timeline, lookup: ConnectionLookup | None, attempt_keys: contextlib.ExitStack) -> _Ending:
    """Run the notebook and store its outputs, on failure too, and when Airflow stops the task mid-notebook:
    the executed notebook as far as it ran (papermill saves it after every cell and when it is interrupted).

    When the lake refuses them, the executed notebook is kept on the worker and the error says where.
    The registered connections are resolved last before the kernel starts (none missing, or no kernel), and
    their passwords are hidden from the notebook's error, which the run log stores. The attempt's own Weaviate key
    is made after everything else that can fail; `attempt_keys` deletes its user once the attempt's row is closed.
    """
    if registration.file_path is None:
        return _Ending("no system file registered; INSERT one into cntl_af.cntl_cfg_sys_file")
    assert context.log_id is not None  # _run_holding_lock wrote the RUNNING row
    with tempfile.TemporaryDirectory(prefix="llf-run-") as scratch:
        try:
            notebook = notebook_runner.resolve(registration.file_path, notebooks_dir())
            # read once, checked against its pin: the copy is what the parameters are read from and what runs
            source = notebook_runner.pinned_copy(notebook, registration.file_path, registration.content_sha256,
                                                 Path(scratch))
            parameters = notebook_runner.parameters_for(source, context.params, _context_parameters(context))
            handed = airflow_connections.resolve(context.prcs_nm, registration.conn_ids, lookup)
            kernel_env = _kernel_env(context, url, handed)
            if registration.strem_nm:  # nb.lake()'s part of the lake: the process's own stream's, run on its own too
                kernel_env = {**kernel_env, LAKE_STREAM.name: registration.strem_nm}
            kernel_env = {**kernel_env, **kernel_lake_key(registration.strem_nm or context.strem_nm,
                                                          registration.timeout_min)}
            user = kernel_user.prepare(registration.strem_id, registration.strem_nm)
            kernel_env = {**kernel_env, **attempt_keys.enter_context(
                kernel_vector_key(url, context.log_id, registration.strem_id))}
        except notebook_runner.NotebookRejected as rejected:
            return _Ending(rejected_here(rejected, context))
        except airflow_connections.ConnectionsUnavailable as unavailable:
            return _Ending(str(unavailable))
        except ConfigurationError as missing:
            return _Ending(f"ConfigurationError: {missing}")
        warm_up_html_export()
        timeline.mark("notebook prepared")
        executed = Path(scratch) / notebook.name
        with mirrored(context, executed):  # in the lake as far as it ran, should this process die before storing
            try:
                ending = _Ending(notebook_runner.execute(
                    source, executed, parameters, timeout_min=registration.timeout_min,
                    kernel_env=kernel_env, stopper=stopper, timeline=timeline, cwd=notebook.parent, user=user,
                ).error)
            except Exception as unexpected:  # noqa: BLE001 - recorded with the notebook as far as it ran
                ending = _Ending(f"{type(unexpected).__name__}: {unexpected}")
            except BaseException as stop:  # noqa: BLE001 - Airflow's stops: raised again once recorded
                ending = _stopped(stop, stopper, timeline)
        timeline.mark("papermill returned")
        ending = replace(ending, error=airflow_connections.hidden(ending.error, handed))
        return _stored(context, executed, ending, timeline)


def _stored(context: RunContext, executed: Path, ending: _Ending, timeline: Timeline) -> _Ending:
    """`ending` with the executed notebook stored in the lake (or kept on the worker, the error saying where)."""
    if not executed.exists():
        return ending
    try:
        output_path = store_outputs(context, executed)
        timeline.mark("outputs stored")
    except Exception as lake_error:  # noqa: BLE001 - reported with the notebook's own outcome
        return replace(ending, error="; ".join(filter(None, [ending.error,
                                                               keep_unstored(context, executed, lake_error)])))
    return replace(ending, output_path=output_path)


def _kernel_env(context: RunContext, control_url: str, handed: Mapping[str, Connection]) -> Mapping[str, str]:
    """What the kernel gets on top of the worker's allowlisted variables (llf.runner.kernel_env): the run context,
    the notebook role's URL, and the Airflow connections its process registered (`handed`, in LLF_CONNECTIONS).

    The SDK connects with LLF_CONTROL_DB_URL, so the notebook URL goes in under that name too, replacing
    the owner's URL the worker holds: notebook code (nb.sql included) can then write progress, LLM usage
    and cache, results and vectors, and gets "permission denied" on registrations and the run log. It is the login
    of the process's stream (llf.control.stream_logins), so the tables and collections it creates are the stream's
    alone; the shared notebook login only where the owner may not create roles (with a warning).
    The Weaviate key is not among them: llf.runner.vector_key makes the kernel its own.
    The attempt's token (llf.control.attempt_tokens), minted here, scopes the SDK's session to this attempt's rows.
    """
    notebook_url = notebook_db_url()
    owner = _login(control_url)
    if _login(notebook_url) == owner:
        log.warning("%s connects as %s, the owner of the control tables: this notebook can change registrations "
                    "and the run log. Point it at a login in the role llf_notebook (docs, Security).",
                    NOTEBOOK_DB_URL_ENV, owner or "the default user")
    else:  # the kernel gets its stream's login, never the shared one (llf.control.stream_logins)
        notebook_url = kernel_login_url(control_url, notebook_url, context.prcs_nm,
                                        STREAM_DB_CONNECTION_LIMIT.value())
    env = {RUN_CONTEXT_ENV: context.model_dump_json(), "LLF_CONTROL_DB_URL": notebook_url,
           NOTEBOOK_DB_URL_ENV: notebook_url, **airflow_connections.kernel_variables(handed)}
    if context.log_id is not None:
        env[ATTEMPT_TOKEN.name] = open_attempt_token(control_url, context.log_id)
    return env


def _login(url: str) -> str | None:
    """The user a database URL (or keyword DSN) connects as; None when it names none (the OS user's name)."""
    try:
        return psycopg2.extensions.parse_dsn(url).get("user")
    except psycopg2.ProgrammingError:
        return None


def _context_parameters(context: RunContext) -> dict[str, str | bool | None]:
    """The run context injected next to the registered params (docs, Writing a notebook)."""
    return {
        "strem_nm": context.strem_nm,
        "prcs_nm": context.prcs_nm,
        "business_date": context.business_date.isoformat(),
        "run_id": context.run_id,
        "output_path": context.output_path,
        "full_rerun": context.full_rerun,
    }
