"""The database itself refuses registrations that can never be right, and documents every column."""

from __future__ import annotations

import psycopg2
import pytest

CONTROL_TABLES = {
    "cntl_cfg_strem", "cntl_cfg_prcs_grp", "cntl_cfg_prcs", "cntl_cfg_sys_file",
    "cntl_cfg_prcs_depn", "cntl_cfg_schedule", "cntl_cfg_log",
}


def test_given_upgraded_schema_then_every_control_table_and_column_has_a_comment(sql):
    tables = sql(
        "SELECT c.relname, obj_description(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'cntl_af' AND c.relkind = 'r'"
    )
    assert {name for name, _ in tables} >= CONTROL_TABLES
    assert all(comment for _, comment in tables), tables
    uncommented = sql(
        "SELECT table_name, column_name FROM information_schema.columns c "
        "WHERE table_schema = 'cntl_af' AND col_description("
        "  format('%I.%I', table_schema, table_name)::regclass, ordinal_position) IS NULL"
    )
    assert uncommented == []


def test_given_a_process_when_registered_with_names_only_then_defaults_fill_the_rest(registry, sql):
    stream = registry.stream("s")
    group = registry.group(stream, "g")
    sql("INSERT INTO cntl_af.cntl_cfg_prcs (prcs_grp_id, prcs_nm) VALUES (%s, 'p')", (group,))
    (row,) = sql("SELECT priority, params, timeout_min, retries, actv_flg FROM cntl_af.cntl_cfg_prcs")
    assert row == (1, {}, 60, 0, True)
    (stream_row,) = sql("SELECT fail_policy, actv_flg FROM cntl_af.cntl_cfg_strem")
    assert stream_row == ("CONTINUE", True)


@pytest.fixture
def two_processes(registry):
    group = registry.group(registry.stream("s"), "g")
    return registry.process(group, "a"), registry.process(group, "b"), group


def test_given_a_process_when_it_depends_on_itself_then_the_database_refuses(registry, two_processes):
    a, _, _ = two_processes
    with pytest.raises(psycopg2.errors.CheckViolation, match="cntl_cfg_prcs_depn_not_self"):
        registry.depend(a, a)


def test_given_a_process_with_a_file_when_a_second_file_is_registered_then_the_database_refuses(
    sql, two_processes
):
    a, _, _ = two_processes
    with pytest.raises(psycopg2.errors.UniqueViolation):
        sql("INSERT INTO cntl_af.cntl_cfg_sys_file (prcs_id, file_path) VALUES (%s, 'other.ipynb')", (a,))


def test_given_a_stream_when_a_duplicate_name_is_registered_then_the_database_refuses(registry):
    registry.stream("twice")
    with pytest.raises(psycopg2.errors.UniqueViolation):
        registry.stream("twice")


def test_given_a_process_when_a_duplicate_name_is_registered_then_the_database_refuses(registry, two_processes):
    _, _, group = two_processes
    with pytest.raises(psycopg2.errors.UniqueViolation):
        registry.process(group, "a")


def test_given_the_log_when_an_unknown_status_is_written_then_the_database_refuses(sql):
    with pytest.raises(psycopg2.errors.CheckViolation):
        sql(
            "INSERT INTO cntl_af.cntl_cfg_log (prcs_nm, business_date, run_id, status) "
            "VALUES ('p', '2026-01-01', 'r', 'DONE')"
        )


@pytest.mark.parametrize(
    ("statement", "error"),
    [
        ("INSERT INTO cntl_af.cntl_cfg_strem (strem_nm) VALUES ('has space')", psycopg2.errors.CheckViolation),
        ("INSERT INTO cntl_af.cntl_cfg_strem (strem_nm, fail_policy) VALUES ('s', 'MAYBE')",
         psycopg2.errors.CheckViolation),
    ],
)
def test_given_a_stream_when_name_or_policy_is_invalid_then_the_database_refuses(sql, statement, error):
    with pytest.raises(error):
        sql(statement)
