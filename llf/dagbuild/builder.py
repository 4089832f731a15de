"""All llf DAGs from one snapshot, or only the one a task needs (`get_parsing_context()`).

Never raises for a registration: a stream that cannot be built becomes its placeholder DAG (see _build).
The import errors left are global: "no snapshot at all" (no cache and no readable control database,
from load_catalog; for a task's parse, its DAG's rows unreadable and no cache holding it, from
task_catalog.task_parse_failed) and a bad setting (ConfigurationError naming it).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from airflow.sdk import DAG, get_parsing_context

from llf.control.model import Stream, process_dag_id, stream_dag_id
from llf.dagbuild.catalog import Catalog
from llf.dagbuild.common import DAG_DEFAULTS, note_row, noted_rows
from llf.dagbuild.placeholder import build_placeholder_dag
from llf.dagbuild.process_dag import build_process_dag
from llf.dagbuild.snapshot import cached_catalog_for_task, last_cached_catalog, load_catalog
from llf.dagbuild.stamp import DagStamp
from llf.dagbuild.stream_dag import build_stream_dag
from llf.dagbuild.task_catalog import task_catalog, task_parse_failed
from llf.exceptions import ConfigurationError, ControlDatabaseError
from llf.text import one_line

log = logging.getLogger(__name__)


def build_dags(catalog: Catalog | None = None, only_dag_id: str | None = None) -> dict[str, DAG]:
    """DAGs by id. Inside a task run, only the DAG being run is built, however many are registered.

    A task run builds from the cache as it is when that holds its task, else from its DAG's rows alone
    (_task_dags). It judges the stream on its registrations alone, never on this host's notebooks folder
    (Catalog.for_task says why).
    """
    parsing = get_parsing_context()
    only_dag_id = only_dag_id or parsing.dag_id
    with _no_cyclic_gc():
        if catalog is None and only_dag_id and parsing.task_id:
            return _task_dags(only_dag_id, parsing.task_id)
        return _build(catalog or load_catalog(for_task=bool(only_dag_id)), only_dag_id)


def _task_dags(dag_id: str, task_id: str) -> dict[str, DAG]:
    """A task's parse: from the cache when it is recent and holds the task (cached_catalog_for_task says why
    that is safe), else from the rows of its DAG alone (llf.dagbuild.task_catalog says why), else, the control
    DB being unreadable, from the cache whatever its age; a sentence naming LLF_CONTROL_DB_URL without one."""
    cached = cached_catalog_for_task()
    if cached is not None:
        dags = _build(cached.for_task(), dag_id)
        if _holds(dags, dag_id, task_id):
            return dags
    try:
        rows = task_catalog(dag_id)
    except (ControlDatabaseError, ConfigurationError) as error:
        last = last_cached_catalog()
        dags = _build(last.for_task(), dag_id) if last is not None else {}
        if last is None or not _holds(dags, dag_id, task_id):
            raise task_parse_failed(dag_id, task_id, error) from error
        log.warning("The llf registrations of %s could not be read (%s); building it from the snapshot taken at %s.",
                    dag_id, one_line(error), last.snapshot.taken_at.isoformat())
        return dags
    return _build(rows, dag_id)


def _holds(dags: dict[str, DAG], dag_id: str, task_id: str) -> bool:
    return dag_id in dags and task_id in dags[dag_id].task_dict


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building, then freeze what the build made and restore it.

    Every object a build makes is kept (the DAGs), yet the allocation burst triggers full collections over
    Airflow's whole heap, finding nothing: about 0.15 s of a 1000-process parse. Re-enabling the collector
    alone is not enough: the millions of objects the build left in the youngest generation are then
    traversed by the next collections while DagBag bags the DAGs (0.5 s of CPU with 10,000 processes, grows
    with the heap). gc.freeze() moves them out of the collector's sight at no cost instead, as Airflow's
    dag-processor does before forking a parse. The price: cycles made by the build are freed only with the
    process, which for the dag-processor's parse process (one per parse) is moments later, and for a task
    run is a single DAG. Reference counting still frees temporaries.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def _build(catalog: Catalog, only_dag_id: str | None) -> dict[str, DAG]:
    """Every wanted DAG. A stream and its process DAGs are built as one unit inside one guard.

    Validation should leave nothing to fail here, but isolation must not depend on it being complete:
    any exception while building a stream's DAGs turns that stream into its placeholder, naming the row
    being built and the error, drops its process DAGs, and spreads to the streams depending on them,
    exactly like a validation problem. Every other DAG still loads, and this function never raises.
    In a task run (only_dag_id) only the wanted DAG is built, so a failure there concerns that DAG only.
    """
    make_dag = DagStamp(**DAG_DEFAULTS)
    built: dict[str, dict[str, DAG]] = {}
    failures: dict[str, tuple[str, ...]] = {}
    valid_crons: set[str] = set()
    for stream in catalog.valid_streams():
        try:
            built[stream.strem_nm] = _stream_unit(catalog, stream, make_dag, only_dag_id, valid_crons)
        except ConfigurationError:
            raise  # a bad setting (e.g. LLF_STREAM_WAIT) is every stream's problem: an import error naming it
        except Exception as error:
            log.error("llf stream %s could not be built; it becomes its placeholder DAG", stream.strem_nm,
                      exc_info=True)
            failures[stream.strem_nm] = (_build_failure(stream, error),)
    if failures:
        try:
            catalog = catalog.with_problems(failures)
        except Exception:  # spreading to dependants is a nicety; isolating the failed streams is not
            log.error("llf could not mark the dependants of %s invalid", sorted(failures), exc_info=True)
            catalog = Catalog(snapshot=catalog.snapshot, problems={**catalog.problems, **failures})
    dags: dict[str, DAG] = {}
    for stream in catalog.valid_streams():
        dags.update(built[stream.strem_nm])
    for stream in catalog.invalid_streams():
        if only_dag_id in (None, stream_dag_id(stream.strem_nm)):
            problems = catalog.problems[stream.strem_nm]
            log.warning("llf stream %s is not built: %s", stream.strem_nm, " | ".join(problems))
            placeholder = _placeholder(stream, problems, make_dag)
            if placeholder is not None:
                dags[placeholder.dag_id] = placeholder
    return dags


def _stream_unit(
    catalog: Catalog, stream: Stream, make_dag: DagStamp, only_dag_id: str | None, valid_crons: set[str]
) -> dict[str, DAG]:
    """The stream DAG and its process DAGs (those wanted)."""
    dags: dict[str, DAG] = {}
    if only_dag_id in (None, stream_dag_id(stream.strem_nm)):
        dag = build_stream_dag(catalog, stream, make_dag)
        schedule = catalog.snapshot.active_schedule(stream)
        if schedule and schedule.cron_expr not in valid_crons:
            # What DagBag checks before bagging a DAG that depends on a registration: one failure there
            # would be an import error of the whole DAG file. Once per distinct expression and parse.
            try:
                dag.timetable.validate()
            except Exception as error:
                note_row(error, "cntl_cfg_schedule", f"schedule_id={schedule.schedule_id}, strem_nm={stream.strem_nm}")
                raise
            valid_crons.add(schedule.cron_expr)
        dags[dag.dag_id] = dag
    for group in catalog.snapshot.active_groups(stream):
        for process in catalog.snapshot.active_processes(group):
            if only_dag_id in (None, process_dag_id(process.prcs_nm)):
                try:
                    dags[process_dag_id(process.prcs_nm)] = build_process_dag(catalog, process, make_dag)
                except Exception as error:
                    note_row(error, "cntl_cfg_prcs", f"prcs_id={process.prcs_id}, prcs_nm={process.prcs_nm}")
                    raise
    return dags


def _build_failure(stream: Stream, error: Exception) -> str:
    """The placeholder's line for a stream whose DAGs raised: the row(s) being built, the error, the fix."""
    rows = noted_rows(error) or [f"cntl_cfg_strem (strem_id={stream.strem_id}, strem_nm={stream.strem_nm})"]
    detail = one_line(f"{type(error).__name__}: {error}")[:500]
    return (
        f"{' / '.join(rows)}: building the DAGs of stream {stream.strem_nm} failed ({detail}). "
        "Fix: correct the row(s) named (`llf validate` lists what it knows); if they look right, report "
        "this as an llf bug with this message."
    )


def _placeholder(stream: Stream, problems: tuple[str, ...], make_dag: DagStamp) -> DAG | None:
    """The stream's placeholder DAG, or None (logged) when even that cannot be built from its row."""
    try:
        return build_placeholder_dag(stream, problems, make_dag)
    except Exception:
        log.error("llf stream %s is invalid and even its placeholder DAG cannot be built", stream.strem_nm,
                  exc_info=True)
        return None
