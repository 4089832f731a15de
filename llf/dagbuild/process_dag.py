"""The process DAG `process__<prcs_nm>`: its dependencies first, then the notebook.

One `dependency__<name>` task per dependency (a DependencyTrigger) asks the runner whether that
dependency is already SUCCESS for the business date; if so it is skipped, otherwise it starts the
dependency's process DAG and waits for it deferrably. `run_notebook` runs whatever happened
(all_done): the runner re-checks the dependencies itself and records BLOCKED, which keeps that verdict
in one place. A process without dependencies is just `run_notebook`.

The callables get their arguments through functools.partial, not op_kwargs: op_kwargs are Jinja
templates. The registered params are not among them: the runner reads them from the registration at
run time, so a param holding "{{" reaches the notebook unchanged and a params change needs no refresh.
"""

from __future__ import annotations

from functools import cache, partial

from airflow.sdk import DAG, TriggerRule

from llf.control.model import Process, process_dag_id, task_timeout
from llf.dagbuild import callables
from llf.dagbuild.bounds import run_bounds
from llf.dagbuild.catalog import Catalog
from llf.dagbuild.common import add_run_params, routing, tag
from llf.dagbuild.operators import DependencyTrigger, NotebookTask
from llf.dagbuild.stamp import DagStamp, OperatorStamp, link
from llf.dagbuild.stream_dag import trigger_and_wait


@cache
def _notebook() -> OperatorStamp[NotebookTask]:
    return OperatorStamp(
        NotebookTask,
        python_callable=callables.run_notebook,
        on_failure_callback=callables.close_abandoned_attempts,
        trigger_rule=TriggerRule.ALL_DONE,
    )


@cache
def _dependency() -> OperatorStamp[DependencyTrigger]:
    return OperatorStamp(
        DependencyTrigger,
        trigger_dag_id=OperatorStamp.TEMPLATE_ID,
        dependency_conf=callables.dependency_conf,
        **trigger_and_wait(deferrable=True),
    )


def build_process_dag(catalog: Catalog, process: Process, make_dag: DagStamp) -> DAG:
    stream, group = catalog.snapshot.stream_of(process), catalog.snapshot.group_of(process)
    timezone = catalog.snapshot.timezone_of(stream)
    dependencies = catalog.snapshot.dependencies_of(process)
    owner = process.owner_nm
    dag = make_dag(
        dag_id=process_dag_id(process.prcs_nm),
        description=process.prcs_desc[:200] or None,
        doc_md=_doc(catalog, process, stream.strem_nm, group.prcs_grp_nm, dependencies),
        max_active_tasks=len(dependencies) + 1,
        dagrun_timeout=run_bounds(catalog.snapshot).process_run(process),  # ends a run stuck waiting (bounds.py)
        tags=["llf:process", tag("stream", stream.strem_nm), tag("group", group.prcs_grp_nm)],
        default_args={"owner": owner},
        on_failure_callback=callables.close_abandoned_attempts,
    )
    arguments = {"prcs_nm": process.prcs_nm, "timezone": timezone}
    notebook = _notebook()(
        dag,
        task_id="run_notebook",
        owner=owner,
        python_callable=partial(callables.run_notebook, **arguments),
        execution_timeout=task_timeout(process.timeout_min),  # the runner's own bounds come first
        retries=process.retries,
        doc_md=f"Runs `{catalog.snapshot.notebook_of(process)}` with papermill.",
        **routing(catalog.snapshot, process),
    )
    if dependencies:
        link([
            _dependency()(
                dag,
                task_id=f"dependency__{d.prcs_nm}",
                owner=owner,
                trigger_dag_id=process_dag_id(d.prcs_nm),
                dependency_conf=partial(callables.dependency_conf, dependency=d.prcs_nm,
                                        prcs_nm=process.prcs_nm, timezone=timezone),
            )
            for d in dependencies
        ], notebook)
    return add_run_params(dag)


def _doc(catalog: Catalog, process: Process, strem_nm: str, prcs_grp_nm: str,
         dependencies: list[Process]) -> str:
    return "\n".join([
        f"## Process {process.prcs_nm}",
        "",
        process.prcs_desc or "_No description registered (cntl_cfg_prcs.prcs_desc)._",
        "",
        f"Stream `{strem_nm}` · group `{prcs_grp_nm}` · priority {process.priority} · "
        f"owner {process.owner_nm}",
        f"Notebook `{catalog.snapshot.notebook_of(process)}` · timeout {process.timeout_min:g} min · "
        f"retries {process.retries}",
        f"Queue `{catalog.snapshot.queue_of(process)}` · pool "
        + (f"`{process.pool_nm}` ({process.pool_slots} slot(s))" if process.pool_nm else "Airflow's default_pool"),
        "Depends on: " + (", ".join(f"`{d.prcs_nm}`" for d in dependencies) or "nothing"),
    ])
