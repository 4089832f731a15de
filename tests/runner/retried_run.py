"""A run whose first try fails and whose retry succeeds, run for real (papermill, a real kernel, a folder lake).

Shared by the tests that check every try keeps its own outputs: the runner's, the UI's and `llf log`'s.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from llf.context import RunContext
from llf.exceptions import ProcessFailed
from llf.runner.tasks import run_process
from llf.services.lake import open_lake
from tests.runner.conftest import run_context
from tests.support.notebooks import write_notebook

# The first try finds no marker, writes it and fails; the retry finds it and succeeds.
FLAKY = (
    "import pathlib\n"
    "first_try = not pathlib.Path(marker).exists()\n"
    "pathlib.Path(marker).write_text('tried')\n"
    "if first_try:\n"
    "    raise RuntimeError('the first try breaks here')\n"
    "print('the retry ran to its end')"
)


@dataclass(frozen=True)
class Row:
    """One attempt of the run log, as the tests read it back."""

    try_number: int
    status: str
    output_path: str | None


def run_flaky_twice(registry, notebooks_dir: Path, tmp_path: Path, prcs_nm: str = "p") -> RunContext:
    """Stream `s`: `prcs_nm` runs try 1 (FAILED) then try 2 (SUCCESS) of one Airflow run; its first try's context."""
    write_notebook(notebooks_dir / "flaky.ipynb", FLAKY, parameters="marker = ''")
    group = registry.group(registry.stream("s"), "g")
    registry.process(group, prcs_nm, notebook="flaky.ipynb", params={"marker": str(tmp_path / "tried.txt")},
                     retries=1)
    first = run_context(prcs_nm, strem_run_id="scheduled__1", dag_id="stream__s", task_id=prcs_nm, try_number=1)
    with pytest.raises(ProcessFailed, match="the first try breaks here"):
        run_process(first)
    run_process(first.model_copy(update={"try_number": 2}))
    return first


def attempts(sql, prcs_nm: str = "p") -> list[Row]:
    return [Row(*row) for row in sql("SELECT try_number, status, output_path FROM cntl_af.cntl_cfg_log "
                                     "WHERE prcs_nm = %s ORDER BY log_id", (prcs_nm,))]


def stored_notebook(output_path: str | None, prcs_nm: str = "p") -> str:
    """The text of every output of the executed notebook a row's `output_path` names, read from the lake."""
    lake = open_lake()
    folder = lake.key_of(output_path) if output_path else None
    assert folder is not None, f"{output_path!r} is no location of this lake"
    notebook = json.loads(lake.get(f"{folder}/{prcs_nm}.ipynb"))
    return "\n".join(json.dumps(cell.get("outputs", [])) for cell in notebook["cells"])
