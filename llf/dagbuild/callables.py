"""What the generated tasks run. Thin: they turn Airflow's task context into calls of llf.runner.tasks.

llf.runner is imported inside each callable, never at module import, so parsing the DAG files stays
fast and does not depend on the runner's imports (papermill, kernels, ...). Each call of llf.runner.tasks
is an entry point that resolves the control DB URL once. A process's registered params are not baked into
its DAG: the runner reads them from the registration at run time (a params change needs no DAG refresh).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from airflow.sdk.exceptions import AirflowFailException

from llf.context import RunContext, TriggeredBy
from llf.control.model import process_dag_id
from llf.dagbuild.connections import airflow_connection
from llf.dagbuild.operators import ProcessRun, StreamProcess
from llf.exceptions import ConfigurationError, FinalFailure, RegistrationError
from llf.text import parse_date

if TYPE_CHECKING:  # the runner is imported inside the callables only: parsing stays light
    from llf.runner.tasks import Trigger


def parse_business_date(text: str) -> dt.date:
    """`text` as a calendar date written YYYY-MM-DD, or a ConfigurationError naming the param and the format.

    Strict: date.fromisoformat alone would also take 20240203 or 2024-W05-6, and its ValueError ("Invalid
    isoformat string") names neither the param nor what to type. The trigger form's pattern cannot refuse
    2024-02-30, and a conf sent to the REST API may hold anything.
    """
    try:
        return parse_date(text)  # the one date rule, the CLI's and the UI's
    except ValueError:
        raise ConfigurationError(
            f"The run's business_date param {text!r} is not a date: expected YYYY-MM-DD (such as 2024-01-31), "
            "or empty for the run's logical date. Trigger the run again with a valid business_date."
        ) from None


def run_setting(context: Mapping[str, Any], name: str) -> Any:
    """A run setting (business_date, full_rerun): the run's conf when it names it, else the param.

    The conf first: with Airflow's [core] dag_run_conf_overrides_params off, a trigger's conf leaves the params
    at their defaults, and reading the params alone would run the stream's date as the logical date's, or a
    full rerun asked for as none. With it on (the default) both agree.
    """
    conf = getattr(context.get("dag_run"), "conf", None) or {}
    value = conf.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return context["params"].get(name)
    return value


def _as_flag(value: Any) -> bool:
    """A conf's full_rerun as a bool: the param is validated as one, a REST conf may hold "false"."""
    return value.strip().lower() in {"true", "1", "yes"} if isinstance(value, str) else bool(value)


def business_date_of(context: Mapping[str, Any], timezone: str) -> dt.date:
    """The run's `business_date` (its conf's, else its param) when given; else the run's logical date, or its
    run-after time for a manual run.

    Both read in the stream's schedule time zone, so a 00:30 Europe/Paris run is for that Paris day.
    Every task of one run gets the same answer: run_after is fixed when the run is created.
    An invalid param fails the task before any log row is written: a row needs the business date, and one
    written for another date (the logical date) would show a FAILED attempt nobody made for that date.
    """
    explicit = str(run_setting(context, "business_date") or "").strip()
    if explicit:
        return parse_business_date(explicit)
    moment = context.get("logical_date") or context["dag_run"].run_after
    return moment.astimezone(ZoneInfo(timezone)).date()


def process_run_conf(
    *, business_date: dt.date, full_rerun: bool, strem_nm: str | None, strem_run_id: str | None,
    triggered_by: TriggeredBy, run_token: str | None = None,
) -> dict[str, Any]:
    """The conf of a process DAG run started by a stream or by a dependant process. Its stream fields count only
    with the `run_token` their trigger minted for the run (llf.runner.identity); without one, a conf naming a
    stream run is refused."""
    conf: dict[str, Any] = {
        "business_date": business_date.isoformat(),
        "full_rerun": full_rerun,
        "strem_nm": strem_nm,
        "strem_run_id": strem_run_id,
        "triggered_by": triggered_by,
    }
    if run_token is not None:
        conf["run_token"] = run_token
    return conf


def _process_run(trigger: Trigger, full_rerun: bool) -> ProcessRun:
    """The run a trigger starts: the run id its token is bound to, and a conf saying what the token vouches for."""
    grant = trigger.grant
    return ProcessRun(grant.run_id, process_run_conf(
        business_date=grant.business_date, full_rerun=full_rerun, strem_nm=grant.strem_nm,
        strem_run_id=grant.strem_run_id, triggered_by=grant.triggered_by, run_token=trigger.token))


def run_token_of(context: Mapping[str, Any]) -> str | None:
    """The run token in the run's conf, if any (a plain manual trigger has none)."""
    token = (getattr(context.get("dag_run"), "conf", None) or {}).get("run_token")
    return token if isinstance(token, str) and token else None


def vouched_run_context(context: Mapping[str, Any], *, prcs_nm: str, timezone: str) -> RunContext:
    """The RunContext of a process DAG run as its trigger vouched for it (llf.runner.identity): a conf naming a
    stream run without the token its trigger minted fails the task, without a retry, before any row is written."""
    from llf.runner.tasks import vouched_context

    with final_failures_not_retried():
        return vouched_context(run_context_of(context, prcs_nm=prcs_nm, timezone=timezone), run_token_of(context))


def run_context_of(context: Mapping[str, Any], *, prcs_nm: str, timezone: str) -> RunContext:
    """The RunContext of a process DAG run: its conf (absent for a manual run) plus what Airflow knows."""
    conf = context["dag_run"].conf or {}
    ti = context["ti"]
    return RunContext(
        strem_nm=conf.get("strem_nm"),
        prcs_nm=prcs_nm,
        business_date=business_date_of(context, timezone),
        run_id=context["run_id"],
        strem_run_id=conf.get("strem_run_id"),
        dag_id=ti.dag_id,
        task_id=ti.task_id,
        try_number=ti.try_number,
        full_rerun=_as_flag(run_setting(context, "full_rerun")),
        triggered_by=conf.get("triggered_by", "manual"),
        hostname=getattr(ti, "hostname", None),  # Airflow's get_hostname(): [core] hostname_callable
        queue_nm=getattr(ti, "queue", None),
    )


def stream_run_ended(context: Mapping[str, Any], *, strem_nm: str, timezone: str) -> None:
    """Success and failure callback of a stream DAG run: close its log row if no process task did.

    The last process task to end has usually closed it; this covers the runs where some process never
    ran (fail_policy STOP, a task that died before the runner started). It runs in the dag-processor,
    whose context may hold only the run id: the date then comes from the row the process tasks opened.
    """
    from llf.runner.tasks import finish_stream_if_open

    business_date = None
    if "dag_run" in context and "params" in context:
        try:
            business_date = business_date_of(context, timezone)
        except ConfigurationError:  # an invalid business_date param: no process task opened a row for it
            business_date = None
    expected = stream_processes(context["dag"]) if "dag" in context else []
    finish_stream_if_open(strem_nm, context["run_id"], business_date, expected)


def stream_processes(dag: Any) -> list[str]:
    """The processes a run of this stream DAG accounts for: its process tasks, by process name.

    The DAG's own, not the registrations of the moment: a process registered after the DAG was built has
    no task in the run. A task id is stream_task_id's "<group id>.<process>", and a group id holds no dot
    (task_group_id), so the name is what follows the first dot.
    """
    return sorted(task.task_id.partition(".")[2] for task in dag.tasks if isinstance(task, StreamProcess))


def dependency_conf(
    context: Mapping[str, Any], *, prcs_nm: str, dependency: str, timezone: str
) -> ProcessRun | None:
    """The run of `dependency` for this process run, or None when the runner says it needs none.

    This run's own identity is checked first: a run whose conf names a stream run it has no token for vouches
    for nothing, so it cannot have a dependency filed as asked by that stream run.
    """
    from llf.runner.tasks import dependencies_to_trigger, trigger_for_dependency

    run_context = vouched_run_context(context, prcs_nm=prcs_nm, timezone=timezone)
    if dependency not in dependencies_to_trigger(run_context):
        return None
    return _process_run(trigger_for_dependency(run_context, dependency), run_context.full_rerun)


@contextmanager
def final_failures_not_retried() -> Iterator[None]:
    """The runner's FinalFailure (BLOCKED, or FAILED for good in the stream run) as Airflow's fail-without-retry.

    Raised by the task, not set as `retries=0` on it: the same task is retried when its notebook fails, which
    is what the registered `retries` are for. The runner cannot raise Airflow's exception itself (it runs
    without Airflow: an import contract forbids it), so this is the one place that translates.
    """
    try:
        yield
    except FinalFailure as final:
        raise AirflowFailException(str(final)) from final


def run_in_stream(
    context: Mapping[str, Any], *, strem_nm: str, prcs_nm: str, timezone: str
) -> ProcessRun | None:
    """Run the process inside its stream task and return None; or, when a dependency needs a run first,
    return the process DAG run that will start and await it, with the run token minted for it.

    Opens the stream run's log row if no task of the run has yet, so no separate start task is needed.
    """
    from llf.runner.tasks import run_stream_process, trigger_for_stream_task

    run_context = run_context_of(context, prcs_nm=prcs_nm, timezone=timezone).model_copy(
        update={"strem_nm": strem_nm, "strem_run_id": context["run_id"], "triggered_by": "stream"})
    with final_failures_not_retried():
        if run_stream_process(run_context, stream_processes(context["dag"]), connection_lookup=airflow_connection):
            return None
    refuse_paused(context, process_dag_id(prcs_nm))
    return _process_run(trigger_for_stream_task(run_context), run_context.full_rerun)


def refuse_paused(context: Mapping[str, Any], dag_id: str) -> None:
    """Fail, saying why and what to do, rather than trigger a run of a paused DAG: it would stay queued, and
    the task awaiting it would hold its stream run (and every later one: max_active_runs=1) without end.

    A ConfigurationError, which Airflow retries: unpausing the DAG is the fix, and the next try then goes on.
    """
    if context["ti"].get_dag(dag_id).is_paused:
        raise ConfigurationError(
            f"{dag_id} is paused: unpause it (in the Airflow UI, or `airflow dags unpause {dag_id}`) and clear "
            "this task; a run triggered while it is paused would wait in the queue without end.")


def run_notebook(*, prcs_nm: str, timezone: str, **context: Any) -> None:
    from llf.runner.tasks import run_process

    run_context = vouched_run_context(context, prcs_nm=prcs_nm, timezone=timezone)
    with final_failures_not_retried():
        run_process(run_context, connection_lookup=airflow_connection)


def close_abandoned_attempts(context: Mapping[str, Any]) -> None:
    """Failure callback of the notebook task and of the process DAG: never leave a RUNNING row behind.

    Airflow does not call a task's own callback when its process was SIGKILLed, but it does call the
    DAG's (in the dag-processor), so both carry this.
    """
    from llf.runner.tasks import mark_stale_stream_runs_finished

    # Sweeps every abandoned attempt (this run's among them), then the stream rows left open by them.
    mark_stale_stream_runs_finished()


def invalid_registration(*, strem_nm: str, problems: list[str]) -> None:
    raise RegistrationError(
        f"Stream {strem_nm} is not built because its registrations are invalid:\n" + "\n".join(problems)
    )
