"""LLM batch benchmark: 32 prompts against the Ollama stand-in (200 ms per call), concurrency 1 vs 4,
then the same run again, which the response cache must answer with 0 server calls.

Run: .venv/bin/python bench/llm.py   (starts an embedded PostgreSQL for the cache; needs the dev extras)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from llf.control.migrations import upgrade
from llf.local.postgres import EmbeddedPostgres, with_database
from tests.support.standins.ollama_server import OllamaBehaviour, ollama_server

PROMPTS = [f"Recommend one product for customer {n}." for n in range(32)]
LATENCY_S = 0.2


def timed_map(concurrency: int, tag: str) -> float:
    from llf.services.llm import open_llm

    started = time.perf_counter()
    open_llm().map([f"{prompt} [{tag}]" for prompt in PROMPTS], concurrency=concurrency, description=tag)
    return time.perf_counter() - started


def main() -> None:
    postgres = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="llf-bench-")))
    try:
        postgres.execute_admin("CREATE DATABASE llf_bench")
        os.environ["LLF_CONTROL_DB_URL"] = with_database(postgres.admin_url, "llf_bench")
        upgrade(os.environ["LLF_CONTROL_DB_URL"])
        with ollama_server(OllamaBehaviour(latency_s=LATENCY_S)) as server:
            os.environ.update({"OLLAMA_HOST": server.url, "LLF_LLM_MODEL": "llama3.2", "LLF_LLM_CACHE": "on"})
            serial = timed_map(1, "c1")
            parallel = timed_map(4, "c4")
            calls_before = len(server.behaviour.calls)
            repeat = timed_map(4, "c4")
            repeat_calls = len(server.behaviour.calls) - calls_before
        print(f"{len(PROMPTS)} prompts, {LATENCY_S * 1000:.0f} ms per server call")
        print(f"concurrency 1: {serial:.2f} s")
        print(f"concurrency 4: {parallel:.2f} s")
        print(f"ratio: {serial / parallel:.2f}x")
        print(f"repeat run (cached): {repeat:.2f} s, server calls: {repeat_calls}")
    finally:
        postgres.stop()


if __name__ == "__main__":
    main()
