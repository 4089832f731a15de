"""Turns the control-table registrations into Airflow DAGs: one per stream, one per process.

`dags/llf_dags.py` only calls `build_dags()`; everything else lives here so it can be tested and
profiled without a DAG folder.
"""

from llf.dagbuild.builder import build_dags

__all__ = ["build_dags"]
