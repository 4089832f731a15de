"""A counting wrapper around a real Airflow auth manager: how often a request asked it about DAGs.

Not a stand-in: every call goes to the wrapped manager unchanged, and its answer is returned as is. Only calls
made through the wrapper are counted (the calls Airflow's and llf's code make on `get_auth_manager()`), not
those the manager makes on itself (the default `filter_authorized_dag_ids` asks `is_authorized_dag` per DAG).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

COUNTED = ("is_authorized_dag", "filter_authorized_dag_ids", "get_authorized_dag_ids")


@dataclass
class Call:
    name: str
    kwargs: dict[str, Any]

    @property
    def dag_id(self) -> str | None:
        """The DAG id an `is_authorized_dag` call asked about, if any."""
        details = self.kwargs.get("details")
        return getattr(details, "id", None)


@dataclass
class CountingAuthManager:
    """Delegates everything to `manager`; records the DAG questions asked (see module doc)."""

    manager: Any
    calls: list[Call] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.manager, name)
        if name not in COUNTED:
            return attribute
        return self._counted(name, attribute)

    def _counted(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(Call(name, kwargs))
            return method(*args, **kwargs)

        return call

    def named(self, name: str) -> list[Call]:
        return [c for c in self.calls if c.name == name]


@contextmanager
def counting_auth_manager() -> Iterator[CountingAuthManager]:
    """The configured auth manager, wrapped for the duration of the block."""
    from airflow.api_fastapi.app import _AuthManagerState

    real = _AuthManagerState.instance
    counting = CountingAuthManager(real)
    _AuthManagerState.instance = counting  # type: ignore[assignment]
    try:
        yield counting
    finally:
        _AuthManagerState.instance = real
