"""The operators llf adds to Airflow's: triggers that first ask whether a run is needed at all."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk.exceptions import AirflowSkipException


class DependencyTrigger(TriggerDagRunOperator):
    """Starts a dependency's process DAG and waits for it (deferrably), unless it is already satisfied.

    `dependency_conf(context)` returns the conf of the dependency run, or None when the runner says the
    dependency needs no run; the task is then skipped. One task per dependency replaces a branch task
    plus one trigger per dependency: a third fewer tasks to parse, and the verdict is taken by the
    task that acts on it. After deferral Airflow resumes in `execute_complete`, so the check runs once.
    """

    def __init__(self, *, dependency_conf: Callable[[Any], dict[str, Any] | None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dependency_conf = dependency_conf

    def execute(self, context: Any) -> Any:
        conf = self.dependency_conf(context)
        if conf is None:
            raise AirflowSkipException(f"{self.trigger_dag_id} needs no run for this business date.")
        self.conf = conf
        return super().execute(context)


class StreamProcess(TriggerDagRunOperator):
    """A stream's task for one process: runs the notebook in this very task when it can, else via its DAG.

    `run_here(context)` runs the process and returns None when nothing has to be triggered first
    (every dependency is SUCCESS for the date, or already failed in this stream run, which the runner
    records as BLOCKED). That is the common case, and it costs one task instead of a trigger task, a
    process DAG run and its notebook task (two task starts and several scheduler round trips per
    process). Otherwise (a dependency from another stream still to run, or one running beside it) it
    returns the conf of a process DAG run, and the task triggers that run, whose dependency tasks start
    and await what is missing, and waits for it as LLF_STREAM_WAIT says. Either way the runner holds
    the process's run lock, so it still runs at most once per business date.
    """

    def __init__(self, *, run_here: Callable[[Any], dict[str, Any] | None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run_here = run_here

    def execute(self, context: Any) -> Any:
        conf = self.run_here(context)
        if conf is None:
            return None
        self.conf = conf
        return super().execute(context)
