"""The latest status of every registered process: what `llf status` and the UI show."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from rich.table import Table
from rich.text import Text

from llf.control.model import FAILING, Status
from llf.db import one_row, transaction

STATUS_STYLES: dict[str, str] = {Status.SUCCESS: "green", Status.FAILED: "bold red", Status.BLOCKED: "red",
                                  Status.RUNNING: "yellow", Status.SKIPPED: "dim"}

# One statement: registrations left-joined to each process's deciding attempt (for the date, when given, else
# the latest business date it ran for), its LLM token total and its last progress line. A SKIPPED attempt
# decides nothing (the process was already done, or a failure stopped its stream): the newest other attempt of
# that date is shown, the SKIPPED one only when there is no other.
STATUS_SQL = """
SELECT s.strem_nm, g.prcs_grp_nm, p.prcs_nm, l.business_date, l.status, l.start_ts, l.end_ts,
       coalesce(u.tokens, 0), coalesce(pr.message, l.message), l.output_path, l.run_id, l.dag_id
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


@dataclass(frozen=True)
class ProcessStatus:
    strem_nm: str
    prcs_grp_nm: str
    prcs_nm: str
    business_date: dt.date | None
    status: str | None
    start_ts: dt.datetime | None
    end_ts: dt.datetime | None
    tokens: int
    message: str | None
    output_path: str | None
    run_id: str | None
    dag_id: str | None  # the Airflow DAG of that attempt: the stream's, or the process's own

    @property
    def duration(self) -> dt.timedelta | None:
        return self.end_ts - self.start_ts if self.start_ts and self.end_ts else None


def latest_statuses(url: str, *, stream: str | None = None, business_date: dt.date | None = None,
                    ) -> list[ProcessStatus]:
    """Every active process with its deciding attempt (None fields when it never ran); see STATUS_SQL."""
    with transaction(url) as cursor:
        cursor.execute(STATUS_SQL, {"stream": stream, "date": business_date})
        return [ProcessStatus(*row) for row in cursor.fetchall()]


def stream_is_registered(url: str, strem_nm: str) -> bool:
    """Whether a stream of that name is in cntl_cfg_strem, active or not: tells a mistyped --stream apart
    from a stream with nothing to show."""
    with transaction(url) as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM cntl_af.cntl_cfg_strem WHERE strem_nm = %s)", (strem_nm,))
        return one_row(cursor)[0]


def format_duration(elapsed: dt.timedelta | float | None) -> str:
    """How long an attempt took, the same in the CLI and the UI: '0.9s', '12s', '3m05s', '2h04m'.

    Tenths below ten seconds: most notebook runs take a second or two, and a cut to whole seconds would
    print a one-second run as 0.
    """
    if elapsed is None:
        return ""
    seconds = elapsed.total_seconds() if isinstance(elapsed, dt.timedelta) else float(elapsed)
    if seconds < 9.95:
        return f"{max(seconds, 0.0):.1f}s"
    minutes, rest = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


def any_failed(rows: Sequence[ProcessStatus]) -> bool:
    return any(row.status in FAILING for row in rows)


def status_table(rows: Sequence[ProcessStatus], title: str) -> Table:
    """The `llf status` table: one row per process, its newest attempt's status coloured.

    Every cell is a rich Text, never markup: names and messages come from users and notebooks, and a
    message such as "expected [/data]" must print as written instead of failing as a closing tag.
    """
    table = Table(title=title)
    for column in ("stream", "group", "process", "date", "status", "duration", "tokens", "message"):
        table.add_column(column, overflow="fold")
    for row in rows:
        status = row.status or "never ran"
        table.add_row(
            Text(row.strem_nm), Text(row.prcs_grp_nm), Text(row.prcs_nm), Text(str(row.business_date or "")),
            Text(status, style=STATUS_STYLES.get(status, "")),
            Text(format_duration(row.duration)), Text(str(row.tokens or "")),
            Text((row.message or "")[:120]),
        )
    return table
