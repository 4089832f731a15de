"""One soak round: trigger every stream for a new business date through the REST API, inject the round's faults
while the runs go, wait (bounded) until every Airflow run of the soak has finished and the run log has settled,
then check the promises. The bench and the e2e test both drive rounds through `run_round`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial

from llf.airflow_api import poll
from llf.control.model import stream_dag_id
from tests.support.chaos import checks
from tests.support.chaos.faults import KILL_TASK, KINDS, Driver, Injection, SoakEnv, replay_command, retried, schedule
from tests.support.chaos.plan import SoakPlan, read_markers
from tests.support.registry import sql_runner

FIRST_DATE = dt.date(2030, 1, 1)
INJECTION_WINDOW = 40.0  # faults land within the first seconds of a round, while its streams run
SETTLE_TIMEOUT = 420.0  # every run of the round finished: retries, clears and the DB restart included
LOG_SETTLE_TIMEOUT = 60.0  # then the stream rows closed by DAG callbacks (dag-processor's next loop)


@dataclass
class RoundResult:
    index: int
    seed: int
    business_date: dt.date
    seconds: float
    injections: list[Injection]
    violations: list[checks.Violation]
    unsettled: str = ""
    stream_runs: dict[str, str] = field(default_factory=dict)

    def injected(self) -> Counter[str]:
        return Counter(i.event.kind for i in self.injections if i.outcome == "injected" and i.event.kind in KINDS)

    def report(self, plan_seed: int, processes: int) -> str:
        """The round's violations with what replays them: its seed and injection schedule."""
        lines = [f"round {self.index} (seed {self.seed}, business date {self.business_date}): "
                 f"{len(self.violations)} violation(s); replay: {replay_command(plan_seed, self.seed, processes)}"]
        lines += [f"  VIOLATION [{v.invariant}] {v.detail}" for v in self.violations]
        lines.append(f"  stream runs: {self.stream_runs}")
        lines.append("  injection schedule:")
        lines += [injection.line() for injection in self.injections]
        return "\n".join(lines)


def run_round(env: SoakEnv, plan: SoakPlan, index: int, seed: int) -> RoundResult:
    business_date = FIRST_DATE + dt.timedelta(days=index)
    started = time.monotonic()
    conf = {"business_date": business_date.isoformat()}
    stream_runs = {stream_dag_id(s): trigger(env, stream_dag_id(s), conf) for s in plan.streams}
    driver = Driver(env, plan, business_date, stream_runs, schedule(seed, INJECTION_WINDOW))
    driver.start().join()
    unsettled = settle(env, plan, business_date)
    facts = gather(env, plan, business_date, stream_runs, driver.injections)
    violations = checks.check(facts)
    if unsettled:
        violations.insert(0, checks.Violation(checks.FINAL_STATUS, unsettled))
    return RoundResult(index, seed, business_date, time.monotonic() - started, driver.injections, violations,
                       unsettled, stream_runs)


def trigger(env: SoakEnv, dag_id: str, conf: dict[str, str]) -> str:
    return retried(partial(env.api.trigger, dag_id, conf))


def active_runs(env: SoakEnv, plan: SoakPlan) -> list[tuple[str, str, str]]:
    """(DAG id, run id, state) of every soak DAG run still queued or running."""
    runs = env.api.http.get("/dags/~/dagRuns", params={"state": ["queued", "running"], "limit": 100})
    soak_dags = set(plan.dag_ids)
    return [(run["dag_id"], run["dag_run_id"], run["state"]) for run in runs.raise_for_status().json()["dag_runs"]
            if run["dag_id"] in soak_dags]


def settle(env: SoakEnv, plan: SoakPlan, business_date: dt.date) -> str:
    """Wait until no soak DAG run is queued or running, then until the date's log has no open row; "" when
    settled, else the sentence saying what still goes (the runs are then failed, so later rounds can start)."""
    finished = poll(lambda: True if not retried(lambda: active_runs(env, plan)) else None, SETTLE_TIMEOUT, 2)
    if not finished:
        going = retried(lambda: active_runs(env, plan))
        for dag_id, run_id, _ in going:
            retried(partial(env.api.http.patch, f"/dags/{dag_id}/dagRuns/{run_id}", json={"state": "failed"}))
        return (f"round did not settle: {going} still queued/running {SETTLE_TIMEOUT:.0f} s after the faults; "
                "failed them so the next round can start")
    with sql_runner(env.control_url) as sql:
        open_rows = "SELECT count(*) FROM cntl_af.cntl_cfg_log WHERE business_date = %s AND end_ts IS NULL " \
                    "AND (strem_nm = ANY(%s) OR prcs_nm = ANY(%s))"
        poll(lambda: True if sql(open_rows, (business_date, plan.streams, list(plan.processes)))[0][0] == 0
             else None, LOG_SETTLE_TIMEOUT, 1)
    return ""


def gather(env: SoakEnv, plan: SoakPlan, business_date: dt.date, stream_runs: dict[str, str],
           injections: list[Injection]) -> checks.RoundFacts:
    with sql_runner(env.control_url) as sql:
        rows = checks.read_rows(sql, plan, business_date)
    markers = [m for m in read_markers(env.markers_dir) if m.get("business_date") == business_date.isoformat()]
    verdicts = {(s, stream_runs[stream_dag_id(s)]): str(env.api.run(stream_dag_id(s), stream_runs[stream_dag_id(s)])
                                                        ["state"]) for s in plan.streams}
    killed = frozenset(int(i.attempt["log_id"]) for i in injections
                       if i.event.kind == KILL_TASK and i.attempt.get("log_id") is not None)
    return checks.RoundFacts(plan, rows, markers, verdicts, killed)
