"""Deterministic embeddings: a hashed bag of words, so texts sharing words are near (testable retrieval)."""

from __future__ import annotations

import hashlib
import math
import re

DIMENSION = 128
_WORD = re.compile(r"[a-z0-9]+")


def embed_text(text: str, dimension: int = DIMENSION) -> list[float]:
    """A unit vector: each word adds ±1 at a position chosen by its hash (signed hashing trick)."""
    vector = [0.0] * dimension
    for word in _WORD.findall(text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        vector[int.from_bytes(digest[:4], "big") % dimension] += 1.0 if digest[4] % 2 else -1.0
    norm = math.sqrt(sum(value * value for value in vector)) or 1.0
    return [value / norm for value in vector]
