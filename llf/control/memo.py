"""One validate() call's memo: verdicts on values many rows share, computed once per call.

10,000 processes running one notebook, or sharing one cron expression in one time zone, are checked at
every snapshot refresh of the DAG file; inside a call each distinct value is read once, and the next call
starts empty, so an edited notebook is still seen at the next refresh. Outside a call nothing is kept: the
runner's check right before a run always reads the file as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_MEMO: ContextVar[dict[tuple[Any, ...], Any] | None] = ContextVar("llf_validation_memo", default=None)


@contextmanager
def one_pass() -> Iterator[None]:
    """Keep what `memoised` computes until the block ends (one validate() call)."""
    token = _MEMO.set({})
    try:
        yield
    finally:
        _MEMO.reset(token)


def memoised(function: Callable[..., Any], *arguments: Any) -> Any:
    """function(*arguments), or what it returned for the same arguments earlier in this `one_pass` block."""
    memo, key = _MEMO.get(), (function, *arguments)
    if memo is None:
        return function(*arguments)
    if key not in memo:
        memo[key] = function(*arguments)
    return memo[key]
