"""The run context: what a process run knows about itself, passed from Airflow conf to the notebook.

At the bottom of llf's layers (beside settings, db and exceptions): the run log, the services, the runner
and the notebook SDK all speak of a run, so none of them has to import another to name it.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from llf.exceptions import ConfigurationError

RUN_CONTEXT_ENV = "LLF_RUN_CONTEXT"
INTERACTIVE = "interactive"  # prcs_nm and run_id of a notebook run by hand, outside the runner

TriggeredBy = Literal["stream", "dependency", "manual"]


@dataclass(frozen=True)
class StreamRunKey:
    """One run of a stream DAG, as its stream-level log row and advisory lock know it.

    Airflow's run id names the run (by stream too: scheduled runs of two streams on the same cron share
    it); the business date is the run's, every process task of it computing the same one. One value, so
    the three never travel loose, nor in a different order from one call to the next.
    """

    strem_nm: str
    run_id: str
    business_date: dt.date


class RunContext(BaseModel):
    """Everything a process run is told. Serialised as JSON into LLF_RUN_CONTEXT for the notebook kernel."""

    model_config = ConfigDict(frozen=True)

    strem_nm: str | None = None
    prcs_nm: str
    business_date: dt.date
    run_id: str
    strem_run_id: str | None = None
    dag_id: str | None = None
    task_id: str | None = None
    try_number: int = 1
    full_rerun: bool = False
    triggered_by: TriggeredBy = "manual"
    output_path: str | None = None
    params: dict = {}
    log_id: int | None = None
    # Where Airflow ran the task: its TaskInstance's hostname (Airflow's [core] hostname_callable, so two
    # workers on one machine differ) and the Celery queue it was sent to. None outside Airflow (`llf run`).
    hostname: str | None = None
    queue_nm: str | None = None
    # The stream run that asked for this run as a dependency of one of its processes, when the process is another
    # stream's: the attempt is filed under its own stream (strem_nm, no strem_run_id) and linked to the asker here.
    # Both come from the run token its trigger minted (llf.runner.identity), never from the caller's conf.
    rqst_strem_nm: str | None = None
    rqst_strem_run_id: str | None = None

    @property
    def worker_host(self) -> str:
        """The host every record of this attempt names (log row, unstored outputs, notebook checks): Airflow's
        name for it when it ran the task, else this machine's, so the sentences agree with the row."""
        return self.hostname or socket.gethostname()

    @property
    def stream_run_key(self) -> StreamRunKey | None:
        """The stream run this process run belongs to; None outside one (a manual or standalone run)."""
        if not self.strem_nm or not self.strem_run_id:
            return None
        return StreamRunKey(self.strem_nm, self.strem_run_id, self.business_date)


def current_run_context() -> RunContext:
    """The run context the runner put in LLF_RUN_CONTEXT; in plain Jupyter an 'interactive' one for today.

    Here, not in the notebook SDK, because the services (the LLM client records usage against the run)
    need it too, and the SDK imports the services.
    """
    raw = os.environ.get(RUN_CONTEXT_ENV)
    if not raw:
        return RunContext(prcs_nm=INTERACTIVE, business_date=dt.date.today(), run_id=INTERACTIVE)
    try:
        return RunContext.model_validate_json(raw)
    except ValidationError as error:
        raise ConfigurationError(f"{RUN_CONTEXT_ENV} is not a valid run context: {error}") from error
