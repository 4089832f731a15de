"""Copies of a DAG or operator built once through Airflow's constructors ("stamps"), for speed.

Why: Airflow's constructors cost about 0.25 ms per DAG (a runtime Protocol check of the schedule) and
0.2-0.4 ms per operator (apply_defaults, default_args/params merging, ~70 attribute sets through
converter lookups). With a thousand registered processes that is over two seconds per parse, while
the llf DAGs of one kind differ only in a few fields (ids, docs, owner, timetable, callable).

How: the template is built once per parse by the real constructor; a stamp is a copy of its
attributes with fresh containers (sets, lists, dicts, params) and the given fields stored as the
constructor stores them (through the operator's `_convert_<name>` hook where it has one, through
the DAG's attrs converters and validators), then attached the way the constructor attaches it
(task group, `dag.add_task`). Fields are plain values: an XComArg is refused, since wiring its
upstream task is constructor work a stamp skips.

The contract: a stamp serialises exactly like the object the constructor would build with the same
arguments; tests/dagbuild/test_stamp.py holds both to that, so an Airflow upgrade that changes the
constructors fails there, not in production. Only fields the constructor stores verbatim under
their own name may be stamped; everything else belongs in the template's arguments.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

from airflow.sdk import DAG, BaseOperator, TaskGroup
from airflow.sdk.bases.timetable import BaseTimetable
from airflow.sdk.definitions._internal.node import validate_key
from airflow.sdk.definitions.param import ParamsDict
from airflow.sdk.definitions.xcom_arg import XComArg

Op = TypeVar("Op", bound=BaseOperator)

_BUILTIN_CONTAINERS = (list, set, dict)
_MUTABLE = (*_BUILTIN_CONTAINERS, ParamsDict)
_INIT_KWARGS = "_BaseOperator__init_kwargs"


class _Template:
    """The attributes of a constructed object, and which of them are containers a copy must not share."""

    def __init__(self, constructed: object) -> None:
        self.state = vars(constructed)
        self.containers = [name for name, value in self.state.items() if isinstance(value, _MUTABLE)]

    def fresh_state(self) -> dict[str, Any]:
        state = dict(self.state)
        for name in self.containers:
            value = state[name]
            state[name] = value.copy() if type(value) in _BUILTIN_CONTAINERS else copy.copy(value)
        return state


def link(upstream: Iterable[BaseOperator], downstream: BaseOperator) -> None:
    """`downstream.set_upstream(upstream)` for tasks of one DAG, minus its per-call DAG hashing.

    set_upstream hashes every task's DAG to check they share one, and a DAG's hash reprs its
    timetable: a third of the remaining parse time with thousands of links.
    """
    for task in upstream:
        if task.dag is not downstream.dag:
            raise ValueError(f"{task.task_id} and {downstream.task_id} are not in the same DAG")
        task.downstream_task_ids.add(downstream.task_id)
        downstream.upstream_task_ids.add(task.task_id)


class DagStamp:
    """DAGs sharing every argument but `dag_id`, `schedule` (None or a timetable) and `fields`."""

    TEMPLATE_ID = "llf_template"

    def __init__(self, **shared: Any) -> None:
        self._template = _Template(DAG(dag_id=self.TEMPLATE_ID, schedule=None, **shared))

    def __call__(self, *, dag_id: str, schedule: BaseTimetable | None = None, **fields: Any) -> DAG:
        dag = DAG.__new__(DAG)
        vars(dag).update(self._template.fresh_state())
        # schedule and task_group are frozen attrs fields; the constructor derives timetable from
        # schedule (a timetable is used as is) and creates the root task group itself.
        object.__setattr__(dag, "schedule", schedule)
        object.__setattr__(dag, "timetable", schedule or self._template.state["timetable"])
        object.__setattr__(dag, "task_group", TaskGroup.create_root(dag=dag))
        dag.dag_id = dag_id  # validated like the constructor does (validate_key)
        dag.dag_display_name = dag_id
        for name, value in fields.items():
            setattr(dag, name, value)  # attrs runs the field's converter and validators
        for callback in ("on_success_callback", "on_failure_callback"):
            if callback in fields:  # the constructor derives these flags; the scheduler reads them
                setattr(dag, f"has_{callback}", bool(fields[callback]))
        return dag


class OperatorStamp(Generic[Op]):
    """Operators of one class sharing every argument but `task_id`, the DAG, the group and `fields`."""

    TEMPLATE_ID = "llf_template"

    def __init__(self, operator_class: type[Op], **shared: Any) -> None:
        self._class = operator_class
        self._template = _Template(operator_class(task_id=self.TEMPLATE_ID, **shared))
        self._converted: dict[str, bool] = {}

    def __call__(self, dag: DAG, *, task_id: str, task_group: TaskGroup | None = None, **fields: Any) -> Op:
        validate_key(task_id)
        group = task_group or dag.task_group  # what apply_defaults picks when no group is given
        task = self._class.__new__(self._class)
        state = self._template.fresh_state()
        state.update(_dag=None, task_group=None, task_id=group.child_id(task_id))
        state[_INIT_KWARGS].update(task_id=task_id, dag=dag, task_group=group, **fields)
        converted = {}
        for name, value in fields.items():
            if isinstance(value, XComArg):
                raise TypeError(f"{task_id}.{name}: an XComArg needs the constructor's upstream wiring")
            if self._has_converter(name):
                converted[name] = value
            else:
                state[name] = value  # what the constructor's plain `self.<name> = <name>` stores
        vars(task).update(state)
        for name, value in converted.items():
            setattr(task, name, value)  # BaseOperator.__setattr__ applies its _convert_<name> hook
        group.add(task)
        object.__setattr__(task, "task_group", group)
        task.dag = dag  # dag.add_task: start/end dates, duplicate id check, registration
        return task

    def _has_converter(self, name: str) -> bool:
        if name not in self._converted:
            self._converted[name] = hasattr(self._class, f"_convert_{name}")
        return self._converted[name]
