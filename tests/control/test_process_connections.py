"""cntl_cfg_prcs.conn_ids (llf/control/sql/0028): the Airflow connections a process's notebook may use. The database
refuses ids that could never be resolved and the platform's own connections (in any case: Airflow's environment
backend upper-cases ids), `llf db apply` says why in a sentence, the registration read at run time carries them,
and `llf validate` names a platform connection should the constraint be gone."""

from __future__ import annotations

from pathlib import Path

import psycopg2
import pytest

from llf.cli import main
from llf.control.repository import process_registration, read_snapshot
from tests.support.notebooks import write_notebook


@pytest.fixture
def process(registry, notebooks_dir: Path) -> str:
    write_notebook(notebooks_dir / "ok.ipynb", "print(greeting)")
    registry.process(registry.group(registry.stream("s"), "g"), "p")
    return "p"


def _set(sql, conn_ids) -> None:
    sql("UPDATE cntl_af.cntl_cfg_prcs SET conn_ids = %s::text[] WHERE prcs_nm = 'p'", (conn_ids,))


def test_given_a_process_registered_without_connections_when_read_then_it_has_none(process, sql, control_db_url):
    assert sql("SELECT conn_ids FROM cntl_af.cntl_cfg_prcs") == [([],)]
    assert process_registration(control_db_url, "p").conn_ids == ()


def test_given_connections_registered_when_read_for_a_run_and_in_the_snapshot_then_both_carry_them_in_order(
    process, sql, control_db_url
):
    _set(sql, ["crm_db", "partner.api-v2"])

    assert process_registration(control_db_url, "p").conn_ids == ("crm_db", "partner.api-v2")
    (registered,) = read_snapshot(control_db_url).processes
    assert registered.conn_ids == ("crm_db", "partner.api-v2")


REFUSED = {
    "control_owner": (["cntl_af"], "cntl_cfg_prcs_conn_ids_not_platform"),
    "control_owner_upper_case": (["crm", "CNTL_AF"], "cntl_cfg_prcs_conn_ids_not_platform"),
    "notebook_role": (["Cntl_Af_Notebook"], "cntl_cfg_prcs_conn_ids_not_platform"),
    "vectors_key": (["llf_vectors"], "cntl_cfg_prcs_conn_ids_not_platform"),
    "space": (["crm db"], "cntl_cfg_prcs_conn_ids_format"),
    "slash": (["crm/db"], "cntl_cfg_prcs_conn_ids_format"),
    "empty_id": ([""], "cntl_cfg_prcs_conn_ids_format"),
    "null_id": (["crm", None], "cntl_cfg_prcs_conn_ids_format"),
    "201_chars": (["c" * 201], "cntl_cfg_prcs_conn_ids_format"),
    "51_ids": ([f"c{n}" for n in range(51)], "cntl_cfg_prcs_conn_ids_format"),
    "two_dimensions": ([["a", "b"], ["c", "d"]], "cntl_cfg_prcs_conn_ids_format"),
    "twice": (["crm", "crm"], "cntl_cfg_prcs_conn_ids_unique"),
}


@pytest.mark.parametrize(("conn_ids", "constraint"), REFUSED.values(), ids=REFUSED.keys())
def test_given_a_process_when_its_conn_ids_are_set_to_what_cannot_be_handed_over_then_the_database_refuses(
    process, sql, conn_ids, constraint
):
    with pytest.raises(psycopg2.errors.CheckViolation) as refused:
        _set(sql, conn_ids)

    assert refused.value.diag.constraint_name == constraint
    (comment,) = sql("SELECT obj_description(oid, 'pg_constraint') FROM pg_constraint WHERE conname = %s",
                     (constraint,))
    assert comment[0]
    assert sql("SELECT conn_ids FROM cntl_af.cntl_cfg_prcs") == [([],)]


def test_given_fifty_ids_of_200_characters_when_registered_then_the_database_keeps_them(process, sql):
    ids = [f"{n:02d}" + "c" * 198 for n in range(50)]

    _set(sql, ids)

    assert sql("SELECT conn_ids FROM cntl_af.cntl_cfg_prcs") == [(ids,)]


def test_given_an_sql_file_registering_the_control_connection_when_applied_then_one_sentence_says_why(
    process, tmp_path, capsys
):
    path = tmp_path / "reg.sql"
    path.write_text("UPDATE cntl_af.cntl_cfg_prcs SET conn_ids = '{crm_db,cntl_af}' WHERE prcs_nm = 'p';\n")

    assert main(["db", "apply", str(path)]) != 0

    error = capsys.readouterr().err
    assert "cntl_cfg_prcs_conn_ids_not_platform" in error
    assert "a notebook must not get the control tables' owner" in error


def test_given_a_platform_connection_registered_past_a_dropped_constraint_when_validated_then_it_is_named(
    process, sql, capsys
):
    sql("ALTER TABLE cntl_af.cntl_cfg_prcs DROP CONSTRAINT cntl_cfg_prcs_conn_ids_not_platform")
    _set(sql, ["crm_db", "CNTL_AF"])

    code = main(["validate"])

    assert code == 1
    (line,) = [line for line in capsys.readouterr().out.splitlines() if "conn_ids" in line]
    assert line.startswith("cntl_cfg_prcs (prcs_id=") and "prcs_nm=p" in line
    assert "connection CNTL_AF is one of the platform's own" in line and "Fix:" in line


def test_given_a_connection_airflow_does_not_have_when_validated_then_it_is_no_problem(process, sql, capsys):
    """Validation checks the shape only: a connection may live in a secrets backend only the workers read."""
    _set(sql, ["nowhere_defined"])

    assert main(["validate"]) == 0
