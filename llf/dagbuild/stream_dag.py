"""The stream DAG `stream__<strem_nm>`: one task per process, group after group.

Each process task (a StreamProcess) runs its notebook itself, through the same runner, run lock and
log rows as a process DAG run. Only when a dependency still needs a run (one from another stream not
yet run for the date, or one running beside it) does it trigger the process DAG, which starts and
awaits what is missing, and wait for that run. Running in place is what makes a stream cost about
what a hand-written DAG of papermill tasks costs: a triggered run per process paid a second task
start and several scheduler round trips each (bench/overhead.py). The process DAGs stay: for manual
reruns, for dependants, and as the fallback above.

Inside a group, processes are spread over `max_parallel` lanes in priority order (process i goes to
lane i mod max_parallel, each lane chained), so at most `max_parallel` run at once and the first
ones by priority start first. A lane does not refill from other lanes; that is the price of keeping
the limit in the DAG's shape instead of in pools that would have to exist in Airflow's database.
A limit over all streams (the LLM server's parallelism) is a pool instead: a process registered with
one (cntl_cfg_prcs.pool_nm, llf/control/sql/0026) takes its slots, and its queue, on the task running its
notebook (llf.dagbuild.common.routing), here and in its process DAG; no other task does.

The first task of each lane (a head) waits for every task of the previous group: all_done with fail
policy CONTINUE, all_success with STOP, so one failure leaves the next group's heads upstream_failed
and no later process starts. A lane's later tasks use one_done on their predecessor: they run after
it succeeded or failed, and are skipped when it never ran (STOP). `finish_stream` is an EmptyOperator
needing every success, so the run fails when anything failed or was blocked.

No task in the DAG runs on a worker except the process tasks: each gate or start/finish step would cost
a scheduler round trip or a task start per run. The process tasks open the stream run's log row, and
the last one to end closes it (llf.runner.stream.finish_stream_if_complete); the DAG's success and
failure callbacks close it too, for the runs where some process never ran.

When a process task does trigger its process DAG run, it waits for it in one of two ways
(LLF_STREAM_WAIT):
- poll: it stays in its worker slot and asks for the run's state every POKE_SECONDS. It ends as
  soon as the run does; no second task start, no triggerer round trip.
- defer: it hands the wait to the triggerer and frees its slot; Airflow starts it again to finish.
auto (the default) polls while the tasks of every stream, each in its widest group, stay below
[core] parallelism, so a slot is always left for the process runs even with every stream waiting;
otherwise it defers, because slot-holding waits could then starve the runs they wait for.
Either wait happens after the task's execute, outside its execution_timeout; the run's dagrun_timeout
(llf.dagbuild.bounds: the longest a healthy run takes) is what ends one that would never end.
"""

from __future__ import annotations

from functools import cache, partial
from typing import Any

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, CronTriggerTimetable, TaskGroup, TriggerRule
from airflow.sdk.configuration import conf

from llf.control.model import (
    AIRFLOW_ID_MAX_LENGTH,
    FINISH_STREAM_TASK_ID,
    ProcessGroup,
    Stream,
    process_dag_id,
    stream_dag_id,
    task_group_id,
    task_timeout,
)
from llf.dagbuild import callables
from llf.dagbuild.bounds import run_bounds
from llf.dagbuild.catalog import Catalog
from llf.dagbuild.common import add_run_params, lane_count, note_row, routing, tag
from llf.dagbuild.config import stream_wait
from llf.dagbuild.operators import StreamProcess
from llf.dagbuild.stamp import DagStamp, OperatorStamp, link

POKE_SECONDS = 1  # a trivial process should not cost a minute of polling


def trigger_and_wait(deferrable: bool) -> dict[str, Any]:
    """How every llf task that triggers a process DAG run waits for it (a process's dependency trigger, a stream's
    process task): until the run ends, polling every POKE_SECONDS or deferred, and failing unless it succeeded.

    Never for a paused DAG: its run would stay queued and the task wait for it without end (Airflow bounds
    neither wait by execution_timeout), so Airflow's own check refuses the trigger first (DagIsPaused).
    """
    return {
        "wait_for_completion": True,
        "fail_when_dag_is_paused": True,
        "deferrable": deferrable,
        "poke_interval": POKE_SECONDS,
        "allowed_states": ["success"],
        "failed_states": ["failed"],
    }


@cache
def _finish() -> OperatorStamp[EmptyOperator]:
    return OperatorStamp(EmptyOperator, trigger_rule=TriggerRule.ALL_SUCCESS)


@cache
def _process(deferrable: bool) -> OperatorStamp[StreamProcess]:
    return OperatorStamp(
        StreamProcess,
        run_here=callables.run_in_stream,
        trigger_dag_id=OperatorStamp.TEMPLATE_ID,
        **trigger_and_wait(deferrable),
    )


def triggers_defer(catalog: Catalog) -> bool:
    """Whether process tasks hand a process DAG run's wait to the triggerer (LLF_STREAM_WAIT, module docstring)."""
    mode = stream_wait()
    if mode == "auto":
        return catalog.most_waiting_triggers >= conf.getint("core", "parallelism")
    return mode == "defer"


def build_stream_dag(catalog: Catalog, stream: Stream, make_dag: DagStamp) -> DAG:
    groups = catalog.snapshot.active_groups(stream)
    schedule = catalog.snapshot.active_schedule(stream)
    timezone = catalog.snapshot.timezone_of(stream)
    owner = stream.owner_nm
    dag = make_dag(
        dag_id=stream_dag_id(stream.strem_nm),
        schedule=CronTriggerTimetable(schedule.cron_expr, timezone=schedule.timezone) if schedule else None,
        description=stream.strem_desc[:200] or None,
        doc_md=_doc(catalog, stream, groups),
        max_active_runs=1,
        max_active_tasks=max(group.max_parallel for group in groups) + 2,
        tags=["llf:stream", tag("stream", stream.strem_nm), *(tag("group", g.prcs_grp_nm) for g in groups)],
        default_args={"owner": owner},
        on_success_callback=partial(callables.stream_run_ended, strem_nm=stream.strem_nm, timezone=timezone),
        on_failure_callback=partial(callables.stream_run_ended, strem_nm=stream.strem_nm, timezone=timezone),
    )
    head_rule = TriggerRule.ALL_SUCCESS if stream.fail_policy == "STOP" else TriggerRule.ALL_DONE
    stamp = _process(triggers_defer(catalog))
    process_tasks: list[StreamProcess] = []
    previous_group: list[StreamProcess] = []
    for group in groups:
        try:
            previous_group = _group_tasks(dag, stamp, catalog, stream, group, previous_group, head_rule)
        except Exception as error:
            note_row(error, "cntl_cfg_prcs_grp", f"prcs_grp_id={group.prcs_grp_id}, prcs_grp_nm={group.prcs_grp_nm}")
            raise
        process_tasks.extend(previous_group)
    # The run's verdict, settled by the scheduler without a worker: upstream_failed (so the run fails)
    # as soon as one process failed or was blocked. It waits for every process task, not only the last
    # group's: under STOP those never run.
    link(process_tasks, _finish()(dag, task_id=FINISH_STREAM_TASK_ID, owner=owner))
    # Ends a run stuck waiting (llf.dagbuild.bounds). Set once every process built: a row the bound cannot be
    # computed from (a NaN timeout) has then been named by the build of its task.
    dag.dagrun_timeout = run_bounds(catalog.snapshot).stream_run(stream)
    return add_run_params(dag)


def _group_tasks(
    dag: DAG, stamp: OperatorStamp[StreamProcess], catalog: Catalog, stream: Stream, group: ProcessGroup,
    previous_group: list[StreamProcess], head_rule: TriggerRule,
) -> list[StreamProcess]:
    processes = catalog.snapshot.active_processes(group)
    width = lane_count(group, processes)
    lanes: list[StreamProcess | None] = [None] * width
    tasks = []
    task_group = TaskGroup(group_id=task_group_id(group.prcs_grp_nm), tooltip=group.prcs_grp_desc, dag=dag)
    for position, process in enumerate(processes):
        lane = position % width
        predecessor = lanes[lane]
        try:
            task = stamp(
                dag, task_id=process.prcs_nm, task_group=task_group, owner=stream.owner_nm,
                trigger_dag_id=process_dag_id(process.prcs_nm), doc_md=process.prcs_desc or None,
                run_here=partial(callables.run_in_stream, strem_nm=stream.strem_nm, prcs_nm=process.prcs_nm,
                                 timezone=catalog.snapshot.timezone_of(stream)),
                retries=process.retries,
                execution_timeout=task_timeout(process.timeout_min),
                trigger_rule=head_rule if predecessor is None else TriggerRule.ONE_DONE,
                **_pooled_waits_defer(routing(catalog.snapshot, process)),
            )
            if len(task.task_id) > AIRFLOW_ID_MAX_LENGTH:  # Airflow checks the name alone, not <group>.<name>
                raise ValueError(f"task id {task.task_id} has {len(task.task_id)} characters, more than the "
                                 f"{AIRFLOW_ID_MAX_LENGTH} Airflow's database stores")
        except Exception as error:
            note_row(error, "cntl_cfg_prcs", f"prcs_id={process.prcs_id}, prcs_nm={process.prcs_nm}")
            raise
        link(previous_group if predecessor is None else [predecessor], task)
        lanes[lane] = task
        tasks.append(task)
    return tasks


def _pooled_waits_defer(where: dict[str, Any]) -> dict[str, Any]:
    """A pooled process's task defers its wait for a triggered process run: polling, it would hold its pool
    slot while that run's run_notebook waits for a slot of the same pool, and a pool full of polling stream
    tasks would never free one. Deferred tasks hold no slot (Airflow's pool include_deferred, off by default)."""
    return {**where, "deferrable": True} if "pool" in where else where


def _doc(catalog: Catalog, stream: Stream, groups: list[ProcessGroup]) -> str:
    schedule = catalog.snapshot.active_schedule(stream)
    lines = [
        f"## Stream {stream.strem_nm}",
        "",
        stream.strem_desc or "_No description registered (cntl_cfg_strem.strem_desc)._",
        "",
        f"Schedule: `{schedule.cron_expr}` ({schedule.timezone})" if schedule else "Schedule: manual only",
        f" · fail policy: {stream.fail_policy} · owner: {stream.owner_nm}",
        "",
        "| priority | group | max parallel | processes (start order) |",
        "|---|---|---|---|",
    ]
    lines.extend(
        f"| {g.priority} | {g.prcs_grp_nm} | {g.max_parallel} | "
        f"{', '.join(p.prcs_nm for p in catalog.snapshot.active_processes(g))} |"
        for g in groups
    )
    return "\n".join(lines)
