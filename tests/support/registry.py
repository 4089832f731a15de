"""Registering work the way users do: parameterised INSERTs into the control tables."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg2

Run = Callable[..., list[tuple]]


@dataclass
class Registry:
    run: Run

    def _insert(self, table: str, key: str, columns: dict[str, Any]) -> int:
        names = ", ".join(columns)
        marks = ", ".join(["%s"] * len(columns))
        (row,) = self.run(
            f"INSERT INTO cntl_af.{table} ({names}) VALUES ({marks}) RETURNING {key}",
            tuple(columns.values()),
        )
        return row[0]

    def stream(self, name: str, *, fail_policy: str = "CONTINUE", active: bool = True,
               description: str = "") -> int:
        return self._insert("cntl_cfg_strem", "strem_id", {
            "strem_nm": name, "fail_policy": fail_policy, "actv_flg": active, "strem_desc": description})

    def group(self, stream_id: int, name: str, *, priority: int = 1, max_parallel: int = 1,
              active: bool = True) -> int:
        return self._insert("cntl_cfg_prcs_grp", "prcs_grp_id", {
            "strem_id": stream_id, "prcs_grp_nm": name, "priority": priority,
            "max_parallel": max_parallel, "actv_flg": active})

    def process(self, group_id: int, name: str, *, priority: int = 1, params: Any = None,
                notebook: str | None = "ok.ipynb", active: bool = True, timeout_min: int = 60,
                retries: int = 0) -> int:
        prcs_id = self._insert("cntl_cfg_prcs", "prcs_id", {
            "prcs_grp_id": group_id, "prcs_nm": name, "priority": priority,
            "params": json.dumps({} if params is None else params), "actv_flg": active,
            "timeout_min": timeout_min, "retries": retries})
        if notebook is not None:
            self._insert("cntl_cfg_sys_file", "sys_file_id", {"prcs_id": prcs_id, "file_path": notebook})
        return prcs_id

    def depend(self, prcs_id: int, on_prcs_id: int, *, active: bool = True) -> None:
        self.run(
            "INSERT INTO cntl_af.cntl_cfg_prcs_depn (prcs_id, depn_prcs_id, actv_flg) VALUES (%s, %s, %s)",
            (prcs_id, on_prcs_id, active),
        )

    def schedule(self, stream_id: int, cron_expr: str, timezone: str = "UTC") -> int:
        return self._insert("cntl_cfg_schedule", "schedule_id", {
            "strem_id": stream_id, "cron_expr": cron_expr, "timezone": timezone})


@contextmanager
def sql_runner(url: str) -> Iterator[Run]:
    """A `run(statement, parameters)` on one autocommit connection: every statement is committed at once.

    A connection the server dropped (tests/e2e/test_drill_db_restart.py restarts it) is opened again and
    the statement sent once more, so one session-wide runner outlives the drill.
    """
    connection = _autocommit(url)

    def execute(statement: str, parameters: tuple | dict | None) -> list[tuple]:
        with connection.cursor() as cursor:
            cursor.execute(statement, parameters)
            return cursor.fetchall() if cursor.description else []

    def run(statement: str, parameters: tuple | dict | None = None) -> list[tuple]:
        nonlocal connection
        try:
            return execute(statement, parameters)
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            if not connection.closed:
                raise
            connection = _autocommit(url)
            return execute(statement, parameters)

    try:
        yield run
    finally:
        connection.close()


def _autocommit(url: str) -> psycopg2.extensions.connection:
    connection = psycopg2.connect(url)
    connection.autocommit = True
    return connection
