"""LLM errors: transient ones are retried, the rest say which setting to fix."""

from __future__ import annotations

from llf.exceptions import ConfigurationError, LlfError


class TransientLlmError(LlfError):
    """A failure worth retrying: connection refused, timeout, 429 or 5xx."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class LlmUnavailableError(ConfigurationError):
    """The LLM server stayed unreachable (or kept failing) through every retry."""


class StructuredOutputError(LlfError):
    """The model never produced output matching the requested schema, re-asks included."""
