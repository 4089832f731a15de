"""Classification by the model's likelihood, or by structured output where the provider cannot score.

A small base model asked to *write* a label (gemma-3-270m on llama.cpp) answered "positive" for almost every
sentence; the same model's probabilities for each label, read after the prompt, tell the labels apart far
better. Those probabilities carry the prompt's own bias (its last examples, the label words' frequency), so by
default they are calibrated as in Zhao et al. 2021, "Calibrate Before Use": divided by the probabilities the
same prompt gives content-free texts ("N/A", "", "[MASK]"), which measure the bias alone.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from pydantic import BaseModel, Field, create_model

LIKELIHOOD = "likelihood"
STRUCTURED = "structured"
CONTENT_FREE = ("N/A", "", "[MASK]")
DEFAULT_INSTRUCTION = "Classify the text as one of: {labels}."


@dataclass(frozen=True)
class Classification:
    """The label chosen among the caller's, how sure the model is, and how the label was chosen.

    `method` "likelihood": `probabilities` are the model's (calibrated) probabilities of each label, renormalised
    over the labels, and `confidence` is the chosen label's. "structured": the model wrote the label in JSON and
    `confidence` is the figure it wrote beside it, a self-report rather than a measured probability.
    """

    label: str
    confidence: float
    method: str
    probabilities: dict[str, float] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Classification:
        return cls(**json.loads(text))


def checked_labels(labels: Sequence[str]) -> list[str]:
    """The labels as a list; at least two, distinct and not blank, or there is nothing to choose."""
    chosen = [str(label) for label in labels]
    if len(chosen) < 2 or len(set(chosen)) != len(chosen) or not all(label.strip() for label in chosen):
        raise ValueError(f"classify needs at least two distinct, non-blank labels; got {chosen!r}.")
    return chosen


def classification_messages(
    text: str,
    labels: Sequence[str],
    instruction: str | None,
    examples: Sequence[tuple[str, str]],
    template: str,
) -> list[dict[str, str]]:
    """The conversation the model answers with a label: the instruction, each example as a turn answered with
    its label (so the model sees the exact answer form expected), then `text`; texts shown through `template`."""
    unknown = sorted({label for _, label in examples} - set(labels))
    if unknown:
        raise ValueError(f"classify examples use labels {unknown} that are not among {list(labels)}.")
    system = instruction or DEFAULT_INSTRUCTION.format(labels=", ".join(labels))
    messages = [{"role": "system", "content": system}]
    for example, label in examples:
        messages += [
            {"role": "user", "content": template.format(text=example)},
            {"role": "assistant", "content": label},
        ]
    return [*messages, {"role": "user", "content": template.format(text=text)}]


def example_orders(examples: Sequence[tuple[str, str]], count: int) -> list[list[tuple[str, str]]]:
    """The examples as given, rotated by half, reversed: the first `count` (1 to 3) distinct orders.

    A small model's answer leans on the examples it read last (Lu et al. 2022, "Fantastically Ordered Prompts");
    scores averaged over orders that end on different examples lean less. Without examples one order remains.
    """
    if not 1 <= count <= 3:
        raise ValueError(f"classify orders must be 1, 2 or 3; got {count}.")
    given = list(examples)
    half = len(given) // 2
    orders: list[list[tuple[str, str]]] = []
    for order in (given, given[half:] + given[:half], given[::-1])[:count]:
        if order not in orders:
            orders.append(order)
    return orders


def mean_scores(runs: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Per label, the mean of its scores over several runs."""
    return {label: math.fsum(run[label] for run in runs) / len(runs) for label in runs[0]}


def by_likelihood(logprobs: Mapping[str, float], baseline: Mapping[str, float]) -> Classification:
    """The most probable label once the prompt's bias (`baseline`, log-probabilities) is taken out.

    Probabilities are a softmax over the labels' calibrated log-scores; ties go to the earlier label.
    """
    scores = {label: logprobs[label] - baseline.get(label, 0.0) for label in logprobs}
    probabilities = {label: math.exp(score) for label, score in _log_softmax(scores).items()}
    label = max(scores, key=scores.__getitem__)  # first of equal maxima, in the caller's label order
    return Classification(label, probabilities[label], LIKELIHOOD, probabilities)


def content_free_baseline(runs: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Per label, the log of its mean probability over the content-free prompts, each run first renormalised
    over the labels: Zhao et al.'s p_cf, by which the label probabilities are divided."""
    normalised = [_log_softmax(run) for run in runs]
    return {label: math.log(math.fsum(math.exp(run[label]) for run in normalised) / len(runs)) for label in runs[0]}


def _log_softmax(scores: Mapping[str, float]) -> dict[str, float]:
    top = max(scores.values())
    total = top + math.log(math.fsum(math.exp(score - top) for score in scores.values()))
    return {label: score - total for label, score in scores.items()}


class LabelAnswer(BaseModel):
    """What every label_schema model holds, for the type checker: its fields are made per call."""

    label: str
    confidence: float


def label_schema(labels: Sequence[str]) -> type[LabelAnswer]:
    """The structured-output fallback: the label as an enum of the caller's labels, and a confidence.

    The enum is what Ollama's `format` and OpenAI's `json_schema` constrain decoding to; an answer outside it
    fails validation and is re-asked like any schema answer.
    """
    return create_model(
        "LabelChoice",
        __base__=LabelAnswer,  # the same fields, re-declared narrower: the same JSON schema
        # A Literal of the caller's labels exists only at run time: no static type can name it.
        label=(Literal[tuple(labels)], Field(description="one of the labels")),  # type: ignore[arg-type]
        confidence=(float, Field(ge=0, le=1, description="how sure you are, from 0 to 1")),
    )
