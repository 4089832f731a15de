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


# What every llf DAG shares beyond Airflow's configured defaults (read once, by the DAG template).
DAG_DEFAULTS: dict[str, Any] = {"start_date": START_DATE, "catchup": False}


def add_run_params(dag: DAG) -> DAG:
    """Give the finished DAG its run params.

    Added last, in place into the DAG's own ParamsDict: that skips re-validating known-good defaults,
    and Airflow merges the DAG's params into each task's at run time.
    """
    dag.params.update(run_params())
    return dag
