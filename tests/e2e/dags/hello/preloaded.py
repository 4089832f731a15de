"""Harness proof: task processes start with llf's runner already loaded (llf.runner.preload).

What is in sys.modules is read before this file imports anything heavy: the task process is forked
from a LocalExecutor worker, itself started by the forkserver that imported the preload module.
"""

from __future__ import annotations

import sys

LOADED_AT_PARSE = sorted(name for name in ("papermill", "nbconvert", "llf.runner.tasks") if name in sys.modules)

from airflow.sdk import dag, task  # noqa: E402 - after the sys.modules probe on purpose


@dag(dag_id="e2e_preloaded", schedule=None, catchup=False, tags=["e2e"])
def preloaded():
    @task
    def modules_loaded_before_parse() -> list[str]:
        return LOADED_AT_PARSE

    modules_loaded_before_parse()


preloaded()
