"""The LLM client a notebook uses: complete / chat / embed / map, with retries, structured output, cache,
usage records and hooks around a provider."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from llf.runner.context import RunContext
from llf.services.control_store import ControlStore
from llf.services.llm.base import Provider, Reply
from llf.services.llm.cache import ResponseCache, cache_key
from llf.services.llm.errors import LlmUnavailableError, StructuredOutputError, TransientLlmError
from llf.services.llm.hooks import LlmCall, load_hooks, run_hooks
from llf.services.llm.settings import LlmSettings
from llf.services.llm.usage import Usage, record_usage

T = TypeVar("T")
EMBED_BATCH = 128
REASK = (
    "Your answer did not match the required JSON schema. Errors:\n{errors}\n"
    "Answer again with only a JSON object that matches the schema."
)


class LlmClient:
    """One model of one provider, bound to the current run for usage records."""

    def __init__(
        self, settings: LlmSettings, provider: Provider, run: RunContext, store: ControlStore | None
    ) -> None:
        self.settings = settings
        self.provider = provider
        self.model = settings.model
        self.run = run
        self.store = store
        self.cache = ResponseCache(store) if store is not None and settings.cache else None
        self.hooks = load_hooks(settings.hooks)

    def complete(
        self, prompt: str, *, system: str | None = None, schema: type[BaseModel] | None = None, **options: Any
    ) -> str | BaseModel:
        """The model's answer to `prompt`: text, or an instance of `schema` when one is given."""
        messages = [{"role": "system", "content": system}] if system else []
        return self.chat([*messages, {"role": "user", "content": prompt}], schema=schema, **options)

    def chat(
        self, messages: Sequence[dict[str, str]], *, schema: type[BaseModel] | None = None, **options: Any
    ) -> str | BaseModel:
        """The next assistant message for `messages` (dicts with role and content); see `complete`."""
        messages = [{"role": m["role"], "content": m["content"]} for m in messages]
        json_schema = schema.model_json_schema() if schema else None
        request = {
            "provider": self.provider.name,
            "model": self.model,
            "messages": messages,
            "schema": json_schema,
            "options": options,
        }
        call = self._start("chat", request)
        started = time.monotonic()
        reply = self.cache.get(call.key) if self.cache else None
        if reply is not None:
            attempts = 0
        else:
            with self._failures_told_to_hooks(call):
                reply, attempts = self._ask(messages, schema, json_schema, options)
            if self.cache:
                self.cache.put(call.key, request, reply)
        result = schema.model_validate_json(reply.text) if schema else reply.text
        usage = Usage(
            provider=self.provider.name,
            model=self.model,
            operation="chat",
            prompt_tokens=0 if attempts == 0 else reply.prompt_tokens,
            completion_tokens=0 if attempts == 0 else reply.completion_tokens,
            duration_ms=_ms_since(started),
            server_ms=None if attempts == 0 else reply.server_ms,
            attempts=attempts,
            cache_hit=attempts == 0,
        )
        return self._finish(call, result, usage)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text with LLF_EMBED_MODEL, one server request per batch of up to 128 texts."""
        vectors: list[list[float]] = []
        model = self.settings.embed_model
        for start in range(0, len(texts), EMBED_BATCH):
            batch = list(texts[start : start + EMBED_BATCH])
            call = self._start("embed", {"provider": self.provider.name, "model": model, "input": batch})
            started = time.monotonic()
            with self._failures_told_to_hooks(call):
                result, attempts = self._send(self.provider.embed, model, batch)
            usage = Usage(
                provider=self.provider.name,
                model=model,
                operation="embed",
                prompt_tokens=result.prompt_tokens,
                duration_ms=_ms_since(started),
                server_ms=result.server_ms,
                attempts=attempts,
            )
            vectors.extend(self._finish(call, result.vectors, usage))
        return vectors

    def map(
        self,
        prompts_or_fn: Iterable[str] | Callable[[T], str],
        items: Iterable[T] | None = None,
        *,
        concurrency: int | None = None,
        system: str | None = None,
        schema: type[BaseModel] | None = None,
        description: str = "LLM",
        **options: Any,
    ) -> list[str | BaseModel]:
        """`complete` for many prompts at once (a list, or `fn(item)` for each item), results in input order.

        At most `concurrency` (default LLF_LLM_CONCURRENCY) calls are in flight; a progress bar follows them.
        The first failure cancels what has not started and is raised.
        """
        if callable(prompts_or_fn):
            if items is None:
                raise TypeError("map(fn, items): pass the items the function turns into prompts.")
            prompts = [prompts_or_fn(item) for item in items]
        else:
            prompts = list(prompts_or_fn)
        results: list[Any] = [None] * len(prompts)
        workers = concurrency or self.settings.concurrency
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns) as progress, ThreadPoolExecutor(max_workers=workers) as pool:
            task = progress.add_task(description, total=len(prompts))
            futures = {
                pool.submit(self.complete, prompt, system=system, schema=schema, **options): index
                for index, prompt in enumerate(prompts)
            }
            try:
                for future in as_completed(futures):
                    results[futures[future]] = future.result()
                    progress.advance(task)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        return results

    def _ask(
        self,
        messages: list[dict[str, str]],
        schema: type[BaseModel] | None,
        json_schema: dict | None,
        options: dict[str, Any],
    ) -> tuple[Reply, int]:
        """Ask, and while the answer does not fit `schema` re-ask with the errors (LLF_LLM_REASKS times)."""
        conversation = list(messages)
        prompt_tokens = completion_tokens = server_ms = attempts = 0
        for _ in range(self.settings.reasks + 1):
            reply, sent = self._send(self.provider.chat, self.model, conversation, json_schema, options)
            attempts += sent
            prompt_tokens += reply.prompt_tokens
            completion_tokens += reply.completion_tokens
            server_ms += reply.server_ms or 0
            total = Reply(reply.text, prompt_tokens, completion_tokens, server_ms or reply.server_ms)
            if schema is None:
                return total, attempts
            try:
                schema.model_validate_json(reply.text)
                return total, attempts
            except ValidationError as error:
                failure = error
                conversation += [
                    {"role": "assistant", "content": reply.text},
                    {"role": "user", "content": REASK.format(errors=error)},
                ]
        raise StructuredOutputError(
            f"Model {self.model!r} (LLF_LLM_MODEL) gave no answer matching {schema.__name__} in "
            f"{self.settings.reasks + 1} tries (LLF_LLM_REASKS={self.settings.reasks}); last error: {failure}"
        )

    def _send(self, function: Callable[..., T], *args: Any) -> tuple[T, int]:
        """`function(*args)` retried with exponential backoff and jitter on transient failures only."""
        retrying = Retrying(
            stop=stop_after_attempt(self.settings.attempts),
            wait=wait_random_exponential(multiplier=self.settings.retry_wait_s, max=30),
            retry=retry_if_exception_type(TransientLlmError),
            reraise=True,
        )
        attempts = 0
        try:
            for attempt in retrying:
                with attempt:
                    attempts += 1
                    result = function(*args)
        except TransientLlmError as error:
            raise LlmUnavailableError(
                f"{error} Gave up after {attempts} attempt(s) (LLF_LLM_ATTEMPTS); check "
                f"{self.settings.host_setting}={self.settings.host}."
            ) from error
        return result, attempts

    def _start(self, operation: str, request: dict[str, Any]) -> LlmCall:
        call = LlmCall(operation, self.provider.name, request["model"], request, cache_key(request), self.run)
        run_hooks(self.hooks, "before", call)
        return call

    @contextmanager
    def _failures_told_to_hooks(self, call: LlmCall) -> Iterator[None]:
        """Run the `failed` hooks when the call raises, then let the error go on."""
        try:
            yield
        except Exception as error:
            call.error = error
            run_hooks(self.hooks, "failed", call)
            raise

    def _finish(self, call: LlmCall, result: T, usage: Usage) -> T:
        if self.store is not None:
            record_usage(self.store, self.run, usage)
        call.result, call.usage = result, usage
        run_hooks(self.hooks, "after", call)
        return result


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
