"""Usage per LLM call (tokens, time, cache hit) recorded against the current process run."""

from __future__ import annotations

from dataclasses import dataclass

from llf.context import RunContext
from llf.services.control_store import ControlStore


@dataclass(frozen=True)
class Usage:
    """What one client call cost."""

    provider: str
    model: str
    operation: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    duration_ms: int = 0
    server_ms: int | None = None
    attempts: int = 1
    cache_hit: bool = False


def record_usage(store: ControlStore, run: RunContext, usage: Usage) -> None:
    """One row in cntl_af.cntl_llm_usage; never fails the caller."""
    store.try_execute(
        "INSERT INTO cntl_af.cntl_llm_usage (log_id, strem_nm, prcs_nm, business_date, run_id, provider_nm,"
        " model_nm, operation_nm, prompt_tokens, completion_tokens, duration_ms, server_ms, attempt_cnt,"
        " cache_hit_flg) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            run.log_id,
            run.strem_nm,
            run.prcs_nm,
            run.business_date,
            run.run_id,
            usage.provider,
            usage.model,
            usage.operation,
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.duration_ms,
            usage.server_ms,
            usage.attempts,
            usage.cache_hit,
        ),
    )
