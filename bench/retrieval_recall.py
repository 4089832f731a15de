"""Local-mode embeddings, old and new, on the labelled retrieval set tests/services/fixtures/retrieval.json
(30 product descriptions, 5 for each of 6 topics; 6 queries, one per topic):
(a) all-MiniLM-L6-v2, int8 ONNX on onnxruntime, what local mode embeds with now (llf.services.llm.local_embedder);
(b) gemma-3-270m's mean-pooled, L2-normalised hidden states through llama.cpp, what it embedded with before
    (the packaged GGUF loaded with `embedding=True, pooling_type=MEAN` and `Llama.embed(normalize=True)`, as the
    old `LlamaCppProvider.embed` did).

recall@5 of a query: of the documents of its topic (the relevant ones), the share found among the 5 documents
nearest to it by cosine; the number printed is its mean over the queries (1.0: every query's 5 nearest documents
are its topic's 5; 1/6 is what a random ranking scores). With 5 relevant documents a query, recall@5 is also
precision@5.
Times are wall clock on this machine, so the load average printed beside them says how busy it was.

Run: .venv/bin/python bench/retrieval_recall.py [--threads N]   (needs the local extra: requirements/dev.lock)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from llf.services.llm import local_embedder
from llf.services.llm.llamacpp_provider import default_threads, model_path
from llf.services.llm.settings import LOCAL_EMBED_MODEL, LlmSettings

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "services" / "fixtures" / "retrieval.json"
K = 5

Embed = Callable[[list[str]], list[list[float]]]


def recall_at_k(documents: list[dict], queries: list[dict], vectors: dict[str, list[float]], k: int = K) -> list[float]:
    """Each query's |relevant ∩ k nearest| / |relevant|, nearest by cosine (the vectors are unit)."""
    scores = []
    for query in queries:
        target = vectors[query["text"]]
        nearest = sorted(documents, key=lambda doc: -_dot(target, vectors[doc["text"]]))
        relevant = {doc["id"] for doc in documents if doc["topic"] == query["topic"]}
        scores.append(len(relevant & {doc["id"] for doc in nearest[:k]}) / len(relevant))
    return scores


def _dot(left: list[float], right: list[float]) -> float:
    return sum(a * b for a, b in zip(left, right, strict=True))


def minilm(threads: int) -> Embed:
    return lambda texts: local_embedder.embed(texts, threads)[0]


def gemma(threads: int) -> Embed:
    """The old local embedding: the chat GGUF in llama.cpp's embedding mode, mean pooling, L2 normalisation."""
    import llama_cpp

    llama = llama_cpp.Llama(
        model_path=model_path(None), n_ctx=LlmSettings.llamacpp_context, n_threads=threads, verbose=False,
        embedding=True, pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
    )
    return lambda texts: [[float(value) for value in vector] for vector in llama.embed(texts, normalize=True)]


def measure(name: str, load: Callable[[int], Embed], threads: int, documents: list[dict], queries: list[dict]) -> None:
    started = time.perf_counter()
    embed = load(threads)
    embed(["warm up"])  # MiniLM loads lazily on its first call: count that as loading, as for gemma
    loaded = time.perf_counter()
    texts = [doc["text"] for doc in documents] + [query["text"] for query in queries]
    vectors = dict(zip(texts, embed(texts), strict=True))
    done = time.perf_counter()
    recalls = recall_at_k(documents, queries, vectors)
    dimension = len(next(iter(vectors.values())))
    print(f"{name:<30} recall@{K} {sum(recalls) / len(recalls):.3f}  dim {dimension:<4} "
          f"load {loaded - started:5.2f} s  embed {len(texts)} texts {done - loaded:5.2f} s  "
          f"load average {_load_average()}", flush=True)
    print(f"{'':<30} per query: " + " ".join(f"{q['topic']} {r:.1f}" for q, r in zip(queries, recalls, strict=True)),
          flush=True)


def _load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=int(os.environ.get("LLF_LLAMACPP_THREADS") or 0) or None)
    threads = parser.parse_args().threads or default_threads()
    fixture = json.loads(FIXTURE.read_text(encoding="utf-8"))
    documents, queries = fixture["documents"], fixture["queries"]
    print(f"{len(documents)} documents, {len(queries)} queries, {threads} thread(s), {os.cpu_count()} cores, "
          f"load average {_load_average()} (1, 5, 15 min)", flush=True)
    measure(f"(a) {LOCAL_EMBED_MODEL}", minilm, threads, documents, queries)
    measure("(b) gemma-3-270m hidden states", gemma, threads, documents, queries)


if __name__ == "__main__":
    main()
