"""Attempt tokens: what scopes a notebook's database session to its own attempt and stream.

Every notebook login shares the role llf_notebook, so the database needs a second word to tell stream A's kernel
from stream B's. The runner mints a random token for each attempt before its kernel starts and hands it to the
kernel alone (LLF_ATTEMPT_TOKEN); the SDK sends it when it connects (`session_options`), and the row-level
security of llf/control/sql/0029_attempt_scope.sql lets that session see and write only its attempt's rows.
Only the token's SHA-256 is stored, in a table notebooks cannot read: the database can check a token and never
gives one out. A token dies with its attempt's RUNNING row, however that row is closed.
"""

from __future__ import annotations

import hashlib
import secrets

from llf.db import transaction

TOKEN_SETTING = "llf.attempt_token"
"""The session setting the SDK puts the token in, and cntl_af.attempt_scope() reads."""

TOKEN_BYTES = 32
"""256 random bits: unguessable, so a session can only speak for an attempt whose token it was handed."""

INSERT_TOKEN_SQL = "INSERT INTO cntl_af.cntl_attempt_token (token_hash, log_id) VALUES (%s, %s)"


def token_hash(token: str) -> bytes:
    """What the database keeps of a token (and compares: sha256 of its UTF-8 text)."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def open_attempt_token(url: str, log_id: int) -> str:
    """A new token for the attempt `log_id` (its row RUNNING), stored hashed. Hashed here, not in SQL, so the token
    itself never travels in a statement a server log or pg_stat_activity could show."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with transaction(url) as cursor:
        cursor.execute(INSERT_TOKEN_SQL, (token_hash(token), log_id))
    return token


def session_options(token: str) -> str:
    """libpq's `options` that set the token for a whole session when it connects: sent at startup, so it is not a
    statement (no server log, no pg_stat_activity text for another session to read)."""
    if not token.replace("-", "").replace("_", "").isalnum():
        raise ValueError("an attempt token is URL-safe base64 (secrets.token_urlsafe)")
    return f"-c {TOKEN_SETTING}={token}"
