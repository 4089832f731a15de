"""The one operator llf adds to Airflow's: a dependency trigger that first asks whether it is needed."""

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
