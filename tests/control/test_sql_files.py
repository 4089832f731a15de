"""`llf db apply`: a refused statement is explained by its constraint's meaning; a lost registration (an INSERT
whose SELECT found nothing) is reported and its file rolled back; a legitimate re-apply is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from llf.cli import main
from llf.control.constraints import MESSAGES
from llf.settings import PROJECT_ROOT

STREAM = "INSERT INTO cntl_af.cntl_cfg_strem (strem_nm) VALUES ('sales') ON CONFLICT (strem_nm) DO NOTHING;\n"
GROUP = ("INSERT INTO cntl_af.cntl_cfg_prcs_grp (strem_id, prcs_grp_nm)\n"
         "SELECT strem_id, 'extract' FROM cntl_af.cntl_cfg_strem WHERE strem_nm = '{stream}'\n"
         "ON CONFLICT (strem_id, prcs_grp_nm) DO NOTHING;\n")


def _apply(tmp_path: Path, capsys, text: str, name: str = "reg.sql") -> tuple[int, str, str]:
    path = tmp_path / name
    path.write_text(text)
    capsys.readouterr()
    code = main(["db", "apply", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def test_every_explained_constraint_exists_in_the_control_schema(sql):
    rows = sql("SELECT conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
               "WHERE n.nspname = 'cntl_af' UNION SELECT indexname FROM pg_indexes WHERE schemaname = 'cntl_af' "
               "UNION SELECT tgname FROM pg_trigger")
    assert set(MESSAGES) - {name for (name,) in rows} == set()


@pytest.mark.parametrize(
    ("statement", "says"),
    [("INSERT INTO cntl_af.cntl_cfg_strem (strem_nm, fail_policy) VALUES ('s', 'stop');",
      ["cntl_cfg_strem_fail_policy_check", "fail_policy must be 'CONTINUE' or 'STOP'", "stop"]),
     ("INSERT INTO cntl_af.cntl_cfg_strem (strem_nm) VALUES ('daily sales');",
      ["strem_nm must be 1 to 200 letters, digits, _ . or - (no spaces", "daily sales"]),
     ("INSERT INTO cntl_af.cntl_cfg_strem (strem_nm) VALUES ('sales');",
      ["cntl_cfg_strem_strem_nm_key", "already registered", "Key (strem_nm)=(sales) already exists"]),
     ("INSERT INTO cntl_af.cntl_cfg_prcs (prcs_grp_id, prcs_nm) VALUES (424242, 'p');",
      ["prcs_grp_id names no group in cntl_cfg_prcs_grp", "424242"]),
     ("INSERT INTO cntl_af.cntl_cfg_prcs_grp (strem_id, prcs_grp_nm)\n"
      "VALUES ((SELECT strem_id FROM cntl_af.cntl_cfg_strem WHERE strem_nm = 'slaes'), 'g');",
      ["cntl_cfg_prcs_grp.strem_id is NULL", "matched no row"])],
    ids=["check_fail_policy", "check_name_with_space", "unique_name", "foreign_key", "not_null_lookup"],
)
def test_given_a_refused_statement_when_applied_then_one_line_names_the_line_column_and_allowed_values(
    control_db_url, sql, tmp_path, capsys, statement, says
):
    code, _, err = _apply(tmp_path, capsys, STREAM + "\n-- the bad one\n" + statement)

    assert code == 2
    (line,) = err.splitlines()
    assert line.startswith(f"error: {tmp_path / 'reg.sql'}:4: `INSERT INTO")
    assert all(text in line for text in says), line
    assert "nothing from this file was applied" in line
    assert sql("SELECT count(*) FROM cntl_af.cntl_cfg_strem") == [(0,)]


def test_given_an_insert_select_whose_where_matches_nothing_when_applied_then_it_is_named_and_rolled_back(
    control_db_url, sql, tmp_path, capsys
):
    code, out, err = _apply(tmp_path, capsys, STREAM + GROUP.format(stream="slaes"))

    assert code == 1
    (line,) = out.splitlines()
    assert line.startswith(f"{tmp_path / 'reg.sql'}:2: `INSERT INTO cntl_af.cntl_cfg_prcs_grp (strem_id, prcs_grp_nm)`")
    assert "inserted no row into cntl_cfg_prcs_grp" in line
    assert "nothing from it was applied" in err
    assert sql("SELECT count(*) FROM cntl_af.cntl_cfg_strem") == [(0,)]


def test_given_a_re_runnable_file_when_applied_twice_then_conflicts_are_not_lost_registrations(
    control_db_url, sql, tmp_path, capsys
):
    text = STREAM + GROUP.format(stream="sales")

    assert _apply(tmp_path, capsys, text)[0] == 0
    code, out, _ = _apply(tmp_path, capsys, text)

    assert code == 0, out
    assert sql("SELECT count(*) FROM cntl_af.cntl_cfg_prcs_grp") == [(1,)]


def test_given_the_shipped_examples_when_applied_twice_then_both_succeed(control_db_url, capsys):
    files = sorted(str(p) for p in (PROJECT_ROOT / "control_sql" / "examples").glob("*.sql"))

    assert main(["db", "apply", *files]) == 0
    assert main(["db", "apply", *files]) == 0, capsys.readouterr()
