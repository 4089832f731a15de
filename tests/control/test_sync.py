"""`llf sync` and `llf export`: registrations as YAML files, diffed and applied in one transaction."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from llf.cli import main
from llf.settings import PROJECT_ROOT

EXAMPLES = sorted((PROJECT_ROOT / "control_sql" / "examples").glob("*.sql"))
STREAM_EXAMPLES = [path for path in EXAMPLES if "cntl_af.cntl_cfg_strem" in path.read_text(encoding="utf-8")]

DAILY_SALES = """\
stream: daily_sales
description: Daily sales report
schedule:
  cron: "0 6 * * 1-5"
  timezone: Europe/Paris
groups:
  - name: extract
    max_parallel: 2
    processes:
      - name: sales_extract
        notebook: examples/quickstart/extract.ipynb
        params: {n_orders: 8}
      - name: sales_returns
        notebook: examples/quickstart/extract.ipynb
        params: {n_orders: 3}
  - name: publish
    priority: 2
    processes:
      - name: sales_publish
        notebook: examples/quickstart/publish.ipynb
        depends_on: [sales_extract, sales_returns]
"""


@pytest.fixture
def stream_file(tmp_path: Path, control_db_url: str) -> Path:
    path = tmp_path / "daily_sales.yaml"
    path.write_text(DAILY_SALES, encoding="utf-8")
    return path


def _sync(capsys, *args: str | Path) -> tuple[int, str, str]:
    code = main(["sync", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _exported_then_synced(capsys, path: Path, stream: str) -> tuple[str, str]:
    """`llf export` of `stream` (less its header line) written to `path`, and how `llf sync` of it then begins."""
    assert main(["export", "--stream", stream]) == 0
    exported = capsys.readouterr().out
    path.write_text(exported, encoding="utf-8")
    return exported.split("\n", 1)[1], _sync(capsys, path)[1][:len("Nothing to change")]


def _registrations(sql) -> list[tuple]:
    """Every registration row that sync may write, to compare before and after."""
    return sql(
        "SELECT s.strem_nm, s.strem_desc, s.actv_flg, g.prcs_grp_nm, g.actv_flg, p.prcs_nm, p.params::text, "
        "p.actv_flg, f.file_path FROM cntl_af.cntl_cfg_strem s "
        "LEFT JOIN cntl_af.cntl_cfg_prcs_grp g USING (strem_id) LEFT JOIN cntl_af.cntl_cfg_prcs p USING (prcs_grp_id) "
        "LEFT JOIN cntl_af.cntl_cfg_sys_file f USING (prcs_id) ORDER BY 1, 4, 6"
    ) + sql("SELECT prcs_id, depn_prcs_id, actv_flg FROM cntl_af.cntl_cfg_prcs_depn ORDER BY 1, 2") + sql(
        "SELECT strem_id, cron_expr, timezone, actv_flg FROM cntl_af.cntl_cfg_schedule ORDER BY schedule_id")


def _params(sql, prcs_nm: str) -> dict:
    ((params,),) = sql("SELECT params FROM cntl_af.cntl_cfg_prcs WHERE prcs_nm = %s", (prcs_nm,))
    return params


def test_given_a_new_stream_file_when_dry_run_then_added_rows_are_printed_and_nothing_changes(
        stream_file, sql, capsys):
    code, out, _ = _sync(capsys, stream_file, "--dry-run")

    assert code == 0
    assert "added       strem_nm=daily_sales" in out
    assert "added       prcs_nm=sales_publish, depn_prcs_nm=sales_extract" in out
    assert "Dry run: 12 change(s) found, nothing applied." in out
    assert _registrations(sql) == []


def test_given_a_new_stream_file_when_synced_then_it_is_registered_and_a_second_sync_changes_nothing(
        stream_file, sql, capsys):
    code, out, _ = _sync(capsys, stream_file)

    assert code == 0
    assert "Applied 12 change(s) to daily_sales in one transaction." in out
    assert _params(sql, "sales_extract") == {"n_orders": 8}
    assert sql("SELECT cron_expr, timezone FROM cntl_af.cntl_cfg_schedule WHERE actv_flg") == [
        ("0 6 * * 1-5", "Europe/Paris")]
    assert sql("SELECT p.prcs_nm, d.prcs_nm FROM cntl_af.cntl_cfg_prcs_depn x JOIN cntl_af.cntl_cfg_prcs p "
               "USING (prcs_id) JOIN cntl_af.cntl_cfg_prcs d ON d.prcs_id = x.depn_prcs_id ORDER BY 2") == [
        ("sales_publish", "sales_extract"), ("sales_publish", "sales_returns")]
    assert _sync(capsys, stream_file)[1].startswith("Nothing to change")


def test_given_a_changed_param_when_synced_then_the_diff_shows_old_and_new_and_it_is_applied(
        stream_file, sql, capsys):
    _sync(capsys, stream_file)
    stream_file.write_text(DAILY_SALES.replace("{n_orders: 8}", "{n_orders: 9}"), encoding="utf-8")

    code, out, _ = _sync(capsys, stream_file)

    assert code == 0
    assert 'changed     prcs_nm=sales_extract: params {"n_orders": 8} → {"n_orders": 9}' in out
    assert "1 change(s)" in out
    assert _params(sql, "sales_extract") == {"n_orders": 9}


def test_given_a_process_removed_from_the_file_when_synced_then_it_is_deactivated_not_deleted(
        stream_file, sql, capsys):
    _sync(capsys, stream_file)
    stream_file.write_text(DAILY_SALES.replace(", sales_returns]", "]").replace(
        "      - name: sales_returns\n        notebook: examples/quickstart/extract.ipynb\n"
        "        params: {n_orders: 3}\n", ""), encoding="utf-8")

    code, out, _ = _sync(capsys, stream_file)

    assert code == 0
    assert "deactivated prcs_nm=sales_returns" in out
    assert "deactivated prcs_nm=sales_publish, depn_prcs_nm=sales_returns" in out
    assert "never deleted" in out
    assert sql("SELECT actv_flg FROM cntl_af.cntl_cfg_prcs WHERE prcs_nm = 'sales_returns'") == [(False,)]


def test_given_the_schedule_removed_when_synced_then_the_schedule_is_deactivated(stream_file, sql, capsys):
    _sync(capsys, stream_file)
    stream_file.write_text(DAILY_SALES.replace('schedule:\n  cron: "0 6 * * 1-5"\n  timezone: Europe/Paris\n', ""),
                           encoding="utf-8")

    code, out, _ = _sync(capsys, stream_file)

    assert code == 0
    assert "deactivated strem_nm=daily_sales" in out
    assert sql("SELECT actv_flg FROM cntl_af.cntl_cfg_schedule") == [(False,)]


@pytest.mark.parametrize("example", STREAM_EXAMPLES, ids=lambda path: path.stem)  # 00_pools registers no stream
def test_given_a_shipped_example_when_exported_and_synced_back_then_nothing_changes(
        example, control_db_url, tmp_path, capsys):
    assert main(["db", "apply", *map(str, EXAMPLES)]) == 0
    out = tmp_path / "streams"

    assert main(["export", "--out", str(out)]) == 0
    capsys.readouterr()
    (stream,) = [path for path in out.glob("*.yaml") if path.stem in example.stem]

    code, text, _ = _sync(capsys, stream)

    assert code == 0
    assert text.startswith("Nothing to change"), text


def test_given_a_registered_stream_when_exported_twice_then_the_files_are_identical(stream_file, capsys):
    _sync(capsys, stream_file)

    assert main(["export", "--stream", "daily_sales"]) == 0
    first = capsys.readouterr().out
    assert main(["export", "--stream", "daily_sales"]) == 0

    assert capsys.readouterr().out == first
    assert first.splitlines()[1] == "stream: daily_sales"
    assert "depends_on:\n    - sales_extract\n    - sales_returns" in first.replace("      ", "")


def test_given_no_stream_and_no_folder_when_exported_then_usage_error(control_db_url, capsys):
    assert main(["export"]) == 2
    assert "--stream" in capsys.readouterr().err


def test_given_an_unknown_stream_when_exported_then_usage_error_naming_it(control_db_url, capsys):
    assert main(["export", "--stream", "nope"]) == 2
    assert "stream nope is not registered" in capsys.readouterr().err


@pytest.mark.parametrize(("broken", "expected"), [
    (DAILY_SALES.replace("max_parallel: 2", "max_parallel: 2\n    colour: red"),
     "daily_sales.yaml:9: groups[extract].colour: unknown key"),
    (DAILY_SALES.replace("max_parallel: 2", 'max_parallel: "2"'),
     "daily_sales.yaml:8: groups[extract].max_parallel: Input should be a valid integer"),
    (DAILY_SALES.replace("max_parallel: 2", "max_parallel: 65"),
     "daily_sales.yaml:8: groups[extract].max_parallel: Input should be less than or equal to 64"),
    (DAILY_SALES.replace("{n_orders: 8}", "{n_orders: 8"),
     "daily_sales.yaml:13: not valid YAML"),
    (DAILY_SALES.replace("depends_on: [sales_extract, sales_returns]", "depends_on: [sales_extract, nowhere]"),
     "daily_sales.yaml:21: groups[publish].processes[sales_publish].depends_on: process sales_publish depends "
     "on nowhere, which no file declares"),
], ids=["unknown key", "wrong type", "out of bounds", "invalid yaml", "unknown dependency"])
def test_given_a_broken_file_when_synced_then_exit_two_with_one_line_naming_file_and_field_and_nothing_applied(
        broken, expected, stream_file, sql, capsys):
    stream_file.write_text(broken, encoding="utf-8")

    code, out, err = _sync(capsys, stream_file)

    assert code == 2
    assert expected in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert _registrations(sql) == []


def test_given_a_file_with_several_problems_when_synced_then_one_line_names_every_one_in_file_order(
        stream_file, sql, capsys):
    # given three schema problems in one file, the last one first in the YAML's own order of keys
    broken = (DAILY_SALES.replace("max_parallel: 2", 'max_parallel: "2"\n    colour: red')
              .replace("depends_on: [sales_extract, sales_returns]", "depends_on: 7"))
    stream_file.write_text(broken, encoding="utf-8")
    # when it is synced
    code, _, err = _sync(capsys, stream_file)
    # then one line names each problem with its line and field, in the order of the file, and nothing applied
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    found = [err.index(text) for text in ("daily_sales.yaml:8: groups[extract].max_parallel: Input should be a "
                                          "valid integer",
                                          "daily_sales.yaml:9: groups[extract].colour: unknown key",
                                          "daily_sales.yaml:22: groups[publish].processes[sales_publish].depends_on: "
                                          "Input should be a valid list")]
    assert found == sorted(found) and "(3 problems)" in err
    assert _registrations(sql) == []


def test_given_a_missing_file_when_synced_then_exit_two_naming_it(control_db_url, tmp_path, capsys):
    code, _, err = _sync(capsys, tmp_path / "nope.yaml")

    assert code == 2
    assert "nope.yaml: no such file" in err


def test_given_a_process_of_another_stream_when_synced_then_exit_two_and_nothing_applied(
        stream_file, registry, sql, capsys):
    registry.process(registry.group(registry.stream("other"), "g"), "sales_returns")
    before = _registrations(sql)

    code, _, err = _sync(capsys, stream_file)

    assert code == 2
    assert ("daily_sales.yaml:13: groups[extract].processes[sales_returns].name: process sales_returns belongs "
            "to stream other") in err
    assert _registrations(sql) == before


def test_given_a_dependency_on_a_process_of_another_stream_when_synced_then_it_is_registered(
        stream_file, registry, sql, capsys):
    registry.process(registry.group(registry.stream("other"), "g"), "upstream")
    stream_file.write_text(DAILY_SALES.replace("params: {n_orders: 3}", "params: {n_orders: 3}\n"
                                               "        depends_on: [upstream]"), encoding="utf-8")

    code, out, _ = _sync(capsys, stream_file)

    assert code == 0, out
    assert "added       prcs_nm=sales_returns, depn_prcs_nm=upstream" in out


def test_given_a_failure_midway_when_synced_then_nothing_is_applied(stream_file, registry, sql, capsys):
    """The stream row is written first; the group the database refuses (an inactive group of the stream
    already becomes the same Airflow task group) comes later, and takes the stream change back with it."""
    _sync(capsys, stream_file)
    (strem_id,) = sql("SELECT strem_id FROM cntl_af.cntl_cfg_strem")[0]
    registry.group(strem_id, "late.stage", active=False)
    stream_file.write_text(DAILY_SALES.replace("Daily sales report", "Changed") + (
        "  - name: late_stage\n    processes:\n      - name: sales_late\n        notebook: late.ipynb\n"),
        encoding="utf-8")
    before = _registrations(sql)

    code, _, err = _sync(capsys, stream_file)

    assert code == 2
    assert "nothing was applied" in err and "late_stage" in err
    assert _registrations(sql) == before


def test_given_two_files_for_one_stream_when_synced_then_exit_two(stream_file, tmp_path, sql, capsys):
    copy = tmp_path / "copy.yaml"
    copy.write_text(DAILY_SALES, encoding="utf-8")

    code, _, err = _sync(capsys, stream_file, copy)

    assert code == 2
    assert "declared in" in err
    assert _registrations(sql) == []


def test_given_an_example_when_a_changed_copy_is_applied_then_the_stored_param_changes(
        control_db_url, sql, tmp_path):
    quickstart = PROJECT_ROOT / "control_sql" / "examples" / "01_quickstart.sql"
    assert main(["db", "apply", str(quickstart), str(quickstart)]) == 0  # applying twice is fine
    copy = tmp_path / "quickstart.sql"
    copy.write_text(quickstart.read_text().replace('{"n_orders": 8}', '{"n_orders": 12}'), encoding="utf-8")

    assert main(["db", "apply", str(copy)]) == 0

    assert _params(sql, "qs_extract_orders") == {"n_orders": 12}


def test_given_every_example_applied_twice_when_the_schedule_changes_then_one_active_schedule_has_it(
        control_db_url, sql, tmp_path):
    assert main(["db", "apply", *map(str, EXAMPLES), *map(str, EXAMPLES)]) == 0
    merchandise = PROJECT_ROOT / "control_sql" / "examples" / "02_merchandise_recommendation.sql"
    copy = tmp_path / "merchandise.sql"
    copy.write_text(merchandise.read_text().replace("'30 5 * * *'", "'0 7 * * *'"), encoding="utf-8")

    assert main(["db", "apply", str(copy)]) == 0

    assert sql("SELECT cron_expr FROM cntl_af.cntl_cfg_schedule WHERE actv_flg") == [("0 7 * * *",)]


def test_given_the_examples_loaded_when_the_docs_registration_sql_runs_then_it_registers_its_stream(
        control_db_url, sql, tmp_path):
    page = (PROJECT_ROOT / "docs" / "how-to" / "register.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"<!-- registration-example[^>]*-->\n```sql\n(.*?)```", page, re.DOTALL)
    script = tmp_path / "readme.sql"
    script.write_text(block, encoding="utf-8")
    assert main(["db", "apply", *map(str, EXAMPLES)]) == 0

    assert main(["db", "apply", str(script)]) == 0

    assert sql("SELECT s.strem_nm, g.prcs_grp_nm FROM cntl_af.cntl_cfg_prcs p JOIN cntl_af.cntl_cfg_prcs_grp g "
               "USING (prcs_grp_id) JOIN cntl_af.cntl_cfg_strem s USING (strem_id) "
               "WHERE p.prcs_nm = 'sales_extract'") == [("daily_sales", "extract")]
    assert json.dumps(_params(sql, "sales_extract")) == '{"n_orders": 8}'


def test_given_long_values_when_exported_on_stdout_and_synced_back_then_nothing_changes(
        stream_file, tmp_path, capsys):
    """Nothing on the way to stdout may wrap or mark up a long line: the printed file is the file."""
    long = "A description of many words, [bold] brackets included, " * 6
    stream_file.write_text(DAILY_SALES.replace("Daily sales report", long.strip()), encoding="utf-8")
    _sync(capsys, stream_file)
    assert main(["export", "--stream", "daily_sales"]) == 0
    exported = tmp_path / "exported.yaml"
    exported.write_text(capsys.readouterr().out, encoding="utf-8")

    code, out, _ = _sync(capsys, exported)

    assert code == 0
    assert out.startswith("Nothing to change"), out


def test_given_the_docs_sample_file_when_synced_beside_the_examples_then_it_registers_cleanly(
        control_db_url, sql, tmp_path, capsys):
    page = (PROJECT_ROOT / "docs" / "how-to" / "register.md").read_text(encoding="utf-8")
    section = page.split("## Registrations as code", 1)[1]
    (block,) = re.findall(r"```yaml\n(.*?)```", section.split("\n## ", 1)[0], re.DOTALL)
    sample = tmp_path / "daily_sales.yaml"
    sample.write_text(block, encoding="utf-8")
    assert main(["db", "apply", *map(str, EXAMPLES)]) == 0

    code, out, err = _sync(capsys, sample)

    assert code == 0, err
    assert _params(sql, "sales_extract") == {"n_orders": 8}
    assert _sync(capsys, sample)[1].startswith("Nothing to change")


@pytest.mark.parametrize("command", [["sync", "{file}"], ["validate"]])
def test_given_json_nested_too_deep_outside_params_when_sync_or_validate_then_one_line_and_exit_two(
        stream_file, sql, capsys, command):
    """A column a site added to a registration table is in the snapshot too (to_jsonb of the row); JSON deeper
    than Python reads must not end `llf sync` with a traceback, as it does not `llf validate`."""
    _sync(capsys, stream_file)
    sql("ALTER TABLE cntl_af.cntl_cfg_strem ADD COLUMN site_notes jsonb")
    sql("UPDATE cntl_af.cntl_cfg_strem SET site_notes = (repeat('[', 3000) || repeat(']', 3000))::jsonb")
    before = _registrations(sql)

    code = main([part.format(file=stream_file) for part in command])

    err = capsys.readouterr().err
    assert code == 2
    assert "hold JSON nested too deeply to read" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert _registrations(sql) == before


ROUTED = """\
stream: routed
pools:
  - name: llm
    slots: 4
    description: the LLM server's parallelism
groups:
  - name: fetch
    processes:
      - name: routed_load
        notebook: examples/quickstart/extract.ipynb
        timeout_min: 60
  - name: think
    priority: 2
    queue: llm
    processes:
      - name: routed_ask
        notebook: examples/quickstart/extract.ipynb
        timeout_min: 60
        pool: llm
        pool_slots: 2
      - name: routed_sum
        notebook: examples/quickstart/extract.ipynb
        timeout_min: 60
        queue: gpu
"""


def _routing(sql) -> list[tuple]:
    return sql("SELECT p.prcs_nm, g.queue_nm, p.queue_nm, p.pool_nm, p.pool_slots FROM cntl_af.cntl_cfg_prcs p "
               "JOIN cntl_af.cntl_cfg_prcs_grp g USING (prcs_grp_id) ORDER BY 1")


def test_given_queues_and_pools_in_a_file_when_synced_then_they_are_registered_and_export_writes_them_back(
        control_db_url, tmp_path, sql, capsys):
    path = tmp_path / "routed.yaml"
    path.write_text(ROUTED, encoding="utf-8")

    code, out, _ = _sync(capsys, path)

    assert code == 0, out
    assert out.splitlines()[:2] == ["cntl_cfg_pool:", "  added       pool_nm=llm"]  # before the processes taking it
    assert sql("SELECT pool_nm, slots, pool_desc FROM cntl_af.cntl_cfg_pool") == [
        ("llm", 4, "the LLM server's parallelism")]
    assert _routing(sql) == [("routed_ask", "llm", None, "llm", 2), ("routed_load", "default", None, None, 1),
                             ("routed_sum", "llm", "gpu", None, 1)]
    # default routing left out, the rest where it was written
    assert _exported_then_synced(capsys, path, "routed") == (ROUTED, "Nothing to change")


def test_given_a_routing_changed_in_the_file_when_synced_then_the_diff_shows_it_and_it_is_applied(
        control_db_url, tmp_path, sql, capsys):
    path = tmp_path / "routed.yaml"
    path.write_text(ROUTED, encoding="utf-8")
    _sync(capsys, path)
    path.write_text(ROUTED.replace("slots: 4", "slots: 6").replace("queue: gpu", "pool: llm")
                    .replace("    queue: llm\n", ""), encoding="utf-8")

    code, out, _ = _sync(capsys, path)

    assert code == 0
    assert 'changed     pool_nm=llm: slots 4 → 6' in out
    assert 'changed     strem_nm=routed, prcs_grp_nm=think: queue_nm "llm" → "default"' in out
    assert 'changed     prcs_nm=routed_sum: queue_nm "gpu" → null; pool_nm null → "llm"' in out
    assert sql("SELECT slots FROM cntl_af.cntl_cfg_pool") == [(6,)]
    assert _routing(sql)[2] == ("routed_sum", "default", None, "llm", 1)


def test_given_a_pool_left_out_of_the_file_when_synced_then_it_stays_registered_for_other_streams(
        control_db_url, tmp_path, sql, capsys):
    path = tmp_path / "routed.yaml"
    path.write_text(ROUTED, encoding="utf-8")
    _sync(capsys, path)
    path.write_text(ROUTED.replace("pools:\n  - name: llm\n    slots: 4\n    description: the LLM server's "
                                   "parallelism\n", ""), encoding="utf-8")

    code, out, _ = _sync(capsys, path)

    assert (code, out.splitlines()[0]) == (0, "Nothing to change: the registrations of routed match the file(s).")
    assert sql("SELECT pool_nm, slots FROM cntl_af.cntl_cfg_pool") == [("llm", 4)]


def test_given_two_files_declaring_one_pool_differently_when_synced_then_exit_two_and_nothing_applied(
        stream_file, tmp_path, sql, capsys):
    routed = tmp_path / "routed.yaml"
    routed.write_text(ROUTED, encoding="utf-8")
    stream_file.write_text(DAILY_SALES.replace("groups:\n", "pools:\n  - name: llm\n    slots: 1\ngroups:\n", 1),
                           encoding="utf-8")

    code, _, err = _sync(capsys, routed, stream_file)

    assert code == 2
    assert f"{stream_file}:" in err and "pool llm is declared differently in" in err
    assert _registrations(sql) == [] and sql("SELECT pool_nm FROM cntl_af.cntl_cfg_pool") == []


@pytest.mark.parametrize(("change", "message"), [
    ("slots: 4", "slots: 0"),
    ("name: llm\n    slots", "name: default_pool\n    slots"),
    ("pool_slots: 2", "pool_slots: 1001"),
])
def test_given_a_pool_or_slots_the_database_refuses_when_synced_then_the_file_line_is_named(
        change, message, control_db_url, tmp_path, sql, capsys):
    path = tmp_path / "routed.yaml"
    path.write_text(ROUTED.replace(change, message), encoding="utf-8")

    code, _, err = _sync(capsys, path)

    assert code == 2
    assert err.startswith(f"error: {path}:") and ("pools[" in err or "pool_slots" in err)
    assert _routing(sql) == []


def _laughs(levels: int) -> str:
    """DAILY_SALES with a "billion laughs" in a process's params: anchor l0 is a string, each next anchor a list
    of nine aliases of the one before, so `levels` short lines stand for 9**levels strings once expanded."""
    bomb = ["        params:", '          l0: &l0 "lol"']
    bomb += [f"          l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, levels + 1)]
    return DAILY_SALES.replace("        params: {n_orders: 8}", "\n".join(bomb), 1)


def test_given_yaml_aliases_in_a_file_when_synced_then_exit_two_naming_the_file_and_line_and_nothing_applied(
        stream_file, sql, capsys):
    """Registrations are small and need no anchors: an alias is refused before anything expands it (on the old
    code this file of 9**5 strings was walked, validated and stored)."""
    stream_file.write_text(_laughs(5), encoding="utf-8")

    code, _, err = _sync(capsys, stream_file)

    assert code == 2
    assert f"{stream_file}:13: YAML anchors and aliases (here &l0) are not accepted in a registration file" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert _registrations(sql) == []


@pytest.mark.parametrize(("change", "line"), [
    ("depends_on: [sales_extract, sales_returns]",
     "depends_on: &deps [sales_extract, sales_returns]\n        description: *deps"),
    ("max_parallel: 2", "max_parallel: &two 2"),
    ("  - name: publish\n", "  - &publish\n    name: publish\n"),
], ids=["alias", "anchor alone", "anchor on a mapping"])
def test_given_any_anchor_or_alias_when_synced_then_it_is_refused_with_its_line(
        change, line, stream_file, sql, capsys):
    stream_file.write_text(DAILY_SALES.replace(change, line, 1), encoding="utf-8")

    code, _, err = _sync(capsys, stream_file)

    assert code == 2
    assert re.search(rf"{re.escape(str(stream_file))}:\d+: YAML anchors and aliases", err), err
    assert _registrations(sql) == []


def test_given_a_nine_level_billion_laughs_when_loaded_then_it_is_refused_in_milliseconds(tmp_path):
    """9**9 strings if expanded. Loaded in a child with a deadline, so code that expands it fails the test
    instead of eating the machine."""
    path = tmp_path / "laughs.yaml"
    path.write_text(_laughs(9), encoding="utf-8")
    child = ("import sys, time\n"
             "from llf.control.declared import load\n"
             "from llf.exceptions import RegistrationError\n"
             "start = time.perf_counter()\n"
             "try:\n"
             "    load(__import__('pathlib').Path(sys.argv[1]))\n"
             "except RegistrationError as error:\n"
             "    print(f'{time.perf_counter() - start:.6f}', error)\n")

    result = subprocess.run([sys.executable, "-c", child, str(path)], capture_output=True, text=True, timeout=60,
                            check=False, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})

    seconds, message = result.stdout.split(" ", 1)
    assert "YAML anchors and aliases" in message, result.stderr
    assert float(seconds) < 0.1


CONNECTED = """\
stream: connected
groups:
  - name: g
    processes:
      - name: connected_crm
        notebook: examples/quickstart/extract.ipynb
        timeout_min: 60
        connections:
          - crm_db
          - partner.api
      - name: connected_none
        notebook: examples/quickstart/extract.ipynb
        timeout_min: 60
"""


def _conn_ids(sql) -> list[tuple]:
    return sql("SELECT prcs_nm, conn_ids FROM cntl_af.cntl_cfg_prcs ORDER BY 1")


def test_given_connections_in_a_file_when_synced_and_exported_then_they_are_registered_and_written_back(
        control_db_url, tmp_path, sql, capsys):
    path = tmp_path / "connected.yaml"
    path.write_text(CONNECTED, encoding="utf-8")

    code, out, err = _sync(capsys, path)

    assert code == 0, err
    assert _conn_ids(sql) == [("connected_crm", ["crm_db", "partner.api"]), ("connected_none", [])]
    # where they were written; none given, none written
    assert _exported_then_synced(capsys, path, "connected") == (CONNECTED, "Nothing to change")


def test_given_a_connection_removed_from_the_file_when_synced_then_the_diff_shows_it_and_it_is_applied(
        control_db_url, tmp_path, sql, capsys):
    path = tmp_path / "connected.yaml"
    path.write_text(CONNECTED, encoding="utf-8")
    _sync(capsys, path)
    path.write_text(CONNECTED.replace("          - partner.api\n", ""), encoding="utf-8")

    code, out, _ = _sync(capsys, path)

    assert code == 0
    assert 'changed     prcs_nm=connected_crm: conn_ids ["crm_db", "partner.api"] → ["crm_db"]' in out
    assert _conn_ids(sql)[0] == ("connected_crm", ["crm_db"])


@pytest.mark.parametrize(("connection", "says"), [
    ("cntl_af", "connection cntl_af is one of the platform's own"),
    ("LLF_VECTORS", "connection LLF_VECTORS is one of the platform's own"),
    ("cntl_af_notebook", "a notebook must not get the control tables' owner"),
    ("crm db", "'crm db' is not 1 to 200 letters, digits, _ . or -"),
    ("crm_db", "connection crm_db is named twice"),
])
def test_given_a_connection_no_notebook_may_get_in_a_file_when_synced_then_the_line_is_named_and_nothing_applied(
        connection, says, control_db_url, tmp_path, sql, capsys):
    path = tmp_path / "connected.yaml"
    path.write_text(CONNECTED.replace("partner.api", connection), encoding="utf-8")

    code, _, err = _sync(capsys, path)

    assert code == 2
    assert err.startswith(f"error: {path}:8: groups[g].processes[connected_crm].connections"), err
    assert says in err
    assert _registrations(sql) == []


def test_given_a_folder_of_stream_files_when_synced_then_each_file_in_it_is_registered(stream_file, sql, capsys):
    # given a project's registrations/ folder with the stream file and a note that is no stream file
    (stream_file.parent / "README.txt").write_text("not a stream", encoding="utf-8")
    # when the folder is synced
    code, out, _ = _sync(capsys, stream_file.parent)
    # then its stream file is registered, as if named
    assert code == 0 and "daily_sales" in out
    assert {row[0] for row in _registrations(sql) if isinstance(row[0], str)} == {"daily_sales"}


def test_given_a_folder_without_stream_files_when_synced_then_exit_two_naming_it(control_db_url, tmp_path, capsys):
    empty = tmp_path / "registrations"
    empty.mkdir()

    code, _, err = _sync(capsys, empty)

    assert code == 2
    assert f"{empty} holds no stream file" in err
