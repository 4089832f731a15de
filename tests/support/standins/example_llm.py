"""A deterministic "model" for the example streams, plugged into the Ollama stand-in as its responder.

It reads the prompts the example notebooks send and answers like a small, honest model would, so the
examples' checks mean something: sentiment comes from a keyword lexicon (so the accuracy check against the
labelled sample is a real comparison, not 100 % by construction), recommendations rank the retrieved
candidates by overlap with the purchase history, and answers quote the best-matching excerpt and cite it.
Structured requests are recognised by the title of the JSON schema in Ollama's `format`; `llm.classify`'s
structured-output fallback (title LabelChoice) is answered with one of the labels its enum lists.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

_WORD = re.compile(r"[a-z]+")
STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "do", "does", "for", "from", "how", "i", "in", "is", "it",
    "its", "of", "on", "or", "should", "the", "to", "what", "when", "which", "who", "why", "with", "you",
    "your", "this", "that", "these", "those", "have", "has"
})
POSITIVE = frozenset({
    "excellent", "love", "great", "friendly", "helpful", "fast", "easy", "recommend", "perfect", "good", "happy"
})
NEGATIVE = frozenset({
    "damaged", "never", "disappointing", "terrible", "broke", "refund", "high", "slow", "bad", "poor", "rude"
})
HEDGES = frozenset({"though", "but"})
REASK_MARKER = "did not match the required JSON schema"


def _stem(word: str) -> str:
    """A crude stemmer (kneaded -> knead, parts -> part): enough for matching questions to sentences."""
    for suffix in ("ing", "ed", "s"):
        if word.endswith(suffix) and len(word) > len(suffix) + 3:
            return word[: -len(suffix)]
    return word


def _words(text: str) -> set[str]:
    return {_stem(word) for word in _WORD.findall(text.lower()) if word not in STOPWORDS}


def _section(prompt: str, header: str) -> list[str]:
    """The '- ...' or '[...]' lines under `header:` up to the next blank line."""
    lines = prompt.split(f"{header}:", 1)[1].strip("\n").splitlines() if f"{header}:" in prompt else []
    block = []
    for line in lines:
        if not line.strip():
            break
        block.append(line.strip())
    return block


def _field(prompt: str, name: str) -> str:
    match = re.search(rf"^{name}:\s*(.+)$", prompt, re.MULTILINE)
    return match.group(1).strip() if match else ""


def _asked(messages: list[dict[str, str]]) -> str:
    """The last user turn that is not a re-ask: the text to answer (earlier user turns are few-shot examples)."""
    return next(m["content"] for m in reversed(messages) if m["role"] == "user" and REASK_MARKER not in m["content"])


def sentiment(messages: list[dict[str, str]]) -> str:
    """Lexicon vote; a hedged sentence first gets an off-schema label, fixed when re-asked."""
    asked = _asked(messages)
    sentence = _field(asked, "Sentence") or asked
    words = set(_WORD.findall(sentence.lower()))
    if words & HEDGES and REASK_MARKER not in messages[-1]["content"]:
        return json.dumps({"label": "mixed", "confidence": 0.5})
    score = len(words & POSITIVE) - len(words & NEGATIVE)
    label = "positive" if score > 0 else "negative" if score < 0 else "neutral"
    return json.dumps({"label": label, "confidence": round(min(0.99, 0.6 + 0.15 * abs(score)), 2)})


def recommendations(messages: list[dict[str, str]]) -> str:
    """The candidates sharing most words with what the customer bought, best first, with those words."""
    prompt = messages[-1]["content"]
    history = set().union(*(_words(line) for line in _section(prompt, "Purchase history")))
    wanted = int(_field(prompt, "Number of recommendations") or 3)
    scored = []
    for line in _section(prompt, "Candidates"):
        product_id = line.lstrip("- ").split("|", 1)[0].strip()
        shared = sorted(_words(line) & history)
        scored.append((-len(shared), product_id, shared))
    picks = sorted(scored)[:wanted]
    return json.dumps({"products": [
        {"product_id": product_id, "reason": f"Matches past purchases on: {', '.join(shared) or 'category'}."}
        for _, product_id, shared in picks
    ]})


def cited_answer(messages: list[dict[str, str]]) -> str:
    """The excerpt sentence best matching the question (shared words, rarer words weigh more), citing it."""
    prompt = messages[-1]["content"]
    question = _words(_field(prompt, "Question"))
    sentences = []
    for line in _section(prompt, "Excerpts"):
        chunk_id, _, text = line[1:].partition("] ")
        sentences += [(sentence, chunk_id) for sentence in re.split(r"(?<=[.!?])\s+", text)]
    frequency = Counter(word for sentence, _ in sentences for word in _words(sentence))
    best = (0.0, "", "")
    for sentence, chunk_id in sentences:
        score = sum(1 / frequency[word] for word in _words(sentence) & question)
        if score > best[0]:
            best = (score, sentence, chunk_id)
    if not best[2]:
        return json.dumps({"answer": "The excerpts do not say.", "citations": []})
    return json.dumps({"answer": best[1], "citations": [best[2]]})


def plain_answer(messages: list[dict[str, str]]) -> str:
    """A free-text answer that names the question, so tests can match it."""
    return f"(stand-in model) A short answer to: {messages[-1]['content']}"


POLICIES: dict[str, Callable[[list[dict[str, str]]], str]] = {
    "SentenceSentiment": sentiment,
    "Recommendations": recommendations,
    "CitedAnswer": cited_answer,
}


def label_choice(schema: dict[str, Any], messages: list[dict[str, str]]) -> str:
    """`classify` through structured output: sentiment labels by the lexicon, other label sets by the first
    label the text names (else the first label), always answering in the requested schema."""
    labels = schema["properties"]["label"]["enum"]
    if set(labels) == {"positive", "negative", "neutral"}:
        return sentiment(messages)
    text = _asked(messages).lower()
    named = [label for label in labels if label.lower() in text]
    return json.dumps({"label": (named or labels)[0], "confidence": 0.9 if named else 0.5})


def example_responder(request: dict[str, Any]) -> str:
    """The OllamaBehaviour responder: pick the policy by the requested schema's title."""
    schema = request.get("format")
    title = schema.get("title") if isinstance(schema, dict) else None
    if title == "LabelChoice":
        return label_choice(schema, request["messages"])
    return POLICIES.get(title, plain_answer)(request["messages"])
