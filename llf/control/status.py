"""The latest status of every registered process: what `llf status` and the UI show (their tables are theirs)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from llf.control.model import LogEntry, Status, rows_by_name
from llf.db import one_row, transaction

# One statement: registrations left-joined to each process's deciding attempt (for the date, when given, else
# the latest business date it ran for), its LLM token total and its last progress line. A SKIPPED attempt
# decides nothing (the process was already done, or a failure stopped its stream): the newest other attempt of
# that date is shown, the SKIPPED one only when there is no other. The registration's names are aliased
# (registered_*): the attempt's own columns keep theirs, for LogEntry.
STATUS_SQL = """
SELECT s.strem_nm AS registered_strem_nm, g.prcs_grp_nm AS registered_prcs_grp_nm, p.prcs_nm AS registered_prcs_nm,
       l.log_id, l.strem_nm, l.prcs_nm, l.business_date, l.run_id, l.strem_run_id, l.dag_id, l.task_id,
       l.try_number, l.status, coalesce(pr.message, l.message) AS message, l.start_ts, l.end_ts, l.output_path,
       l.rqst_strem_nm, l.rqst_strem_run_id,
       coalesce(u.tokens, 0) AS tokens
FROM cntl_af.cntl_cfg_prcs p
JOIN cntl_af.cntl_cfg_prcs_grp g ON g.prcs_grp_id = p.prcs_grp_id
JOIN cntl_af.cntl_cfg_strem s ON s.strem_id = g.strem_id
LEFT JOIN LATERAL (
    SELECT * FROM cntl_af.cntl_cfg_log x
    WHERE x.prcs_nm = p.prcs_nm AND (%(date)s::date IS NULL OR x.business_date = %(date)s::date)
    ORDER BY x.business_date DESC, x.status = 'SKIPPED', x.log_id DESC LIMIT 1
) l ON true
LEFT JOIN LATERAL (
    SELECT sum(prompt_tokens + completion_tokens) AS tokens FROM cntl_af.cntl_llm_usage WHERE log_id = l.log_id
) u ON true
LEFT JOIN LATERAL (
    SELECT message FROM cntl_af.cntl_prcs_progress
    WHERE log_id = l.log_id AND l.status = 'RUNNING' ORDER BY progress_id DESC LIMIT 1
) pr ON true
WHERE p.actv_flg AND g.actv_flg AND s.actv_flg AND (%(stream)s::text IS NULL OR s.strem_nm = %(stream)s)
ORDER BY s.strem_nm, g.priority, g.prcs_grp_nm, p.priority, p.prcs_nm
"""

STREAM_IS_REGISTERED_SQL = "SELECT EXISTS (SELECT 1 FROM cntl_af.cntl_cfg_strem WHERE strem_nm = %s)"


@dataclass(frozen=True)
class ProcessStatus:
    """A registered active process and the attempt that decides its status: None when it never ran (for the
    date). A pair, not a LogEntry with every field optional, so a row that exists is never half empty."""

    strem_nm: str
    prcs_grp_nm: str
    prcs_nm: str
    latest: LogEntry | None  # with its tokens, and its last progress line as message while it runs

    @property
    def status(self) -> Status | None:
        """The latest attempt's status; None when the process never ran."""
        return self.latest.status if self.latest else None


def latest_statuses(url: str, *, stream: str | None = None, business_date: dt.date | None = None,
                    ) -> list[ProcessStatus]:
    """Every active process with its deciding attempt (None when it never ran); see STATUS_SQL."""
    with transaction(url) as cursor:
        cursor.execute(STATUS_SQL, {"stream": stream, "date": business_date})
        rows = rows_by_name(cursor)
    return [ProcessStatus(row["registered_strem_nm"], row["registered_prcs_grp_nm"], row["registered_prcs_nm"],
                          None if row["log_id"] is None else LogEntry.model_validate(row)) for row in rows]


def stream_is_registered(url: str, strem_nm: str) -> bool:
    """Whether a stream of that name is in cntl_cfg_strem, active or not: tells a mistyped --stream apart
    from a stream with nothing to show."""
    with transaction(url) as cursor:
        cursor.execute(STREAM_IS_REGISTERED_SQL, (strem_nm,))
        return bool(one_row(cursor)[0])
