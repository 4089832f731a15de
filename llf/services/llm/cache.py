"""The response cache: an identical request is answered from the control DB without a server call."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from llf.services.control_store import ControlStore, as_json
from llf.services.llm.base import Reply


def cache_key(request: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of the request (provider, model, messages, schema, options)."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ResponseCache:
    """Replies by request key in cntl_af.cntl_llm_cache; failures to read or write only cost a server call.

    Each stream has its own answers: a row's stream is filled in by the database from the session's attempt token
    (cntl_af.attempt_stream(), null without one), and row-level security holds a notebook session to it. The
    filter below says the same for the owner's session, which row-level security does not hold.
    """

    def __init__(self, store: ControlStore) -> None:
        self.store = store

    def get(self, key: str) -> Reply | None:
        rows = self.store.try_execute(
            "UPDATE cntl_af.cntl_llm_cache SET hit_cnt = hit_cnt + 1, last_hit_ts = now()"
            " WHERE cache_key = %s AND strem_nm IS NOT DISTINCT FROM cntl_af.attempt_stream() RETURNING response",
            (key,),
        )
        return Reply(**rows[0][0]) if rows else None

    def put(self, key: str, request: dict[str, Any], reply: Reply) -> None:
        self.store.try_execute(
            "INSERT INTO cntl_af.cntl_llm_cache (cache_key, provider_nm, model_nm, request, response)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (strem_nm, cache_key) DO NOTHING",
            (key, request["provider"], request["model"], as_json(request), as_json(reply.__dict__)),
        )
