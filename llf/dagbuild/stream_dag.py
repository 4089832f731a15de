"""The stream DAG `stream__<strem_nm>`: one trigger of a process DAG per process, group after group.

Inside a group, processes are spread over `max_parallel` lanes in priority order (process i goes to
lane i mod max_parallel, each lane chained), so at most `max_parallel` run at once and the first
ones by priority start first. A lane does not refill from other lanes; that is the price of keeping
the limit in the DAG's shape instead of in pools that would have to exist in Airflow's database.

Between groups stands a gate (`after__<group>`, an EmptyOperator the scheduler settles without a
worker). With fail policy CONTINUE the gate waits for everything (all_done); with STOP it needs all
successes (all_success), so one failure turns it upstream_failed and no later process starts. Every
trigger uses all_done_min_one_success over {gate, lane predecessor}: it runs after a failed lane
predecessor, but not once its gate failed.

A trigger waits for its process DAG run in one of two ways (LLF_STREAM_WAIT):
- poll: it stays in its worker slot and asks for the run's state every POKE_SECONDS. Its process
  ends as soon as the run does; no second task start, no triggerer round trip (about 2 s and a DAG
  parse per process on a small machine). The price is a worker slot per running process, on top of
  the slot its notebook task takes.
- defer: it hands the wait to the triggerer and frees its slot; Airflow starts it again to finish.
auto (the default) polls while the triggers of every stream, each in its widest group, stay below
[core] parallelism, so a slot is always left for the notebooks even with every stream running;
otherwise it defers, because slot-holding waits could then starve the runs they wait for.
"""

from __future__ import annotations

from functools import cache

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG, BaseOperator, CronTriggerTimetable, TaskGroup, TriggerRule
from airflow.sdk.configuration import conf

from llf.control.model import ProcessGroup, Stream
from llf.dagbuild import callables
from llf.dagbuild.catalog import Catalog
from llf.dagbuild.common import add_run_params, process_dag_id, stream_dag_id, tag
from llf.dagbuild.config import stream_wait
from llf.dagbuild.stamp import DagStamp, OperatorStamp, link

POKE_SECONDS = 1  # a trivial process should not cost a minute of polling
START_CONF = "{{ ti.xcom_pull(task_ids='start_stream') | tojson }}"


@cache
def _step() -> OperatorStamp[PythonOperator]:
    return OperatorStamp(PythonOperator, python_callable=callables.start_stream)


@cache
def _gate() -> OperatorStamp[EmptyOperator]:
    return OperatorStamp(EmptyOperator)


@cache
def _trigger(deferrable: bool) -> OperatorStamp[TriggerDagRunOperator]:
    return OperatorStamp(
        TriggerDagRunOperator,
        trigger_dag_id=OperatorStamp.TEMPLATE_ID,
        # A template, not start.output: an XComArg would add start_stream as an upstream, and its
        # success would satisfy all_done_min_one_success after a STOP gate failed.
        conf=START_CONF,
        wait_for_completion=True,
        deferrable=deferrable,
        poke_interval=POKE_SECONDS,
        allowed_states=["success"],
        failed_states=["failed"],
        trigger_rule=TriggerRule.ALL_DONE_MIN_ONE_SUCCESS,
    )


def triggers_defer(catalog: Catalog) -> bool:
    """Whether the stream triggers hand their wait to the triggerer (LLF_STREAM_WAIT, module docstring)."""
    mode = stream_wait()
    if mode == "auto":
        return catalog.most_waiting_triggers >= conf.getint("core", "parallelism")
    return mode == "defer"


def build_stream_dag(catalog: Catalog, stream: Stream, make_dag: DagStamp) -> DAG:
    groups = catalog.groups_of(stream)
    schedule = catalog.schedule_of(stream)
    timezone = catalog.timezone_of(stream)
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
    )
    step_arguments = {"strem_nm": stream.strem_nm, "timezone": timezone}
    start = _step()(dag, task_id="start_stream", owner=owner, python_callable=callables.start_stream,
                    op_kwargs=step_arguments)
    gate_rule = TriggerRule.ALL_SUCCESS if stream.fail_policy == "STOP" else TriggerRule.ALL_DONE
    gate: BaseOperator = start
    triggers: list[BaseOperator] = []
    trigger = _trigger(triggers_defer(catalog))
    for position, group in enumerate(groups):
        group_triggers = _group_triggers(dag, trigger, catalog, group, gate, owner)
        triggers.extend(group_triggers)
        if position < len(groups) - 1:
            gate = _gate()(dag, task_id=f"after__{_group_id(group)}", owner=owner, trigger_rule=gate_rule)
            link(group_triggers, gate)
    finish = _step()(dag, task_id="finish_stream", owner=owner, python_callable=callables.finish_stream,
                     op_kwargs=step_arguments, trigger_rule=TriggerRule.ALL_DONE)
    # finish waits for every trigger, not only the gates: a STOP gate fails early, while others run.
    link([start, *triggers], finish)
    return add_run_params(dag)


def _group_triggers(
    dag: DAG, stamp: OperatorStamp[TriggerDagRunOperator], catalog: Catalog, group: ProcessGroup,
    gate: BaseOperator, owner: str,
) -> list[TriggerDagRunOperator]:
    processes = catalog.processes_of(group)
    lanes: list[BaseOperator | None] = [None] * group.max_parallel
    triggers = []
    task_group = TaskGroup(group_id=_group_id(group), tooltip=group.prcs_grp_desc, dag=dag)
    for position, process in enumerate(processes):
        trigger = stamp(
            dag, task_id=process.prcs_nm, task_group=task_group, owner=owner,
            trigger_dag_id=process_dag_id(process.prcs_nm), doc_md=process.prcs_desc or None,
        )
        lane = position % group.max_parallel
        link([gate] if lanes[lane] is None else [gate, lanes[lane]], trigger)
        lanes[lane] = trigger
        triggers.append(trigger)
    return triggers


def _group_id(group: ProcessGroup) -> str:
    """Task group ids may not contain dots, which group names may."""
    return group.prcs_grp_nm.replace(".", "_")


def _doc(catalog: Catalog, stream: Stream, groups: list[ProcessGroup]) -> str:
    schedule = catalog.schedule_of(stream)
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
        f"{', '.join(p.prcs_nm for p in catalog.processes_of(g))} |"
        for g in groups
    )
    return "\n".join(lines)
