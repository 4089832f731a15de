"""Harness proof: a parent DAG that triggers a child and awaits it deferred, so the triggerer works too."""

from __future__ import annotations

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import dag, task


@dag(dag_id="e2e_hello_child", schedule=None, catchup=False, tags=["e2e"])
def hello_child():
    @task
    def say_hello() -> str:
        return "hello"

    say_hello()


@dag(dag_id="e2e_hello", schedule=None, catchup=False, tags=["e2e"])
def hello():
    TriggerDagRunOperator(
        task_id="run_child",
        trigger_dag_id="e2e_hello_child",
        wait_for_completion=True,
        deferrable=True,
        poke_interval=1,
    )


hello_child()
hello()
