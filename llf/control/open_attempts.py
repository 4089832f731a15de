"""Which attempts are still open: what a sweep of per-attempt credentials asks before removing them.

A credential made for an attempt (its Weaviate DB user: llf.runner.vector_key) is removed by the runner when the
attempt ends; one a dead worker left behind is removed by the next run, once the attempt's row says it is over.
"""

from __future__ import annotations

from collections.abc import Collection

from llf.db import transaction

RUNNING_AMONG_SQL = "SELECT log_id FROM cntl_af.cntl_cfg_log WHERE log_id = ANY(%s) AND status = 'RUNNING'"


def closed_attempts(url: str, log_ids: Collection[int]) -> set[int]:
    """Those of `log_ids` whose attempt is over: its row closed (any status but RUNNING), or no row at all."""
    if not log_ids:
        return set()
    with transaction(url) as cursor:
        cursor.execute(RUNNING_AMONG_SQL, (list(log_ids),))
        running = {row[0] for row in cursor.fetchall()}
    return set(log_ids) - running
