"""The LLM client a notebook uses: complete / chat / classify / embed / map, with retries, structured output,
cache, usage records and hooks around a provider."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from llf.context import RunContext
from llf.secrets import redact
from llf.services.control_store import ControlStore
from llf.services.llm.base import Fingerprinted, LabelScores, Provider, Reply, Scorer
from llf.services.llm.cache import ResponseCache, cache_key
from llf.services.llm.classification import (
    CONTENT_FREE,
    LIKELIHOOD,
    STRUCTURED,
    Classification,
    by_likelihood,
    checked_labels,
    classification_messages,
    content_free_baseline,
    example_orders,
    label_schema,
    mean_scores,
)
from llf.services.llm.errors import LlmUnavailableError, StructuredOutputError, TransientLlmError
from llf.services.llm.hooks import LlmCall, load_hooks, run_hooks
from llf.services.llm.settings import LlmSettings
from llf.services.llm.usage import Usage, record_usage

T = TypeVar("T")
EMBED_BATCH = 128
PROGRESS_EVERY_S = 10.0  # a batch of calls records how far it got at most this often (see _progress_reporter)
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
        self._baselines: dict[str, dict[str, float]] = {}  # content-free label scores, by prompt (classify)
        self._baseline_lock = threading.Lock()
        self._digests: dict[str, str | None] = {}  # model -> digest, read once per client (see _start)
        self._digest_lock = threading.Lock()

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
        reply, attempts = self._answer(call, lambda: self._ask(messages, schema, json_schema, options))
        result = schema.model_validate_json(reply.text) if schema else reply.text
        return self._finish(call, result, self._chat_usage(reply, attempts, started))

    def classify(
        self,
        text: str,
        labels: Sequence[str],
        *,
        instruction: str | None = None,
        examples: Sequence[tuple[str, str]] = (),
        template: str = "{text}",
        calibrate: bool = True,
        orders: int = 1,
        **options: Any,
    ) -> Classification:
        """The label of `text` among `labels`, with a confidence, chosen the most reliable way the provider allows.

        A provider that can read its model's probabilities (llama.cpp) scores each label as the answer and picks
        the likeliest, calibrated against content-free texts unless `calibrate=False` (see
        llf.services.llm.classification): nothing is generated, so a small model cannot drift off the labels.
        Other providers answer through structured output, the label an enum of `labels`, re-asked when off it.
        `instruction` (default: "Classify the text as one of: ...") opens the prompt; `examples` are
        (text, label) pairs shown as earlier turns; `template` shows each text (e.g. "Review: {text}").
        `orders` (1 to 3, likelihood only) scores with the examples as given, rotated by half, reversed, and
        averages: a small model leans on the examples it saw last, and each order costs a prompt evaluation.
        Cached and recorded like `chat` (usage operation "chat"); hooks see operation "classify". Model
        options apply to structured output; scoring samples nothing.
        """
        labels = checked_labels(labels)
        orderings = example_orders(examples, orders)

        def ask(shown: str, ordered: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
            return classification_messages(shown, labels, instruction, ordered, template)

        messages = ask(text, examples)
        method = LIKELIHOOD if isinstance(self.provider, Scorer) else STRUCTURED
        request = {
            "provider": self.provider.name,
            "model": self.model,
            "operation": "classify",
            "method": method,
            "messages": messages,
            "labels": labels,
            "calibrate": calibrate and method == LIKELIHOOD,
            "orders": len(orderings) if method == LIKELIHOOD else 1,
            "options": options,
        }
        call = self._start("classify", request)
        started = time.monotonic()
        if method == LIKELIHOOD:
            prompts = [
                (ask(text, ordered), [ask(free, ordered) for free in CONTENT_FREE] if calibrate else [])
                for ordered in orderings
            ]
            produce = partial(self._by_likelihood, prompts, labels)
        else:
            produce = partial(self._by_structured_output, messages, labels, options)
        reply, attempts = self._answer(call, produce)
        return self._finish(call, Classification.from_json(reply.text), self._chat_usage(reply, attempts, started))

    def classify_many(
        self,
        texts: Iterable[str],
        labels: Sequence[str],
        *,
        concurrency: int | None = None,
        description: str = "classifying",
        **classify_options: Any,
    ) -> list[Classification]:
        """`classify` for many texts at once, results in input order, at most `concurrency` in flight (as `map`).

        `classify_options` are `classify`'s keywords (instruction, examples, template, calibrate, orders, model
        options).
        On llama.cpp the calls take turns on the one model, and each reuses the shared start of the prompt (the
        instruction and examples) that the previous call left evaluated.
        """
        calls = [partial(self.classify, text, labels, **classify_options) for text in texts]
        return self._in_parallel(calls, concurrency, description)

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
        calls = [partial(self.complete, prompt, system=system, schema=schema, **options) for prompt in prompts]
        return self._in_parallel(calls, concurrency, description)

    def _in_parallel(self, calls: Sequence[Callable[[], T]], concurrency: int | None, description: str) -> list[T]:
        """Run `calls` on at most `concurrency` (default LLF_LLM_CONCURRENCY) threads under a progress bar,
        results in input order; the first failure cancels what has not started and is raised."""
        results: list[Any] = [None] * len(calls)
        workers = concurrency or self.settings.concurrency
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        report = self._progress_reporter(description, len(calls))
        with Progress(*columns) as progress, ThreadPoolExecutor(max_workers=workers) as pool:
            task = progress.add_task(description, total=len(calls))
            futures = {pool.submit(call): index for index, call in enumerate(calls)}
            try:
                for done, future in enumerate(as_completed(futures), start=1):
                    results[futures[future]] = future.result()
                    progress.advance(task)
                    report(done)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        return results

    def _progress_reporter(self, description: str, total: int) -> Callable[[int], None]:
        """A function told each count of finished calls that records "<description>: 3/5 done" against the run
        at most every PROGRESS_EVERY_S, and the last count if the batch took that long: a long batch shows
        progress in `llf status`, the UI and the demo instead of a silent minute. The bar above is only in the
        notebook's output."""
        started = time.monotonic()
        last = started

        def report(done: int) -> None:
            nonlocal last
            now = time.monotonic()
            due = now - last >= PROGRESS_EVERY_S
            finished_late = done == total and now - started >= PROGRESS_EVERY_S
            if self.store is None or not (due or finished_late):
                return
            last = now
            self.store.record_progress(self.run, f"{description}: {done}/{total} done in {now - started:.0f} s")

        return report

    def _answer(self, call: LlmCall, produce: Callable[[], tuple[Reply, int]]) -> tuple[Reply, int]:
        """The cached reply to `call`, else `produce()`'s, then cached; with the attempts made (0: a cache hit)."""
        cache = self.cache if call.cacheable else None
        reply = cache.get(call.key) if cache else None
        if reply is not None:
            return reply, 0
        with self._failures_told_to_hooks(call):
            reply, attempts = produce()
        if cache:
            cache.put(call.key, call.request, reply)
        return reply, attempts

    def _chat_usage(self, reply: Reply, attempts: int, started: float) -> Usage:
        """A chat-kind call's usage; a cache hit cost the server nothing. (The usage table knows chat and embed,
        so a classification is recorded as the chat it is.)"""
        hit = attempts == 0
        return Usage(
            provider=self.provider.name,
            model=self.model,
            operation="chat",
            prompt_tokens=0 if hit else reply.prompt_tokens,
            completion_tokens=0 if hit else reply.completion_tokens,
            duration_ms=_ms_since(started),
            server_ms=None if hit else reply.server_ms,
            attempts=attempts,
            cache_hit=hit,
        )

    @property
    def _scorer(self) -> Scorer:
        """The provider as a Scorer: classify chooses the likelihood method only for one."""
        return cast(Scorer, self.provider)

    def _by_likelihood(
        self, prompts: list[tuple[list[dict[str, str]], list[list[dict[str, str]]]]], labels: list[str]
    ) -> tuple[Reply, int]:
        """Score every label as the answer to each (prompt, content-free prompts) pair; the labels' mean scores
        over the prompts, less their mean content-free bias, choose."""
        scores, biases, spent, attempts = [], [], [], 0
        for messages, baseline in prompts:
            scored, sent = self._send(self._scorer.score, self.model, messages, labels)
            bias, cost = self._baseline(baseline, labels)
            scores.append(scored.logprobs)
            biases.append(bias or dict.fromkeys(labels, 0.0))
            spent += [scored, *cost]
            attempts += sent
        result = by_likelihood(mean_scores(scores), mean_scores(biases))
        server_ms = sum(cost.server_ms or 0 for cost in spent)
        return Reply(
            result.to_json(),
            sum(cost.prompt_tokens for cost in spent),
            sum(cost.completion_tokens for cost in spent),
            server_ms or None,
        ), attempts

    def _baseline(
        self, prompts: list[list[dict[str, str]]], labels: list[str]
    ) -> tuple[dict[str, float], list[LabelScores]]:
        """The mean label scores of the content-free `prompts`, computed once per client and prompt; with what
        computing them cost this time (nothing when known), which the call that needed them is charged."""
        if not prompts:
            return {}, []
        key = cache_key({"model": self.model, "prompts": prompts, "labels": labels})
        with self._baseline_lock:  # a batch's threads would all compute it at once
            if key in self._baselines:
                return self._baselines[key], []
            runs = [self._send(self._scorer.score, self.model, prompt, labels)[0] for prompt in prompts]
            self._baselines[key] = content_free_baseline([run.logprobs for run in runs])
            return self._baselines[key], runs

    def _by_structured_output(
        self, messages: list[dict[str, str]], labels: list[str], options: dict[str, Any]
    ) -> tuple[Reply, int]:
        """Ask for the label as JSON whose schema lists `labels` as an enum, re-asking answers off the enum."""
        schema = label_schema(labels)
        reply, attempts = self._ask(messages, schema, schema.model_json_schema(), options)
        answer = schema.model_validate_json(reply.text)
        result = Classification(answer.label, answer.confidence, STRUCTURED)
        return replace(reply, text=result.to_json()), attempts

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
        assert schema is not None  # without one, the first answer was returned
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
                f"{self.settings.host_setting}={redact(self.settings.host)}."
            ) from error
        return result, attempts

    def _start(self, operation: str, request: dict[str, Any]) -> LlmCall:
        """The call as hooks and the cache see it: the request plus where it goes and which model build answers.

        The endpoint (password redacted) and the model's digest are part of the cache key, so another server or
        a re-pulled model never answers from an older one's cache; when the digest cannot be read the call
        bypasses the cache rather than risk that.
        """
        digest, known = self._model_digest(request["model"])
        request = {**request, "endpoint": redact(self.settings.host), "digest": digest}
        call = LlmCall(operation, self.provider.name, request["model"], request, cache_key(request), self.run)
        call.cacheable = known
        run_hooks(self.hooks, "before", call)
        return call

    def _model_digest(self, model: str) -> tuple[str | None, bool]:
        """The provider's digest of `model` (None when it reports none), read once per client; and whether it
        is known. A failed read is not remembered: the next call tries again."""
        if not isinstance(self.provider, Fingerprinted):
            return None, True
        with self._digest_lock:
            if model not in self._digests:
                try:
                    self._digests[model] = self.provider.digest(model)
                except Exception:  # noqa: BLE001 - the call itself will meet (and report) what is wrong with the server
                    return None, False
            return self._digests[model], True

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
