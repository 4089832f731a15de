"""reused_connections: one session for a run of short transactions, each still committed on its own."""

from __future__ import annotations

import psycopg2
import pytest

from llf.db import reused_connections, transaction


def _backend(url: str) -> int:
    with transaction(url) as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_given_a_block_then_its_transactions_share_one_session_and_each_commits(control_db_url, sql):
    sql("CREATE TABLE t (n int)")
    with reused_connections():
        first = _backend(control_db_url)
        with transaction(control_db_url) as cursor:
            cursor.execute("INSERT INTO t VALUES (1)")
        assert sql("SELECT n FROM t") == [(1,)]  # visible to others before the block ends
        assert _backend(control_db_url) == first
    assert _backend(control_db_url) != first  # outside the block, a connection per transaction


def test_given_a_failed_transaction_then_it_is_rolled_back_and_the_session_serves_the_next(control_db_url, sql):
    sql("CREATE TABLE t (n int)")
    with reused_connections():
        first = _backend(control_db_url)
        with pytest.raises(psycopg2.errors.DivisionByZero), transaction(control_db_url) as cursor:
            cursor.execute("INSERT INTO t VALUES (1)")
            cursor.execute("SELECT 1 / 0")
        assert _backend(control_db_url) == first
    assert sql("SELECT n FROM t") == []


def test_given_close_or_a_killed_session_then_the_next_transaction_opens_a_new_one(control_db_url, sql):
    with reused_connections() as reused:
        first = _backend(control_db_url)
        reused.close()  # before a long wait
        second = _backend(control_db_url)
        assert second != first
        sql("SELECT pg_terminate_backend(%s)", (second,))
        with pytest.raises(psycopg2.OperationalError):
            _backend(control_db_url)
        assert _backend(control_db_url) not in (first, second)


def test_given_nested_blocks_then_the_inner_shares_the_outer_session(control_db_url):
    with reused_connections() as outer:
        first = _backend(control_db_url)
        with reused_connections() as inner:
            assert inner is outer and _backend(control_db_url) == first
        assert _backend(control_db_url) == first
