"""The run promises, checked after a round settles from cntl_cfg_log, the notebooks' markers, the lake and Airflow.

Each check returns violations as sentences naming the rows involved; the round prints them with its seed and
injection schedule. No full rerun is ever asked by the soak, so every SUCCESS after the first is a violation.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat

from tests.support.chaos.plan import ATTEMPT_LINE, SoakPlan

AT_MOST_ONCE = "at most one SUCCESS per (process, business date)"
NOT_AFTER_SUCCESS = "no notebook ran after a SUCCESS of its date"
FINAL_STATUS = "no RUNNING row once settled; every attempt has a final status with a reason"
NO_DEPENDANT_AFTER_FAILURE = "a FAILED/BLOCKED process never let a dependant run"
OWN_NOTEBOOK = "every attempt's output_path opens that attempt's own notebook"
STREAM_VERDICT = "the stream row agrees with Airflow's verdict of the run"
FAILING = {"FAILED", "BLOCKED"}


@dataclass(frozen=True)
class Row:
    log_id: int
    strem_nm: str | None
    prcs_nm: str | None
    run_id: str
    strem_run_id: str | None
    try_number: int
    status: str
    message: str
    end_ts: dt.datetime | None
    output_path: str | None

    def name(self) -> str:
        subject = self.prcs_nm or f"stream {self.strem_nm}"
        return f"{subject} [log_id {self.log_id}, run {self.run_id}, try {self.try_number}, {self.status}]"


@dataclass(frozen=True)
class Violation:
    invariant: str
    detail: str


@dataclass(frozen=True)
class RoundFacts:
    """Everything the checks read, gathered once the round settled."""

    plan: SoakPlan
    rows: list[Row]
    markers: list[dict]  # this business date's
    verdicts: dict[tuple[str, str], str]  # (strem_nm, run id) -> Airflow's state of the stream run
    killed_log_ids: frozenset[int]  # attempts whose task process the soak SIGKILLed: nothing could store outputs

    @property
    def attempts(self) -> list[Row]:
        return [row for row in self.rows if row.prcs_nm is not None]


ROWS_SQL = (
    "SELECT log_id, strem_nm, prcs_nm, run_id, strem_run_id, try_number, status, message, end_ts, output_path "
    "FROM cntl_af.cntl_cfg_log WHERE business_date = %s AND (strem_nm = ANY(%s) OR prcs_nm = ANY(%s)) "
    "ORDER BY log_id"
)


def read_rows(sql: Callable[..., list[tuple]], plan: SoakPlan, business_date: dt.date) -> list[Row]:
    return [Row(*row) for row in sql(ROWS_SQL, (business_date, plan.streams, list(plan.processes)))]


def check(facts: RoundFacts) -> list[Violation]:
    checks = (at_most_once, not_after_success, final_statuses, no_dependant_after_failure, own_notebooks,
              stream_verdicts)
    return [violation for each in checks for violation in each(facts)]


def at_most_once(facts: RoundFacts) -> Iterable[Violation]:
    successes: dict[str, list[Row]] = defaultdict(list)
    for row in facts.attempts:
        if row.status == "SUCCESS":
            successes[row.prcs_nm or ""].append(row)
    for prcs_nm, rows in successes.items():
        if len(rows) > 1:
            yield Violation(AT_MOST_ONCE, f"{prcs_nm}: {len(rows)} SUCCESS rows: " + "; ".join(r.name() for r in rows))


def not_after_success(facts: RoundFacts) -> Iterable[Violation]:
    """A marker (a notebook started) after the end of a SUCCESS of the same process and date."""
    for success in facts.attempts:
        if success.status != "SUCCESS" or success.end_ts is None:
            continue
        done = success.end_ts.timestamp()
        for marker in facts.markers:
            if marker["prcs_nm"] == success.prcs_nm and marker["started"] > done:
                same = "the same stream run" if marker.get("strem_run_id") == success.strem_run_id else \
                    f"stream run {marker.get('strem_run_id')}"
                yield Violation(NOT_AFTER_SUCCESS, f"{success.prcs_nm} ran again ({_marker(marker)}) "
                                f"{marker['started'] - done:.1f} s after {success.name()} ended, in {same}")


def final_statuses(facts: RoundFacts) -> Iterable[Violation]:
    for row in facts.rows:
        if row.status == "RUNNING" or row.end_ts is None:
            yield Violation(FINAL_STATUS, f"{row.name()} still open after the round settled: {row.message!r}")
        elif not row.message.strip():
            yield Violation(FINAL_STATUS, f"{row.name()} ended without a reason (empty message)")


def no_dependant_after_failure(facts: RoundFacts) -> Iterable[Violation]:
    """A dependant's notebook that started before any SUCCESS of its dependency for the date had ended: run on a
    dependency that failed, was blocked or had not finished. Naming the dependency's final attempt in the stream
    run when it is FAILED/BLOCKED. A dependency that failed in this stream run but succeeded for the date in
    another one (the other stream's run of it) before the dependant started did not let the dependant run on
    failed work: the date's data is there, which is what a dependency promises (docs/explanation/run-semantics.md)."""
    final_in_run: dict[tuple[str | None, str | None], Row] = {}
    for row in facts.attempts:  # oldest first: the newest wins
        final_in_run[(row.strem_run_id, row.prcs_nm)] = row
    successes = {row.prcs_nm: row.end_ts.timestamp() for row in reversed(facts.attempts)
                 if row.status == "SUCCESS" and row.end_ts is not None}
    for marker in facts.markers:
        process = facts.plan.processes.get(marker["prcs_nm"])
        for dependency in process.depends_on if process else ():
            if successes.get(dependency, float("inf")) <= marker["started"]:
                continue
            final = final_in_run.get((marker.get("strem_run_id"), dependency))
            where = f"its dependency ended {final.name()}" if final is not None and final.status in FAILING else \
                f"its dependency {dependency} had no SUCCESS for the date yet"
            yield Violation(NO_DEPENDANT_AFTER_FAILURE, f"{marker['prcs_nm']} ran ({_marker(marker)}) in a stream "
                            f"run where {where}")


def own_notebooks(facts: RoundFacts) -> Iterable[Violation]:
    """The notebook at each attempt's output_path is that attempt's (run id injected, log id and try printed);
    an attempt whose notebook ran has one, unless its task process was SIGKILLed (nothing left to store it)."""
    ran = {marker.get("log_id") for marker in facts.markers}
    for row in facts.attempts:
        if row.output_path is None:
            if row.status == "SUCCESS" or (row.log_id in ran and row.log_id not in facts.killed_log_ids):
                yield Violation(OWN_NOTEBOOK, f"{row.name()}: its notebook ran but the row has no output_path "
                                f"({row.message[:200]!r})")
            continue
        problem = _notebook_problem(row)
        if problem:
            yield Violation(OWN_NOTEBOOK, f"{row.name()}: {problem}")


def _notebook_problem(row: Row) -> str | None:
    location = urlsplit(row.output_path or "")
    if location.scheme != "file":
        return f"output_path {row.output_path!r} is no lake location (a bare key): nothing opens there"
    notebook = Path(unquote(location.path)) / f"{row.prcs_nm}.ipynb"
    if not notebook.is_file():
        return f"no notebook at {notebook}"
    cells = nbformat.read(notebook, as_version=4).cells
    injected = next((c for c in cells if "injected-parameters" in c.get("metadata", {}).get("tags", [])), None)
    run_id = _assigned(injected.source, "run_id") if injected else None
    if run_id != row.run_id:
        return f"the notebook at {notebook} was injected run_id {run_id!r}"
    printed = [json.loads(line.removeprefix(ATTEMPT_LINE)) for cell in cells for output in cell.get("outputs", [])
               for line in str(output.get("text", "")).splitlines() if line.startswith(ATTEMPT_LINE)]
    if printed and (printed[0].get("log_id"), printed[0].get("try_number")) != (row.log_id, row.try_number):
        return (f"the notebook at {notebook} is attempt log_id {printed[0].get('log_id')} try "
                f"{printed[0].get('try_number')}")
    return None


def _assigned(source: str, name: str) -> object:
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    return None


def stream_verdicts(facts: RoundFacts) -> Iterable[Violation]:
    expected = {"success": "SUCCESS", "failed": "FAILED"}
    for (strem_nm, run_id), state in facts.verdicts.items():
        rows = [row for row in facts.rows if row.prcs_nm is None and row.strem_nm == strem_nm and row.run_id == run_id]
        statuses = [row.status for row in rows]
        if statuses != [expected.get(state, f"final ({state})")]:
            yield Violation(STREAM_VERDICT, f"stream {strem_nm} run {run_id}: Airflow says {state}, stream rows "
                            f"{statuses or 'none'}" + "".join(f"; {row.name()}: {row.message[:200]!r}" for row in rows))


def _marker(marker: dict) -> str:
    return (f"run {marker.get('run_id')} try {marker.get('try_number')} log_id {marker.get('log_id')} "
            f"via {marker.get('triggered_by')}")
