"""The soak's streams: two streams of trivial notebooks, dependencies across groups and streams, drawn from a seed.

Every soak notebook first writes a marker (a JSON file in the markers folder: process, business date, run id,
stream run id, try, log id, start time) and prints the same line into its own output, so the checker can
prove which attempt a stored notebook belongs to and when each notebook ran. Then it behaves as drawn:
`ok` naps a little (so faults land while kernels run), `fail` always raises, `flaky` raises on the first
try of every Airflow run and succeeds on the retry.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field, replace
from pathlib import Path

from llf.airflow_api import AirflowClient
from llf.control.model import process_dag_id, stream_dag_id
from tests.support.notebooks import write_notebook
from tests.support.registry import Registry

OK, FAIL, FLAKY = "ok", "fail", "flaky"
ATTEMPT_LINE = "LLF-SOAK-ATTEMPT "  # prefix of the line each notebook prints: its attempt as JSON
# run_id is declared so papermill injects it: the checker reads it back from the stored notebook
PARAMETERS = "prcs_nm = ''\nrun_id = ''\nbusiness_date = ''\nmarker_dir = ''"
MARK = (
    "import json, os, pathlib, time, uuid\n"
    "context = json.loads(os.environ.get('LLF_RUN_CONTEXT') or '{}')\n"
    "attempt = {key: context.get(key) for key in ('prcs_nm', 'strem_nm', 'business_date', 'run_id',\n"
    "           'strem_run_id', 'dag_id', 'task_id', 'try_number', 'log_id', 'triggered_by')}\n"
    "attempt.update(started=time.time(), pid=os.getpid())\n"
    "if marker_dir:\n"
    "    folder = pathlib.Path(marker_dir)\n"
    "    folder.mkdir(parents=True, exist_ok=True)\n"
    "    name = uuid.uuid4().hex\n"
    "    (folder / f'{name}.tmp').write_text(json.dumps(attempt))\n"
    "    (folder / f'{name}.tmp').rename(folder / f'{name}.json')\n"
    f"print({ATTEMPT_LINE!r} + json.dumps(attempt))"
)
BEHAVIOURS = {
    OK: "import time\ntime.sleep({nap})",
    FAIL: "raise ValueError(f'soak: {{prcs_nm}} fails for good')",
    FLAKY: "import time\ntime.sleep({nap})\nif attempt['try_number'] == 1:\n"
           "    raise RuntimeError(f'soak: {{prcs_nm}} flakes on its first try')",
}
NAPS = (0.5, 1.0, 2.0, 3.0)
GROUPS_PER_STREAM = (3, 2)
MAX_PARALLEL = 4
TIMEOUT_MIN = 3


@dataclass(frozen=True)
class SoakProcess:
    prcs_nm: str
    stream: str
    group: str
    behaviour: str
    nap: float
    retries: int
    depends_on: tuple[str, ...] = ()


@dataclass
class SoakPlan:
    """The streams, groups and processes of one soak, all named under `prefix` (unique in the control DB)."""

    prefix: str
    seed: int
    processes: dict[str, SoakProcess] = field(default_factory=dict)

    @property
    def streams(self) -> list[str]:
        return list(dict.fromkeys(process.stream for process in self.processes.values()))

    def groups(self, stream: str) -> list[str]:
        return list(dict.fromkeys(p.group for p in self.processes.values() if p.stream == stream))

    def in_group(self, group: str) -> list[SoakProcess]:
        return [process for process in self.processes.values() if process.group == group]

    def dependants(self, prcs_nm: str) -> list[str]:
        return [p.prcs_nm for p in self.processes.values() if prcs_nm in p.depends_on]

    @property
    def dag_ids(self) -> list[str]:
        return [*map(stream_dag_id, self.streams), *map(process_dag_id, self.processes)]

    def describe(self) -> str:
        kinds = {kind: sum(p.behaviour == kind for p in self.processes.values()) for kind in BEHAVIOURS}
        cross = sum(self.processes[d].stream != p.stream for p in self.processes.values() for d in p.depends_on)
        deps = sum(len(p.depends_on) for p in self.processes.values())
        return (f"{len(self.processes)} processes in streams {', '.join(self.streams)}; {deps} dependencies "
                f"({cross} across streams); behaviours {kinds}")


def draw_plan(prefix: str, seed: int, processes: int) -> SoakPlan:
    """Split `processes` over two streams (3 groups, then 2), draw dependencies, behaviours and retries."""
    rng = random.Random(seed)
    plan = SoakPlan(prefix=prefix, seed=seed)
    sizes = (processes - processes * 2 // 5, processes * 2 // 5)
    for stream_index, (size, group_count) in enumerate(zip(sizes, GROUPS_PER_STREAM, strict=True)):
        stream = f"{prefix}_{'ab'[stream_index]}"
        for position in range(size):
            group = f"{stream}_g{position * group_count // size}"
            name = f"{stream}_p{position:02d}"
            plan.processes[name] = SoakProcess(name, stream, group, OK, rng.choice(NAPS), rng.choice((1, 2)))
    _draw_behaviours(plan, rng, processes)
    _draw_dependencies(plan, rng)
    return plan


def _draw_behaviours(plan: SoakPlan, rng: random.Random, processes: int) -> None:
    names = rng.sample(sorted(plan.processes), max(1, processes // 15) + max(2, processes // 8))
    failing = max(1, processes // 15)
    for index, name in enumerate(names):
        plan.processes[name] = replace(plan.processes[name], behaviour=FAIL if index < failing else FLAKY)


def _draw_dependencies(plan: SoakPlan, rng: random.Random) -> None:
    """Within a stream: half the processes of a later group depend on one of the group before. Across: about a
    third of the second stream depends on a process of the first stream's later groups (never the reverse:
    no cycle), at least two of them."""
    first, second = plan.streams
    for stream in plan.streams:
        groups = plan.groups(stream)
        for before, group in zip(groups, groups[1:], strict=False):
            for process in plan.in_group(group):
                if rng.random() < 0.5:
                    _depend(plan, process.prcs_nm, rng.choice(plan.in_group(before)).prcs_nm)
    targets = [p.prcs_nm for group in plan.groups(first)[1:] for p in plan.in_group(group)]
    seconds = sorted(p.prcs_nm for p in plan.processes.values() if p.stream == second)
    chosen = set(rng.sample(seconds, 2)) | {name for name in seconds if rng.random() < 0.3}
    for name in sorted(chosen):
        _depend(plan, name, rng.choice(targets))


def _depend(plan: SoakPlan, prcs_nm: str, on: str) -> None:
    process = plan.processes[prcs_nm]
    if on not in process.depends_on:
        plan.processes[prcs_nm] = replace(process, depends_on=(*process.depends_on, on))


def soak_notebook(path: Path, process: SoakProcess) -> Path:
    """The notebook of `process`: the marker cell, then its behaviour."""
    return write_notebook(path, MARK, BEHAVIOURS[process.behaviour].format(nap=process.nap), parameters=PARAMETERS)


def register(plan: SoakPlan, registry: Registry, notebooks_dir: Path, markers_dir: Path) -> None:
    """Notebooks first (validation reads them), then the control rows, as users register work."""
    ids: dict[str, int] = {}
    for stream in plan.streams:
        stream_id = registry.stream(stream, description=f"chaos soak, seed {plan.seed}")
        for priority, group in enumerate(plan.groups(stream), start=1):
            group_id = registry.group(stream_id, group, priority=priority, max_parallel=MAX_PARALLEL)
            for position, process in enumerate(plan.in_group(group), start=1):
                relative = f"{plan.prefix}/{process.prcs_nm}.ipynb"
                soak_notebook(notebooks_dir / relative, process)
                ids[process.prcs_nm] = registry.process(
                    group_id, process.prcs_nm, priority=position, notebook=relative, retries=process.retries,
                    timeout_min=TIMEOUT_MIN, params={"marker_dir": str(markers_dir)})
    for process in plan.processes.values():
        for dependency in process.depends_on:
            registry.depend(ids[process.prcs_nm], ids[dependency])


def wait_until_parsed(plan: SoakPlan, api: AirflowClient, timeout: float = 180) -> None:
    """Every stream and process DAG of the plan visible in Airflow (refresh, then the dag-processor's parse)."""
    for dag_id in plan.dag_ids:
        api.wait_for_dag(dag_id, timeout=timeout)


def read_markers(markers_dir: Path) -> list[dict]:
    """Every marker the soak notebooks wrote, oldest first."""
    markers = [json.loads(path.read_text()) for path in markers_dir.glob("*.json")]
    return sorted(markers, key=lambda marker: marker["started"])
