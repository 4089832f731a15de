"""Fixtures for running processes for real: a notebooks folder, a folder lake, and a run-context factory."""

from __future__ import annotations

import datetime as dt

import pytest

from llf.context import RunContext
from tests.support.notebooks import write_notebook

BUSINESS_DATE = dt.date(2026, 3, 14)


@pytest.fixture
def stream(registry, notebooks_dir, lake_dir):
    """Stream `s`, group `g`; `ok.ipynb` prints its parameters and writes a marker proving it ran."""
    write_notebook(
        notebooks_dir / "ok.ipynb",
        "import pathlib\npathlib.Path(marker).write_text(f'{greeting} {business_date}')",
        parameters="greeting = 'hello'\nbusiness_date = ''\nmarker = 'ran.txt'",
    )
    stream_id = registry.stream("s")
    return {"id": stream_id, "group": registry.group(stream_id, "g")}


def run_context(prcs_nm: str, **overrides) -> RunContext:
    values = {"strem_nm": "s", "prcs_nm": prcs_nm, "business_date": BUSINESS_DATE,
              "run_id": f"run_{prcs_nm}", "triggered_by": "stream"}
    return RunContext(**(values | overrides))


def statuses(sql, prcs_nm: str) -> list[str]:
    return [row[0] for row in sql(
        "SELECT status FROM cntl_af.cntl_cfg_log WHERE prcs_nm = %s ORDER BY log_id", (prcs_nm,))]


def last_message(sql, prcs_nm: str) -> str:
    return sql("SELECT message FROM cntl_af.cntl_cfg_log WHERE prcs_nm = %s ORDER BY log_id DESC LIMIT 1",
               (prcs_nm,))[0][0]
