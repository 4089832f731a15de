"""The operators llf adds to Airflow's: triggers that first ask whether a run is needed at all, and the
tasks that run a notebook in their own process, whose on_kill stops its kernel."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow.providers.standard.operators.python import PythonOperator
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk.exceptions import AirflowSkipException

# What the run log says when Airflow's on_kill stops a notebook (the supervisor's SIGTERM, 5 s after its SIGINT).
ON_KILL = "stopped by Airflow: the task was sent SIGTERM (on_kill)"


def _stop_notebooks() -> None:
    """Stop the kernels this task process runs: the runner then records the attempt FAILED with ON_KILL.

    A kernel leads its own session, so Airflow's signals to the task never reach it. llf.runner is
    imported here, not at module import, as llf.dagbuild.callables does: parsing stays light.
    """
    from llf.runner.tasks import stop_running_attempts

    stop_running_attempts(ON_KILL)


@dataclass(frozen=True)
class ProcessRun:
    """A process DAG run to trigger: its run id, chosen by the callable because the run token in its conf is
    minted for that one run (llf.runner.identity), and its conf."""

    run_id: str
    conf: dict[str, Any]


class DependencyTrigger(TriggerDagRunOperator):
    """Starts a dependency's process DAG and waits for it (deferrably), unless it is already satisfied.

    `dependency_conf(context)` returns the dependency run (its run id and conf), or None when the runner says the
    dependency needs no run; the task is then skipped. One task per dependency replaces a branch task
    plus one trigger per dependency: a third fewer tasks to parse, and the verdict is taken by the
    task that acts on it. After deferral Airflow resumes in `execute_complete`, so the check runs once.
    """

    def __init__(self, *, dependency_conf: Callable[[Any], ProcessRun | None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dependency_conf = dependency_conf

    def execute(self, context: Any) -> Any:
        run = self.dependency_conf(context)
        if run is None:
            raise AirflowSkipException(f"{self.trigger_dag_id} needs no run for this business date.")
        self.trigger_run_id, self.conf = run.run_id, run.conf
        return super().execute(context)


class StreamProcess(TriggerDagRunOperator):
    """A stream's task for one process: runs the notebook in this very task when it can, else via its DAG.

    `run_here(context)` runs the process and returns None when nothing has to be triggered first
    (every dependency is SUCCESS for the date, or already failed in this stream run, which the runner
    records as BLOCKED). That is the common case, and it costs one task instead of a trigger task, a
    process DAG run and its notebook task (two task starts and several scheduler round trips per
    process). Otherwise (a dependency from another stream still to run, or one running beside it) it
    returns a process DAG run (its run id and conf), and the task triggers that run, whose dependency tasks start
    and await what is missing, and waits for it as LLF_STREAM_WAIT says. Either way the runner holds
    the process's run lock, so it still runs at most once per business date.
    """

    def __init__(self, *, run_here: Callable[[Any], ProcessRun | None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run_here = run_here

    def execute(self, context: Any) -> Any:
        run = self.run_here(context)
        if run is None:
            return None
        self.trigger_run_id, self.conf = run.run_id, run.conf
        return super().execute(context)

    def on_kill(self) -> None:
        _stop_notebooks()
        super().on_kill()


class NotebookTask(PythonOperator):
    """The process DAG's `run_notebook`: a PythonOperator whose on_kill stops the notebook's kernel."""

    def on_kill(self) -> None:
        _stop_notebooks()
        super().on_kill()
