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


# What llf/control/sql/0023 refuses, each with the constraint that names it (bounds: llf/control/model.py).
OUT_OF_BOUNDS = {
    "timeout_nan": ("UPDATE cntl_af.cntl_cfg_prcs SET timeout_min = 'NaN'", "cntl_cfg_prcs_timeout_min_range"),
    "timeout_infinity": ("UPDATE cntl_af.cntl_cfg_prcs SET timeout_min = 'Infinity'",
                         "cntl_cfg_prcs_timeout_min_range"),
    "timeout_over_a_week": ("UPDATE cntl_af.cntl_cfg_prcs SET timeout_min = 10080.5",
                            "cntl_cfg_prcs_timeout_min_range"),
    "retries_101": ("UPDATE cntl_af.cntl_cfg_prcs SET retries = 101", "cntl_cfg_prcs_retries_range"),
    "params_33_deep": ("UPDATE cntl_af.cntl_cfg_prcs "
                       "SET params = (repeat('{\"k\": ', 33) || '1' || repeat('}', 33))::jsonb",
                       "cntl_cfg_prcs_params_depth"),
    "process_owner_2001_chars": ("UPDATE cntl_af.cntl_cfg_prcs SET owner_nm = repeat('o', 2001)",
                                 "cntl_cfg_prcs_owner_nm_length"),
    "stream_owner_2001_chars": ("UPDATE cntl_af.cntl_cfg_strem SET owner_nm = repeat('o', 2001)",
                                "cntl_cfg_strem_owner_nm_length"),
    "max_parallel_65": ("UPDATE cntl_af.cntl_cfg_prcs_grp SET max_parallel = 65",
                        "cntl_cfg_prcs_grp_max_parallel_range"),
    "group_finish_stream": ("UPDATE cntl_af.cntl_cfg_prcs_grp SET prcs_grp_nm = 'finish_stream'",
                            "cntl_cfg_prcs_grp_nm_not_reserved"),
    "group_finish.stream": ("UPDATE cntl_af.cntl_cfg_prcs_grp SET prcs_grp_nm = 'finish.stream'",
                            "cntl_cfg_prcs_grp_nm_not_reserved"),
}


@pytest.mark.parametrize(("statement", "constraint"), OUT_OF_BOUNDS.values(), ids=OUT_OF_BOUNDS.keys())
def test_given_a_registration_when_set_out_of_bounds_then_the_database_refuses_naming_a_documented_constraint(
    sql, two_processes, statement, constraint
):
    with pytest.raises(psycopg2.errors.CheckViolation) as refused:
        sql(statement)

    assert refused.value.diag.constraint_name == constraint
    (comment,) = sql("SELECT obj_description(oid, 'pg_constraint') FROM pg_constraint WHERE conname = %s",
                     (constraint,))
    assert comment[0]


def test_given_a_registration_when_set_exactly_at_the_bounds_then_the_database_accepts(sql, two_processes):
    sql("UPDATE cntl_af.cntl_cfg_prcs SET timeout_min = 10080, retries = 100, owner_nm = repeat('o', 2000), "
        "params = (repeat('{\"k\": ', 32) || '1' || repeat('}', 32))::jsonb")
    sql("UPDATE cntl_af.cntl_cfg_prcs_grp SET max_parallel = 64, prcs_grp_nm = 'finish_stream_2'")
    (row,) = sql("SELECT min(timeout_min), max(retries) FROM cntl_af.cntl_cfg_prcs")
    assert row == (10080, 100)


def test_given_group_a_dot_b_when_a_b_is_registered_in_its_stream_then_the_trigger_refuses_it_naming_both(
    registry, sql
):
    stream = registry.stream("s")
    registry.group(stream, "a.b")
    registry.group(registry.stream("other"), "a_b")  # another stream: another DAG, no collision
    renamed = registry.group(stream, "c")

    with pytest.raises(psycopg2.errors.UniqueViolation) as inserted:
        registry.group(stream, "a_b")
    with pytest.raises(psycopg2.errors.UniqueViolation) as updated:
        sql("UPDATE cntl_af.cntl_cfg_prcs_grp SET prcs_grp_nm = 'a_b' WHERE prcs_grp_id = %s", (renamed,))

    for refused in (inserted.value, updated.value):
        assert refused.diag.constraint_name == "cntl_cfg_prcs_grp_task_group_id_unique"
        assert "a.b" in refused.diag.message_primary and "a_b" in refused.diag.message_primary
    (comment,) = sql("SELECT obj_description(oid, 'pg_trigger') FROM pg_trigger "
                     "WHERE tgname = 'cntl_cfg_prcs_grp_task_group_id_unique'")
    assert comment[0]


def test_given_a_group_when_its_registration_is_applied_again_with_on_conflict_do_nothing_then_nothing_is_refused(
    registry, sql
):
    stream = registry.stream("s")
    registry.group(stream, "a.b")
    again = ("INSERT INTO cntl_af.cntl_cfg_prcs_grp (strem_id, prcs_grp_nm) VALUES (%s, 'a.b') "
             "ON CONFLICT (strem_id, prcs_grp_nm) DO NOTHING")

    sql(again, (stream,))
    sql(again, (stream,))

    assert sql("SELECT prcs_grp_nm FROM cntl_af.cntl_cfg_prcs_grp WHERE strem_id = %s", (stream,)) == [("a.b",)]
