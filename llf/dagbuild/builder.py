"""All llf DAGs from one snapshot, or only the one a task needs (`get_parsing_context()`)."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from airflow.sdk import DAG, get_parsing_context

from llf.dagbuild.catalog import Catalog
from llf.dagbuild.common import DAG_DEFAULTS, process_dag_id, stream_dag_id
from llf.dagbuild.placeholder import build_placeholder_dag
from llf.dagbuild.process_dag import build_process_dag
from llf.dagbuild.snapshot import cached_catalog_for_task, load_catalog
from llf.dagbuild.stamp import DagStamp
from llf.dagbuild.stream_dag import build_stream_dag

log = logging.getLogger(__name__)


def build_dags(catalog: Catalog | None = None, only_dag_id: str | None = None) -> dict[str, DAG]:
    """DAGs by id. Inside a task run, only the DAG being run is built, however many are registered.

    A task run builds from the cache as it is when that holds its task (cached_catalog_for_task says
    why that is safe), and refreshes it like any parse only when it does not.
    """
    parsing = get_parsing_context()
    only_dag_id = only_dag_id or parsing.dag_id
    with _no_cyclic_gc():
        if catalog is None and only_dag_id and parsing.task_id:
            cached = cached_catalog_for_task()
            if cached is not None:
                dags = _build(cached, only_dag_id)
                if only_dag_id in dags and parsing.task_id in dags[only_dag_id].task_dict:
                    return dags
        return _build(catalog or load_catalog(), only_dag_id)


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building, restoring its state after.

    Every object a build makes is kept (the DAGs), yet the allocation burst triggers a full collection
    over Airflow's whole heap: about 0.15 s of a 1000-process parse, finding nothing. Reference
    counting still frees temporaries; cycles left behind are collected once it is back on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _build(catalog: Catalog, only_dag_id: str | None) -> dict[str, DAG]:
    make_dag = DagStamp(**DAG_DEFAULTS)
    dags: dict[str, DAG] = {}
    for stream in catalog.invalid_streams():
        if only_dag_id in (None, stream_dag_id(stream.strem_nm)):
            problems = catalog.problems[stream.strem_nm]
            log.warning("llf stream %s is not built: %s", stream.strem_nm, " | ".join(problems))
            dags[stream_dag_id(stream.strem_nm)] = build_placeholder_dag(stream, problems, make_dag)
    for stream in catalog.valid_streams():
        if only_dag_id in (None, stream_dag_id(stream.strem_nm)):
            dags[stream_dag_id(stream.strem_nm)] = build_stream_dag(catalog, stream, make_dag)
    for prcs_nm, process in catalog.buildable_processes.items():
        if only_dag_id in (None, process_dag_id(prcs_nm)):
            dags[process_dag_id(prcs_nm)] = build_process_dag(catalog, process, make_dag)
    return dags
