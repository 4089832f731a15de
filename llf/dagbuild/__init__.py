"""Turns the control-table registrations into Airflow DAGs: one per stream, one per process.

`dags/llf_dags.py` only calls `build_dags()`; everything else lives here so it can be tested and
profiled without a DAG folder. `build_dags` is imported on first use, not with the package: the
background snapshot refresh (`python -m llf.dagbuild.refresh`) needs no Airflow, whose import costs
seconds of CPU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llf.dagbuild.builder import build_dags

__all__ = ["build_dags"]


def __getattr__(name: str) -> Any:
    if name == "build_dags":
        from llf.dagbuild.builder import build_dags

        return build_dags
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
