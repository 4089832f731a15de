"""Run tokens (cntl_af.cntl_run_token): what the trigger of a process DAG run vouched for.

A stream task that falls back to a process DAG, and a dependant's dependency task, mint a token for the run they
trigger; the run's tasks present it, and are filed under a stream run only when its row names exactly that one.
Only the token's SHA-256 is stored: the token itself is in the conf of its run alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import astuple, dataclass, fields

from llf.context import TriggeredBy
from llf.db import transaction

TOKEN_LIFETIME = dt.timedelta(days=7)
"""How long a token vouches for its run: retries and clears of the run within a week pass; later, the stream's
task is to be cleared instead (which mints a new one). Bound to one run id, a token cannot serve another run,
so the limit is about late clears and the table's size, not about reuse."""

KEPT_AFTER_EXPIRY = dt.timedelta(days=30)  # expired rows kept this long, so a refusal can say "expired"


@dataclass(frozen=True)
class RunGrant:
    """What one token vouches for: the run (process, run id, date), where it is filed, and who asked for it."""

    prcs_nm: str
    run_id: str
    business_date: dt.date
    strem_nm: str | None
    strem_run_id: str | None
    triggered_by: TriggeredBy  # stream or dependency: who triggered the run
    rqst_strem_nm: str | None
    rqst_strem_run_id: str | None
    rqst_prcs_nm: str | None
    rqst_run_id: str


_COLUMNS = ", ".join(field.name for field in fields(RunGrant))

MINT_SQL = f"""
INSERT INTO cntl_af.cntl_run_token (token_sha256, {_COLUMNS}, expires_ts)
VALUES (%s, {", ".join(["%s"] * len(fields(RunGrant)))}, now() + %s)
"""

PURGE_SQL = "DELETE FROM cntl_af.cntl_run_token WHERE expires_ts < now() - %s"

# The grant of a token for one run (process and run id), marked used; with whether it has expired.
PRESENTED_SQL = f"""
UPDATE cntl_af.cntl_run_token SET used_ts = coalesce(used_ts, now())
WHERE token_sha256 = %s AND prcs_nm = %s AND run_id = %s
RETURNING {_COLUMNS}, expires_ts <= now()
"""

PROCESS_STREAM_SQL = """
SELECT s.strem_nm FROM cntl_af.cntl_cfg_prcs p
JOIN cntl_af.cntl_cfg_prcs_grp g USING (prcs_grp_id) JOIN cntl_af.cntl_cfg_strem s USING (strem_id)
WHERE p.prcs_nm = %s
"""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def mint(url: str, grant: RunGrant, lifetime: dt.timedelta = TOKEN_LIFETIME) -> str:
    """A new token vouching for `grant`, its hash stored; rows long expired are deleted on the way."""
    token = secrets.token_urlsafe(32)
    with transaction(url) as cursor:
        cursor.execute(PURGE_SQL, (KEPT_AFTER_EXPIRY,))
        cursor.execute(MINT_SQL, (token_hash(token), *astuple(grant), lifetime))
    return token


@dataclass(frozen=True)
class Presented:
    """The grant of a presented token, and whether it had expired."""

    grant: RunGrant
    expired: bool


def presented(url: str, token: str, prcs_nm: str, run_id: str) -> Presented | None:
    """The grant of `token` for this run of this process (marked used), or None when it was minted for none such."""
    with transaction(url) as cursor:
        cursor.execute(PRESENTED_SQL, (token_hash(token), prcs_nm, run_id))
        row = cursor.fetchone()
    if row is None:
        return None
    return Presented(RunGrant(*row[:-1]), bool(row[-1]))


def process_stream(url: str, prcs_nm: str) -> str | None:
    """The stream a process is registered in (through its group); None when it is not registered."""
    with transaction(url) as cursor:
        cursor.execute(PROCESS_STREAM_SQL, (prcs_nm,))
        row = cursor.fetchone()
    return row[0] if row else None
