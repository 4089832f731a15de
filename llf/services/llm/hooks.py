"""Hooks around every LLM call (before, after, failed), chosen by name in LLF_LLM_HOOKS (e.g. `logging`).

A hook is an observer: its failures are logged and never fail the call.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from llf.exceptions import ConfigurationError
from llf.services.llm.usage import Usage

log = logging.getLogger("llf.llm")


@dataclass
class LlmCall:
    """One client call as hooks see it; `result` and `usage` are set before `after`, `error` before `failed`."""

    operation: str
    provider: str
    model: str
    request: dict[str, Any]
    key: str
    run: Any
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    result: Any = None
    usage: Usage | None = None
    error: BaseException | None = None
    cacheable: bool = True  # False when the model's digest could not be read: a reply may come from another model


class Hook(Protocol):
    """A hook may also have `failed(call)`; one without it is simply not told about failures (run_hooks looks
    each stage up), so `failed` is not part of the protocol."""

    def before(self, call: LlmCall) -> None: ...

    def after(self, call: LlmCall) -> None: ...


class LoggingHook:
    """Logs each call and what it cost."""

    def before(self, call: LlmCall) -> None:
        log.info("llm %s %s/%s key=%s", call.operation, call.provider, call.model, call.key[:12])

    def after(self, call: LlmCall) -> None:
        log.info("llm %s done key=%s usage=%s", call.operation, call.key[:12], call.usage)

    def failed(self, call: LlmCall) -> None:
        log.warning("llm %s failed key=%s: %s", call.operation, call.key[:12], call.error)


class PersistenceHook:
    """Stores each request and reply as JSON in the lake, next to the run's outputs, for audit."""

    def before(self, call: LlmCall) -> None:
        return None

    def after(self, call: LlmCall) -> None:
        from llf.services.lake import open_lake

        run = call.run
        stamp = call.started.strftime("%Y%m%dT%H%M%S%f")
        path = f"llm/{run.prcs_nm}/{run.business_date}/{run.run_id}/{stamp}-{call.key[:16]}.json"
        record = {
            "operation": call.operation,
            "request": call.request,
            "result": call.result if isinstance(call.result, str | list | dict) else str(call.result),
            "usage": asdict(call.usage) if call.usage else None,
        }
        open_lake().put(path, json.dumps(record, default=str, indent=1))


BUILTIN_HOOKS: dict[str, Callable[[], Hook]] = {"logging": LoggingHook, "persistence": PersistenceHook}


def load_hooks(names: tuple[str, ...]) -> list[Hook]:
    """Hooks by name: a built-in (logging, persistence) or `package.module:factory`."""
    hooks = []
    for name in names:
        if name in BUILTIN_HOOKS:
            hooks.append(BUILTIN_HOOKS[name]())
            continue
        module_name, _, attribute = name.partition(":")
        try:
            hooks.append(getattr(importlib.import_module(module_name), attribute)())
        except (ImportError, AttributeError, ValueError, TypeError) as error:
            raise ConfigurationError(
                f"Unknown LLM hook {name!r} in LLF_LLM_HOOKS: use {sorted(BUILTIN_HOOKS)} "
                f"or 'package.module:factory' ({error})."
            ) from error
    return hooks


def run_hooks(hooks: list[Hook], stage: str, call: LlmCall) -> None:
    """Call `stage` ('before', 'after' or 'failed') on every hook having it; a failing hook is logged and skipped."""
    for hook in hooks:
        method = getattr(hook, stage, None)
        if method is None:
            continue
        try:
            method(call)
        except Exception:  # logged: hooks observe; they never break the call
            log.warning("LLM hook %s.%s failed (ignored)", type(hook).__name__, stage, exc_info=True)
