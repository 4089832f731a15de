"""A scenario stream: registered by SQL INSERTs under names of its own, run through Airflow's REST API.

The e2e control database is shared by the session, so every process name starts with the stream's
unique name; the assertions then read `cntl_af.cntl_cfg_log` by the stream run's id.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from llf.airflow_api import AirflowClient, poll
from llf.control.model import process_dag_id, stream_dag_id
from tests.e2e.scenarios.notebooks import SUCCEED, executions, scenario_notebook
from tests.support.registry import Registry, Run

BUSINESS_DATE = dt.date(2026, 3, 14)
DAG_VISIBLE_TIMEOUT = 90  # snapshot refresh (2 s) + dag-processor interval (5 s), on a busy machine
STREAM_RUN_TIMEOUT = 240
CALLBACK_TIMEOUT = 60  # DAG callbacks run in the dag-processor's next loop


@dataclass(frozen=True)
class Step:
    """One process of a scenario: its short name, what its notebook does, and its registration extras."""

    name: str
    behaviour: str = SUCCEED
    depends_on: tuple[str, ...] = ()
    timeout_min: float = 60


@dataclass(frozen=True)
class LogRow:
    status: str
    message: str
    output_path: str | None
    pid: int | None


@dataclass
class Scenario:
    name: str
    notebooks_dir: Path
    marker: Path
    registry: Registry
    sql: Run
    api: AirflowClient
    prcs_ids: dict[str, int] = field(default_factory=dict)

    @property
    def dag_id(self) -> str:
        return stream_dag_id(self.name)

    def prcs_nm(self, step: str) -> str:
        return f"{self.name}_{step}"

    def write_notebook(self, step: str, behaviour: str) -> str:
        """(Re)write a step's notebook; returns its path relative to the notebooks folder."""
        relative = f"{self.name}/{step}.ipynb"
        scenario_notebook(self.notebooks_dir / relative, behaviour)
        return relative

    def trigger_retried_victim(self, behaviour: str) -> tuple[str, str, str]:
        """Register step `victim` alone in its stream, with one retry, and trigger its process DAG for
        BUSINESS_DATE once Airflow shows it (the drills that kill its task or worker); (prcs_nm, dag_id, run_id)."""
        group = self.registry.group(self.registry.stream(self.name), f"{self.name}_g1")
        prcs_nm = self.prcs_nm("victim")
        self.registry.process(group, prcs_nm, params={"marker": str(self.marker)}, retries=1,
                              notebook=self.write_notebook("victim", behaviour))
        dag_id = process_dag_id(prcs_nm)
        self.api.wait_for_dag(dag_id, timeout=DAG_VISIBLE_TIMEOUT)
        return prcs_nm, dag_id, self.api.trigger(dag_id, {"business_date": BUSINESS_DATE.isoformat()})

    def register(self, groups: dict[str, list[Step]], *, fail_policy: str = "CONTINUE",
                 max_parallel: int = 1) -> None:
        """Notebooks first (validation reads them), then the rows; returns once Airflow shows every DAG."""
        stream_id = self.registry.stream(self.name, fail_policy=fail_policy)
        steps = [step for group in groups.values() for step in group]
        for priority, (group_nm, group_steps) in enumerate(groups.items(), start=1):
            group_id = self.registry.group(stream_id, f"{self.name}_{group_nm}", priority=priority,
                                           max_parallel=max_parallel)
            for step_priority, step in enumerate(group_steps, start=1):
                self.prcs_ids[step.name] = self.registry.process(
                    group_id, self.prcs_nm(step.name), priority=step_priority,
                    params={"marker": str(self.marker)}, timeout_min=step.timeout_min,
                    notebook=self.write_notebook(step.name, step.behaviour),
                )
        for step in steps:
            for dependency in step.depends_on:
                self.registry.depend(self.prcs_ids[step.name], self.prcs_ids[dependency])
        for dag_id in [self.dag_id, *(process_dag_id(self.prcs_nm(step.name)) for step in steps)]:
            self.api.wait_for_dag(dag_id, timeout=DAG_VISIBLE_TIMEOUT)

    def trigger(self, *, full_rerun: bool = False, business_date: dt.date = BUSINESS_DATE) -> str:
        return self.api.trigger(self.dag_id, {"business_date": business_date.isoformat(), "full_rerun": full_rerun})

    def wait(self, run_id: str) -> str:
        """The run's final state, once its stream row is closed too.

        The last process to end closes the row; when some never ran (STOP, a killed task), the DAG's
        failure callback does, in the dag-processor, a few seconds after the run ended.
        """
        state = self.api.wait_for_run(self.dag_id, run_id, timeout=STREAM_RUN_TIMEOUT)
        closed = poll(lambda: True if self.sql(
            "SELECT 1 FROM cntl_af.cntl_cfg_log WHERE strem_nm = %s AND run_id = %s AND prcs_nm IS NULL "
            "AND end_ts IS NOT NULL", (self.name, run_id)) else None, timeout=CALLBACK_TIMEOUT)
        assert closed, f"stream row of {run_id} still open {CALLBACK_TIMEOUT} s after the run ended:\n{self.story()}"
        return state

    def run(self, *, full_rerun: bool = False) -> tuple[str, str]:
        """Trigger the stream for the business date and wait: (run id, final DAG run state)."""
        run_id = self.trigger(full_rerun=full_rerun)
        return run_id, self.wait(run_id)

    def run_process(self, step: str) -> tuple[str, str]:
        """Trigger one step's process DAG by hand, as a user would, and wait: (run id, final state)."""
        dag_id = process_dag_id(self.prcs_nm(step))
        run_id = self.api.trigger(dag_id, {"business_date": BUSINESS_DATE.isoformat()})
        return run_id, self.api.wait_for_run(dag_id, run_id, timeout=STREAM_RUN_TIMEOUT)

    def processes(self, run_id: str) -> dict[str, LogRow]:
        """The latest log row of each step written for this stream run, by step name."""
        rows = self.sql(
            "SELECT DISTINCT ON (prcs_nm) prcs_nm, status, message, output_path, pid FROM cntl_af.cntl_cfg_log "
            "WHERE strem_run_id = %s AND prcs_nm IS NOT NULL ORDER BY prcs_nm, log_id DESC",
            (run_id,),
        )
        return {prcs_nm.removeprefix(f"{self.name}_"): LogRow(*rest) for prcs_nm, *rest in rows}

    def stream_row(self, run_id: str) -> LogRow:
        (row,) = self.sql(
            "SELECT status, message, output_path, pid FROM cntl_af.cntl_cfg_log "
            "WHERE strem_nm = %s AND run_id = %s AND prcs_nm IS NULL",
            (self.name, run_id),
        )
        return LogRow(*row)

    def story(self) -> str:
        """Every log row of this stream, oldest first: the assertion message when a scenario goes wrong."""
        rows = self.sql(
            "SELECT log_id, prcs_nm, run_id, strem_run_id, status, message FROM cntl_af.cntl_cfg_log "
            "WHERE strem_nm = %s OR prcs_nm LIKE %s ORDER BY log_id",
            (self.name, f"{self.name}\\_%"),
        )
        return "\n".join(" | ".join(map(str, row)) for row in rows)

    def running_rows(self) -> list[tuple[str, int]]:
        """(prcs_nm, pid) of this stream's rows still RUNNING."""
        return [tuple(row) for row in self.sql(
            "SELECT prcs_nm, pid FROM cntl_af.cntl_cfg_log WHERE status = 'RUNNING' AND prcs_nm LIKE %s",
            (f"{self.name}\\_%",),
        )]

    def executions(self) -> dict[str, int]:
        """How many times each step's notebook ran, by step name."""
        return {name.removeprefix(f"{self.name}_"): count for name, count in executions(self.marker).items()}


def stored_files(output_path: str) -> list[str]:
    """The file names in a log row's output folder (a file:// lake URL)."""
    folder = Path(unquote(urlsplit(output_path).path))
    return sorted(file.name for file in folder.iterdir())
