"""The DAG that stands in for a stream whose registrations are invalid.

Chosen over an import error because import errors are kept per DAG file: with every stream built
from one file, raising would hide every other DAG, and several bad streams would overwrite each
other's message. The placeholder keeps `stream__<strem_nm>` visible (with its run history), lists
the rows to fix in its description and docs, and fails with the same lines when triggered. It is
never scheduled, so a broken stream does not fail every cron tick.
"""

from __future__ import annotations

from functools import partial

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

from llf.control.model import Stream, stream_dag_id
from llf.dagbuild import callables
from llf.dagbuild.common import tag
from llf.dagbuild.stamp import DagStamp


def build_placeholder_dag(stream: Stream, problems: tuple[str, ...], make_dag: DagStamp) -> DAG:
    dag = make_dag(
        dag_id=stream_dag_id(stream.strem_nm),
        description=f"INVALID REGISTRATION ({len(problems)} problem(s)): {problems[0]}"[:1000],
        doc_md="\n".join(
            [f"## Stream {stream.strem_nm} is not built", "", "Fix these registrations:", ""]
            + [f"- {line}" for line in problems]
        ),
        max_active_tasks=1,
        tags=["llf:stream", "llf:invalid", tag("stream", stream.strem_nm)],
        default_args={"owner": stream.owner_nm},
    )
    PythonOperator(
        task_id="invalid_registration",
        python_callable=partial(callables.invalid_registration, strem_nm=stream.strem_nm,
                                problems=list(problems)),
        dag=dag,
    )
    return dag
