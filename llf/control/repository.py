"""Reads registrations from the control database.

One statement builds the whole snapshot as JSON inside PostgreSQL: one round trip, and one MVCC
snapshot, so a registration committed half-way through can never be seen half.
"""

from __future__ import annotations

from llf.control.model import Snapshot
from llf.db import connect

_TABLES = {
    "streams": ("cntl_cfg_strem", "strem_id"),
    "groups": ("cntl_cfg_prcs_grp", "prcs_grp_id"),
    "processes": ("cntl_cfg_prcs", "prcs_id"),
    "system_files": ("cntl_cfg_sys_file", "sys_file_id"),
    "dependencies": ("cntl_cfg_prcs_depn", "prcs_id, depn_prcs_id"),
    "schedules": ("cntl_cfg_schedule", "schedule_id"),
}

# Built from the constant table list above, never from user input.
SNAPSHOT_SQL = "SELECT json_build_object('taken_at', now(), {}) ".format(
    ", ".join(
        f"'{key}', (SELECT coalesce(json_agg(t ORDER BY {order}), '[]'::json) FROM cntl_af.{table} t)"
        for key, (table, order) in _TABLES.items()
    )
)


def read_snapshot(url: str) -> Snapshot:
    """All registrations, active or not, as one consistent snapshot."""
    connection = connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(SNAPSHOT_SQL)
            (document,) = cursor.fetchone()
    finally:
        connection.close()
    return Snapshot.model_validate(document)
