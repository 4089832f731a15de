"""The run context: what a process run knows about itself, passed from Airflow conf to the notebook."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict

RUN_CONTEXT_ENV = "LLF_RUN_CONTEXT"

TriggeredBy = Literal["stream", "dependency", "manual"]


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
