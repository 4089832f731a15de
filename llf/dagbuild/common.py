"""Pieces shared by stream and process DAGs: run params, tags, the DAG ids."""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import DAG, Param

TAG_MAX_LENGTH = 100  # Airflow refuses longer tags


def stream_dag_id(strem_nm: str) -> str:
    return f"stream__{strem_nm}"


def process_dag_id(prcs_nm: str) -> str:
    return f"process__{prcs_nm}"


def run_params() -> dict[str, Param]:
    """The trigger form of every llf DAG; a stream passes both on to each process run it starts."""
    return {
        "business_date": Param(
            "",
            type="string",
            pattern=r"^(\d{4}-\d{2}-\d{2})?$",
            title="Business date",
            description="YYYY-MM-DD. Empty: the run's logical date, or today for a manual run.",
        ),
        "full_rerun": Param(
            False,
            type="boolean",
            title="Full rerun",
            description="Rerun processes already SUCCESS for this business date too.",
        ),
    }


def tag(kind: str, name: str) -> str:
    return f"{kind}:{name}"[:TAG_MAX_LENGTH]


START_DATE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def airflow_defaults() -> dict[str, Any]:
    """The DAG arguments Airflow would read from its config, read once per parse instead of per DAG.

    Airflow looks each one up again for every DAG it constructs; with a thousand DAGs those lookups
    alone cost about a second.
    """
    from airflow.sdk.configuration import conf

    return {
        "max_active_runs": conf.getint("core", "max_active_runs_per_dag"),
        "max_consecutive_failed_dag_runs": conf.getint("core", "max_consecutive_failed_dag_runs_per_dag"),
        "disable_bundle_versioning": conf.getboolean("dag_processor", "disable_bundle_versioning"),
        "start_date": START_DATE,
        "catchup": False,
    }


def add_run_params(dag: DAG) -> DAG:
    """Give the finished DAG its run params.

    Added last, into the DAG's own ParamsDict: every operator created while the DAG has params deep-
    copies them (most of the build time with thousands of tasks), and Airflow merges the DAG's params
    into each task's at run time anyway. Updating in place also skips re-validating known-good defaults.
    """
    dag.params.update(run_params())
    return dag
