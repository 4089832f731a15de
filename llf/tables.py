"""The run log on a terminal: the status colours and the `llf status` table, shared by the CLI and local mode's
demo (both print it). Here, not in llf.control: the control layer reads rows, it does not draw them."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text

from llf.control.model import LogEntry, Status
from llf.control.status import ProcessStatus
from llf.text import format_duration

STATUS_STYLES = {Status.SUCCESS: "green", Status.FAILED: "bold red", Status.BLOCKED: "red", Status.RUNNING: "yellow",
                 Status.SKIPPED: "dim"}


def status_table(rows: Sequence[ProcessStatus], title: str) -> Table:
    """The `llf status` table: one row per process, its newest attempt's status coloured.

    Every cell is a rich Text, never markup: names and messages come from users and notebooks, and a
    message such as "expected [/data]" must print as written instead of failing as a closing tag.
    """
    table = Table(title=title)
    for column in ("stream", "group", "process", "date", "status", "duration", "tokens", "message"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(Text(row.strem_nm), Text(row.prcs_grp_nm), Text(row.prcs_nm), *_attempt_cells(row.latest))
    return table


def _attempt_cells(entry: LogEntry | None) -> list[Text]:
    """date, status, duration, tokens and message of the deciding attempt; "never ran" without one."""
    if entry is None:
        return [Text(""), Text("never ran"), Text(""), Text(""), Text("")]
    return [Text(str(entry.business_date)), Text(entry.status, style=STATUS_STYLES[entry.status]),
            Text(format_duration(entry.duration)), Text(str(entry.tokens or "")), Text(_message(entry))]


def _message(entry: LogEntry) -> str:
    """The attempt's message, led by the stream run that asked for it when it ran as another stream's dependency
    (run identity: such an attempt is filed under its own stream, linked to the asker by rqst_strem_*)."""
    if entry.rqst_strem_nm is not None and entry.rqst_strem_nm != entry.strem_nm:
        return f"asked by stream {entry.rqst_strem_nm} (run {entry.rqst_strem_run_id}): {entry.message[:120]}"
    return entry.message[:120]
