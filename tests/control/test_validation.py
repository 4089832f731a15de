"""`llf validate`: one line per problem naming the table, the row and the fix; exit 1 when any."""

from __future__ import annotations

from pathlib import Path

import pytest

from llf.cli import main
from llf.settings import PROJECT_ROOT
from tests.support.notebooks import write_notebook


@pytest.fixture
def valid(registry, notebooks_dir: Path):
    """A clean two-process stream; each test breaks one thing."""
    write_notebook(notebooks_dir / "ok.ipynb", "print(greeting)")
    stream = registry.stream("s")
    group = registry.group(stream, "g")
    first = registry.process(group, "first")
    second = registry.process(group, "second")
    registry.depend(second, first)
    return {"stream": stream, "group": group, "first": first, "second": second}


def _validate(capsys) -> tuple[int, list[str]]:
    code = main(["validate"])
    return code, [line for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_given_clean_registrations_when_validated_then_exit_zero(valid, capsys):
    code, lines = _validate(capsys)
    assert code == 0
    assert "no problems" in lines[-1]


def test_given_the_shipped_examples_when_validated_then_exit_zero(control_db_url, monkeypatch, capsys):
    monkeypatch.delenv("LLF_NOTEBOOKS_DIR", raising=False)  # the project's own notebooks folder
    files = sorted(str(p) for p in (PROJECT_ROOT / "control_sql" / "examples").glob("*.sql"))
    assert main(["db", "apply", *files]) == 0

    code, lines = _validate(capsys)

    assert code == 0, lines


def test_given_a_dependency_cycle_when_validated_then_every_process_in_it_is_named(valid, registry, capsys):
    third = registry.process(valid["group"], "third")
    registry.depend(third, valid["second"])
    registry.depend(valid["first"], third)

    code, lines = _validate(capsys)

    assert code == 1
    (line,) = [ln for ln in lines if "cycle" in ln]
    assert line.startswith("cntl_cfg_prcs_depn (")
    assert all(name in line for name in ("first", "second", "third"))
    assert "Fix:" in line


def test_given_two_separate_cycles_when_validated_then_both_are_reported(valid, registry, capsys):
    registry.depend(valid["first"], valid["second"])
    x, y = registry.process(valid["group"], "x"), registry.process(valid["group"], "y")
    registry.depend(x, y)
    registry.depend(y, x)

    code, lines = _validate(capsys)

    assert code == 1
    assert len([ln for ln in lines if "dependency cycle" in ln]) == 2


def test_given_a_dependency_on_an_inactive_process_when_validated_then_both_rows_are_named(valid, sql, capsys):
    sql("UPDATE cntl_af.cntl_cfg_prcs SET actv_flg = false WHERE prcs_nm = 'first'")

    code, lines = _validate(capsys)

    assert code == 1
    assert any("prcs_nm=second, depn_prcs_nm=first" in ln and "inactive" in ln for ln in lines)


def test_given_a_dependency_on_a_process_in_an_inactive_stream_when_validated_then_it_is_reported(
    valid, registry, capsys
):
    other = registry.process(registry.group(registry.stream("old", active=False), "g"), "retired")
    registry.depend(valid["first"], other)

    code, lines = _validate(capsys)

    assert code == 1
    assert any("depn_prcs_nm=retired" in ln for ln in lines)


def test_given_a_process_without_system_file_when_validated_then_the_fix_is_the_insert(valid, registry, capsys):
    registry.process(valid["group"], "bare", notebook=None)

    code, lines = _validate(capsys)

    assert code == 1
    assert any("prcs_nm=bare" in ln and "no system file" in ln and "INSERT INTO" in ln for ln in lines)


def test_given_a_missing_notebook_when_validated_then_the_path_is_named(valid, registry, capsys):
    registry.process(valid["group"], "ghost", notebook="missing/nb.ipynb")

    code, lines = _validate(capsys)

    assert code == 1
    assert any("prcs_nm=ghost" in ln and "notebook not found" in ln for ln in lines)


def test_given_a_notebook_without_parameters_cell_when_validated_then_the_tag_is_asked_for(
    valid, registry, notebooks_dir, capsys
):
    write_notebook(notebooks_dir / "untagged.ipynb", "x = 1", parameters=None)
    registry.process(valid["group"], "untagged", notebook="untagged.ipynb")

    code, lines = _validate(capsys)

    assert code == 1
    assert any("prcs_nm=untagged" in ln and "'parameters'" in ln for ln in lines)


@pytest.mark.parametrize("path", ["../outside.ipynb", "/etc/passwd", "sub/../../x.ipynb"])
def test_given_a_path_escaping_the_notebooks_folder_when_validated_then_it_is_refused(
    valid, registry, capsys, path
):
    registry.process(valid["group"], "escape", notebook=path)

    code, lines = _validate(capsys)

    assert code == 1
    assert any("prcs_nm=escape" in ln and "not inside the notebooks folder" in ln for ln in lines)


def test_given_a_symlink_leaving_the_notebooks_folder_when_validated_then_it_is_refused(
    valid, registry, notebooks_dir, tmp_path, capsys
):
    outside = write_notebook(tmp_path / "outside.ipynb", "x = 1")
    (notebooks_dir / "link.ipynb").symlink_to(outside)
    registry.process(valid["group"], "linked", notebook="link.ipynb")

    code, lines = _validate(capsys)

    assert code == 1
    assert any("prcs_nm=linked" in ln and "outside the notebooks folder" in ln for ln in lines)


@pytest.mark.parametrize("params", [[1, 2], "text", 3])
def test_given_params_not_a_json_object_when_validated_then_the_row_is_named(valid, sql, capsys, params):
    import json

    sql("UPDATE cntl_af.cntl_cfg_prcs SET params = %s::jsonb WHERE prcs_nm = 'first'", (json.dumps(params),))

    code, lines = _validate(capsys)

    assert code == 1
    assert any(ln.startswith("cntl_cfg_prcs (") and "prcs_nm=first" in ln and "not a JSON object" in ln
               for ln in lines)


@pytest.mark.parametrize(
    ("cron", "timezone", "expected"),
    [("61 * * * *", "UTC", "cron_expr"), ("every day", "UTC", "cron_expr"),
     ("0 6 * * *", "Mars/Olympus", "timezone")],
)
def test_given_a_bad_schedule_when_validated_then_the_setting_is_named(
    valid, registry, capsys, cron, timezone, expected
):
    registry.schedule(valid["stream"], cron, timezone)

    code, lines = _validate(capsys)

    assert code == 1
    assert any(ln.startswith("cntl_cfg_schedule (") and "strem_nm=s" in ln and expected in ln for ln in lines)


def test_given_an_empty_stream_when_validated_then_the_stream_is_named(valid, registry, capsys):
    registry.stream("empty")

    code, lines = _validate(capsys)

    assert code == 1
    assert any(ln.startswith("cntl_cfg_strem (") and "strem_nm=empty" in ln for ln in lines)


def test_given_a_group_with_only_inactive_processes_when_validated_then_the_group_is_named(
    valid, registry, capsys
):
    group = registry.group(valid["stream"], "idle", priority=2)
    registry.process(group, "sleeping", active=False)

    code, lines = _validate(capsys)

    assert code == 1
    assert any(ln.startswith("cntl_cfg_prcs_grp (") and "prcs_grp_nm=idle" in ln for ln in lines)


def test_given_problems_in_two_streams_then_each_problem_names_only_its_stream(valid, registry, notebooks_dir):
    from llf.control.repository import read_snapshot
    from llf.control.validation import validate
    from llf.settings import control_db_url

    registry.process(registry.group(registry.stream("other"), "g"), "lost", notebook="nope.ipynb")
    registry.stream("empty")

    problems = validate(read_snapshot(control_db_url()), notebooks_dir)

    assert {stream for p in problems for stream in p.streams} == {"other", "empty"}


def test_given_a_database_without_the_control_schema_when_validated_then_one_line_says_to_upgrade(
    postgres, capsys
):
    url = postgres.fresh_database(prefix="bare", template="template0")

    code = main(["validate", "--db-url", url])

    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    (line,) = err.splitlines()
    assert line.startswith("error: ") and "run `llf db upgrade`" in line
    assert "Traceback" not in err


def test_given_an_unreachable_database_when_validated_then_one_line_names_it_and_exit_two(capsys):
    code = main(["validate", "--db-url", "postgresql://llf:s3cret@127.0.0.1:9/nowhere"])

    err = capsys.readouterr().err
    assert code == 2
    (line,) = err.splitlines()
    assert "Cannot reach the control database" in line and "s3cret" not in line


def test_given_notebooks_readable_only_in_part_when_validated_then_each_line_is_one_problem(
    valid, registry, notebooks_dir, capsys
):
    """Error texts quoted from nbformat span lines; a problem is still printed on exactly one."""
    (notebooks_dir / "no_cells.ipynb").write_text('{"metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    registry.process(valid["group"], "cellless", notebook="no_cells.ipynb")

    code, lines = _validate(capsys)

    assert code == 1
    (line,) = [ln for ln in lines if "prcs_nm=cellless" in ln]
    assert line.startswith("cntl_cfg_sys_file (") and "not a readable Jupyter notebook" in line
    assert line.endswith(".") and "Fix: save the file from Jupyter" in line


def test_given_a_mistyped_params_key_when_validated_then_the_row_key_declared_names_and_closest_match_are_named(
    valid, registry, notebooks_dir, capsys
):
    """papermill would inject n_order as a new variable and the notebook would run with its n_orders default."""
    write_notebook(notebooks_dir / "orders.ipynb", "print(n_orders)", parameters="n_orders = 3\nregion: str = 'EU'")
    registry.process(valid["group"], "typo", notebook="orders.ipynb", params={"n_order": 7, "region": "US"})

    code, lines = _validate(capsys)

    assert code == 1
    (line,) = [ln for ln in lines if "prcs_nm=typo" in ln]
    assert line.startswith("cntl_cfg_prcs (prcs_id=")
    assert "'n_order' (did you mean 'n_orders'?)" in line
    assert "orders.ipynb (it declares: n_orders, region)" in line
    assert "'region'" not in line.split("Fix:")[0].split("declares")[0]


def test_given_params_the_notebook_declares_when_validated_then_no_problem(valid, registry, notebooks_dir, capsys):
    write_notebook(notebooks_dir / "orders.ipynb", "print(n_orders)", parameters="%matplotlib inline\nn_orders = 3")
    registry.process(valid["group"], "fine", notebook="orders.ipynb", params={"n_orders": 7})

    code, lines = _validate(capsys)

    assert code == 0, lines


def test_given_many_processes_sharing_a_notebook_when_validated_then_it_is_read_once(
    valid, registry, notebooks_dir, monkeypatch
):
    """The DAG file's snapshot refresh validates up to 10,000 processes: one read per distinct notebook."""
    from llf.control import notebooks, validation
    from llf.control.repository import read_snapshot
    from llf.settings import control_db_url

    for n in range(30):
        registry.process(valid["group"], f"p{n}", params={"greeting": str(n)})
    reads = []
    real = notebooks._read_notebook_file
    monkeypatch.setattr(notebooks, "_read_notebook_file", lambda path: reads.append(path) or real(path))

    assert validation.validate(read_snapshot(control_db_url()), notebooks_dir) == []
    assert len(reads) == 1


def test_given_a_notebook_without_kernelspec_when_validated_then_the_file_and_the_fix_are_named(
    valid, registry, notebooks_dir, capsys
):
    """The runner reads the parameters with papermill.inspect_notebook, which needs metadata.kernelspec.name."""
    import nbformat

    path = write_notebook(notebooks_dir / "bare.ipynb", "x = 1")
    notebook = nbformat.read(path, as_version=4)
    del notebook.metadata["kernelspec"]
    nbformat.write(notebook, path)
    registry.process(valid["group"], "kernelless", notebook="bare.ipynb")

    code, lines = _validate(capsys)

    assert code == 1
    (line,) = [ln for ln in lines if "prcs_nm=kernelless" in ln]
    assert "file_path=bare.ipynb" in line and "metadata.kernelspec" in line
    assert "select the Python 3 kernel and save" in line


@pytest.mark.parametrize(
    ("cron", "reason"),
    [("0 25 * * *", "the hour field 25 is outside 0-23"),
     ("61 * * * *", "the minute field 61 is outside 0-59"),
     ("0 6 1-32 * *", "the day-of-month field 1-32: 32 is outside 1-31"),
     ("0 6 * 13 *", "the month field 13 is outside 1-12"),
     ("0 6 * * MON-FRY", "the day-of-week field MON-FRY: FRY is not a number 0-7 or one of SUN"),
     ("*/0 * * * *", "the minute field */0 has step '0'"),
     ("0 6 * *", "has 4 field(s); Airflow takes exactly five"),
     ("@midnight", "is not an alias Airflow expands (@hourly, @daily"),
     ("0 6 31 2 *", "never fires")],
)
def test_given_a_bad_cron_when_validated_then_the_field_and_the_reason_are_named(
    valid, registry, capsys, cron, reason
):
    registry.schedule(valid["stream"], cron)

    code, lines = _validate(capsys)

    assert code == 1
    (line,) = [ln for ln in lines if ln.startswith("cntl_cfg_schedule (")]
    assert reason in line, line


@pytest.mark.parametrize("alias", ["@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly"])
def test_given_an_airflow_cron_alias_when_validated_then_it_is_accepted_as_airflow_accepts_it(
    valid, registry, capsys, alias
):
    from airflow.sdk import CronTriggerTimetable

    registry.schedule(valid["stream"], alias, "Europe/Paris")

    code, lines = _validate(capsys)

    assert code == 0, lines
    timetable = CronTriggerTimetable(alias, timezone="Europe/Paris")  # what llf.dagbuild.stream_dag builds
    timetable.validate()


def test_the_cron_aliases_are_those_airflow_expands():
    from airflow.sdk.definitions.timetables._cron import CRON_PRESETS
    from airflow.utils.dates import cron_presets

    from llf.control.cron import CRON_ALIASES

    assert CRON_ALIASES == CRON_PRESETS == cron_presets


def test_given_a_process_naming_an_unregistered_pool_when_validated_then_the_row_and_the_closest_pool_are_named(
    valid, registry, sql, capsys
):
    """No foreign key on pool_nm (llf/control/sql/0026): the typo reaches the table, validate names it."""
    other = registry.process(registry.group(registry.stream("other"), "g"), "fine")
    sql("INSERT INTO cntl_af.cntl_cfg_pool (pool_nm, slots) VALUES ('llm', 4), ('io', 2)")
    sql(f"UPDATE cntl_af.cntl_cfg_prcs SET pool_nm = 'llm_pool' WHERE prcs_id = {valid['first']}")
    sql(f"UPDATE cntl_af.cntl_cfg_prcs SET pool_nm = 'io' WHERE prcs_id = {other}")

    code, lines = _validate(capsys)

    assert code == 1
    (line,) = [ln for ln in lines if "pool" in ln]
    assert line.startswith(f"cntl_cfg_prcs (prcs_id={valid['first']}, prcs_nm=first): pool_nm 'llm_pool' is not")
    assert "(the closest is 'llm'; registered: io, llm)" in line
    assert "Fix: set pool_nm to a registered pool such as 'llm'" in line


def test_given_a_process_taking_more_slots_than_its_pool_has_when_validated_then_it_is_named(valid, sql, capsys):
    sql("INSERT INTO cntl_af.cntl_cfg_pool (pool_nm, slots) VALUES ('llm', 2)")
    sql(f"UPDATE cntl_af.cntl_cfg_prcs SET pool_nm = 'llm', pool_slots = 3 WHERE prcs_id = {valid['second']}")

    code, lines = _validate(capsys)

    assert code == 1
    (line,) = [ln for ln in lines if "pool" in ln]
    assert "prcs_nm=second" in line and "pool_slots is 3, more than the 2 slot(s) of pool llm" in line


def test_given_processes_on_registered_pools_or_none_when_validated_then_no_problem(valid, sql, capsys):
    sql("INSERT INTO cntl_af.cntl_cfg_pool (pool_nm, slots) VALUES ('llm', 2)")
    sql(f"UPDATE cntl_af.cntl_cfg_prcs SET pool_nm = 'llm', pool_slots = 2 WHERE prcs_id = {valid['second']}")

    code, lines = _validate(capsys)

    assert code == 0, lines
