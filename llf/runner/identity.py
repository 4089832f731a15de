"""Run identity from the scheduler, not from the caller: which stream run a process DAG run is filed under.

A process DAG run's conf is written by whoever triggered it, and anyone allowed to trigger that DAG may write
any conf. So the stream fields of a conf count only when the trigger that started the run vouched for them:
the two triggers llf generates (a stream task falling back to its process DAG, a dependant's dependency task)
mint a run token for the run they start, whose run id they choose (llf.control.run_tokens), and the run's tasks
present it. A conf naming a stream run with no token, or with one minted for another run, process, date or
stream run, is refused before any row is written (RunIdentityRefused); a conf with neither is a standalone run,
as a plain manual trigger always was.

A dependency is filed under its own process's stream: within the asking stream run when that is its stream,
else under no stream run, linked to the stream run that asked (rqst_strem_nm, rqst_strem_run_id). So a stream's
readers see their own processes' notebooks and rows, never another stream's that one of theirs depended on.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import NoReturn

from llf.context import RunContext
from llf.control import run_tokens
from llf.control.model import process_dag_id
from llf.control.run_tokens import RunGrant
from llf.exceptions import RunIdentityRefused
from llf.runner.run_rule import stream_run_served


@dataclass(frozen=True)
class Trigger:
    """A process DAG run to start: what its token vouches for (the run id among it), and the token for its conf."""

    grant: RunGrant
    token: str


def new_run_id(now: dt.datetime | None = None) -> str:
    """A run id in the form Airflow gives a manual trigger's run (its type is inferred from the prefix), chosen
    here because the token is bound to it."""
    moment = (now or dt.datetime.now(dt.UTC)).isoformat()
    return f"manual__{moment}_{secrets.token_hex(4)}"


def for_stream_task(url: str, asker: RunContext) -> Trigger:
    """The token of a stream task's fallback: a run of its own process, filed under its stream run."""
    key = asker.stream_run_key
    if key is None:
        raise ValueError(f"{asker.prcs_nm}: a stream task's run context names its stream and stream run")
    grant = RunGrant(prcs_nm=asker.prcs_nm, run_id=new_run_id(), business_date=key.business_date,
                     strem_nm=key.strem_nm, strem_run_id=key.run_id, triggered_by="stream",
                     rqst_strem_nm=key.strem_nm, rqst_strem_run_id=key.run_id, rqst_prcs_nm=None,
                     rqst_run_id=asker.run_id)
    return Trigger(grant, run_tokens.mint(url, grant))


def for_dependency(url: str, asker: RunContext, dependency: str) -> Trigger:
    """The token of a dependant's run of `dependency`: filed under the dependency's own stream, within the asking
    stream run only when that run is of the same stream; linked to the stream run the asker serves."""
    served = stream_run_served(asker)
    own_stream = run_tokens.process_stream(url, dependency)
    grant = RunGrant(prcs_nm=dependency, run_id=new_run_id(), business_date=asker.business_date,
                     strem_nm=own_stream,
                     strem_run_id=served[1] if served is not None and served[0] == own_stream else None,
                     triggered_by="dependency",
                     rqst_strem_nm=served[0] if served else None, rqst_strem_run_id=served[1] if served else None,
                     rqst_prcs_nm=asker.prcs_nm, rqst_run_id=asker.run_id)
    return Trigger(grant, run_tokens.mint(url, grant))


def vouched(url: str, claim: RunContext, token: str | None) -> RunContext:
    """The run context a process DAG run is filed under: `claim` (what its conf says) once its token vouches for
    exactly its stream run and date, or as a standalone manual run when it names no stream run and has no token.

    RunIdentityRefused otherwise, naming the process and why; nothing is written to the run log.
    """
    if not token:
        if claim.strem_nm is not None or claim.strem_run_id is not None:
            _refuse(claim, "carries no run token: only a stream task or a dependant's trigger may file a run under "
                           "a stream run")
        return claim.model_copy(update={"triggered_by": "manual", "rqst_strem_nm": None, "rqst_strem_run_id": None})
    found = run_tokens.presented(url, token, claim.prcs_nm, claim.run_id)
    if found is None:
        _refuse(claim, f"carries a run token not minted for this run of {process_dag_id(claim.prcs_nm)} (a token "
                       "vouches for the one run its trigger started)")
    grant = found.grant
    if found.expired:
        _refuse(claim, f"carries a run token that expired (they last {run_tokens.TOKEN_LIFETIME.days} days): clear "
                       "the stream's task instead, which triggers a new run")
    vouched_for = (grant.strem_nm, grant.strem_run_id, grant.business_date)
    if (claim.strem_nm, claim.strem_run_id, claim.business_date) != vouched_for:
        _refuse(claim, f"does not match its run token, which vouches for stream {grant.strem_nm}, stream run "
                       f"{grant.strem_run_id} and business date {grant.business_date}")
    asked = grant.triggered_by == "dependency"
    return claim.model_copy(update={"triggered_by": grant.triggered_by,
                                    "rqst_strem_nm": grant.rqst_strem_nm if asked else None,
                                    "rqst_strem_run_id": grant.rqst_strem_run_id if asked else None})


def _refuse(claim: RunContext, why: str) -> NoReturn:
    raise RunIdentityRefused(
        f"{claim.prcs_nm}: the run's conf names stream run {claim.strem_run_id} of stream {claim.strem_nm} for "
        f"{claim.business_date} but {why}; nothing was run or recorded. To run {claim.prcs_nm} on its own, "
        f"trigger {process_dag_id(claim.prcs_nm)} without strem_nm and strem_run_id.")
