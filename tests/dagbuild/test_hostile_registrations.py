"""One bad row never hides a DAG: hostile registrations beside a good stream.

Each case registers a stream `bad` (and what it needs) next to the good stream of scenarios/hostile,
then parses dags/ with Airflow's DagBag and runs `llf validate`. Whatever the rows hold: no import
error, every DAG of the good stream loads, the bad stream is its placeholder naming the row, and
`llf validate` names it on one line (exit 1) without a traceback.

Values the database refuses since llf/control/sql/0023 are first shown refused, naming the constraint,
then registered anyway the way rows older than that migration are (the constraint dropped), so the
rest of the chain (snapshot, validation, builder) is proven to isolate them too. The last tests
bypass validation altogether (a builder or a check that raises) to exercise the builder's own guard.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from airflow.serialization.serialized_objects import DagSerialization
from psycopg2 import sql as psql

from llf.cli import main
from llf.control import validation
from llf.control.model import PARAMS_MAX_DEPTH
from llf.control.notebooks import NOTEBOOK_MAX_BYTES
from llf.dagbuild import build_dags, builder
from tests.dagbuild.conftest import SCENARIOS
from tests.support.notebooks import write_notebook
from tests.support.registry import Registry, Run

GOOD_DAGS = {"stream__good", "process__good_load_a", "process__good_load_b", "process__good_report"}
PROBLEM_LINE = re.compile(r"^cntl_\w+ \(.+\): .+ Fix: .+\.$")

Register = Callable[[Registry, Run], None]


@pytest.fixture
def hostile(scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The good stream, and a notebooks folder with the hostile notebooks plus those git cannot hold well.

    The hostile ones are kept as <name>.json (ruff lints every .ipynb it finds) and copied as <name>.ipynb.
    """
    scenario("hostile")
    folder = tmp_path / "notebooks"
    shutil.copytree(SCENARIOS / "hostile" / "notebooks", folder)
    for stored in folder.glob("*.json"):
        stored.rename(stored.with_suffix(".ipynb"))
    (folder / "zero_bytes.ipynb").write_bytes(b"")
    (folder / "binary.ipynb").write_bytes(bytes(range(256)) * 4)
    (folder / "directory.ipynb").mkdir()
    with (folder / "huge.ipynb").open("wb") as huge:  # sparse: no disk is spent on its size
        huge.truncate(NOTEBOOK_MAX_BYTES + 1)
    os.mkfifo(folder / "fifo.ipynb")  # reading it would block the parse forever
    write_notebook(folder / "many_params.ipynb", "pass",  # registered params must be declared: 10k of them
                   parameters="\n".join([*(f"key_{n} = 0" for n in range(10_000)), "deep = None"]))
    outside = shutil.copy(folder / "ok.ipynb", tmp_path / "outside.ipynb")
    (folder / "escape.ipynb").symlink_to(outside)
    (folder / "loop.ipynb").symlink_to(folder / "loop.ipynb")
    monkeypatch.setenv("LLF_NOTEBOOKS_DIR", str(folder))
    return folder


@dataclass(frozen=True)
class Hostile:
    register: Register
    row: str  # how the placeholder and `llf validate` name the row
    says: str  # what they say about it
    refused_by: str = ""  # the constraint (or trigger) refusing it since llf/control/sql/0023
    placeholders: tuple[str, ...] = ("bad",)


def bad(notebook: str | None = "ok.ipynb", *, then: str = "", group: str = "main", process: str = "bad_step",
        max_parallel: int = 1, **columns: Any) -> Register:
    """Stream `bad`: one group, one process with `columns`, then the SQL `then` (a literal statement)."""

    def register(registry: Registry, sql: Run) -> None:
        group_id = registry.group(registry.stream("bad"), group, max_parallel=max_parallel)
        registry.process(group_id, process, notebook=notebook, **columns)
        if then:
            sql(then)

    return register


def scheduled(cron_expr: str, timezone: str = "UTC") -> Register:
    def register(registry: Registry, sql: Run) -> None:
        bad()(registry, sql)
        registry.schedule(_id(sql, "cntl_cfg_strem", "strem_id", "strem_nm", "bad"), cron_expr, timezone)

    return register


def groups(*names: str) -> Register:
    """Stream `bad` with one group per name, each with one process."""

    def register(registry: Registry, sql: Run) -> None:
        stream = registry.stream("bad")
        for position, name in enumerate(names):
            registry.process(registry.group(stream, name, priority=position), f"bad_step_{position}")

    return register


def _id(sql: Run, table: str, key: str, name_column: str, name: str) -> int:
    query = psql.SQL("SELECT {} FROM cntl_af.{} WHERE {} = %s").format(
        psql.Identifier(key), psql.Identifier(table), psql.Identifier(name_column))
    ((found,),) = sql(query, (name,))
    return found


def _depends(sql: Run, registry: Registry, prcs_nm: str, on: str) -> None:
    registry.depend(_id(sql, "cntl_cfg_prcs", "prcs_id", "prcs_nm", prcs_nm),
                    _id(sql, "cntl_cfg_prcs", "prcs_id", "prcs_nm", on))


def stream_without_groups(registry: Registry, _: Run) -> None:
    registry.stream("bad")


def group_without_processes(registry: Registry, _: Run) -> None:
    registry.group(registry.stream("bad"), "main")


def depends_on_inactive_stream(registry: Registry, sql: Run) -> None:
    bad()(registry, sql)
    registry.process(registry.group(registry.stream("retired", active=False), "main"), "retired_step")
    _depends(sql, registry, "bad_step", "retired_step")


def cycle_across_streams(registry: Registry, sql: Run) -> None:
    bad()(registry, sql)
    registry.process(registry.group(registry.stream("bad2"), "main"), "bad2_step")
    _depends(sql, registry, "bad_step", "bad2_step")
    _depends(sql, registry, "bad2_step", "bad_step")


def depends_on_invalid_stream(registry: Registry, sql: Run) -> None:
    bad()(registry, sql)
    registry.process(registry.group(registry.stream("broken"), "main"), "broken_step", notebook="missing.ipynb")
    _depends(sql, registry, "bad_step", "broken_step")


def two_active_schedules(registry: Registry, sql: Run) -> None:
    scheduled("0 6 * * *")(registry, sql)
    registry.schedule(_id(sql, "cntl_cfg_strem", "strem_id", "strem_nm", "bad"), "0 7 * * *")


NOTEBOOK_ROW = "prcs_nm=bad_step, file_path="
PROCESS_ROW = "prcs_nm=bad_step"
GROUP_ROW = "prcs_grp_nm=main, strem_nm=bad"
STREAM_ROW = "strem_nm=bad"
SCHEDULE_ROW = "strem_nm=bad"
# Every minute, hour and day listed one by one: valid, but Airflow's description of it needs 1000+ characters.
LONG_CRON = " ".join([",".join(map(str, range(60))), ",".join(map(str, range(24))),
                      ",".join(map(str, range(1, 32))), "*", "1,3,5"])

CASES: dict[str, Hostile] = {
    # notebooks that are not notebooks
    "notebook_is_an_empty_object": Hostile(bad("empty_object.ipynb"), NOTEBOOK_ROW + "empty_object", "not a readable"),
    "notebook_is_a_json_list": Hostile(bad("json_list.ipynb"), NOTEBOOK_ROW + "json_list", "not a readable"),
    "notebook_is_a_json_string": Hostile(bad("json_string.ipynb"), NOTEBOOK_ROW + "json_string", "not a readable"),
    "notebook_is_truncated_json": Hostile(bad("truncated.ipynb"), NOTEBOOK_ROW + "truncated", "not a readable"),
    "notebook_is_zero_bytes": Hostile(bad("zero_bytes.ipynb"), NOTEBOOK_ROW + "zero_bytes", "not a readable"),
    "notebook_is_binary_garbage": Hostile(bad("binary.ipynb"), NOTEBOOK_ROW + "binary", "UnicodeDecodeError"),
    "notebook_is_a_directory": Hostile(bad("directory.ipynb"), NOTEBOOK_ROW + "directory", "notebook not found"),
    "notebook_is_a_fifo": Hostile(bad("fifo.ipynb"), NOTEBOOK_ROW + "fifo", "notebook not found"),
    "notebook_over_the_size_limit": Hostile(bad("huge.ipynb"), NOTEBOOK_ROW + "huge", "more than the 32 MiB"),
    "notebook_cells_not_a_list": Hostile(bad("cells_not_list.ipynb"), NOTEBOOK_ROW + "cells_not_list", "notebook"),
    "notebook_cell_not_an_object": Hostile(bad("cell_not_object.ipynb"), NOTEBOOK_ROW + "cell_not", "notebook"),
    "notebook_without_cells": Hostile(bad("no_cells.ipynb"), NOTEBOOK_ROW + "no_cells", "not a readable"),
    "notebook_of_unknown_nbformat": Hostile(bad("nbformat_99.ipynb"), NOTEBOOK_ROW + "nbformat_99", "99"),
    "notebook_tags_null": Hostile(bad("tags_null.ipynb"), NOTEBOOK_ROW + "tags_null", "metadata.tags = null"),
    "notebook_tags_a_string": Hostile(bad("tags_string.ipynb"), NOTEBOOK_ROW + "tags_string", "metadata.tags"),
    "notebook_without_kernelspec": Hostile(bad("no_kernelspec.ipynb"), NOTEBOOK_ROW + "no_kernelspec", "kernel"),
    "notebook_symlink_escaping": Hostile(bad("escape.ipynb"), NOTEBOOK_ROW + "escape", "outside the notebooks"),
    "notebook_symlink_loop": Hostile(bad("loop.ipynb"), NOTEBOOK_ROW + "loop", "the path cannot be opened"),
    "notebook_path_too_long": Hostile(bad("n" * 300 + ".ipynb"), NOTEBOOK_ROW + "nnnn", "name too long"),
    "notebook_path_escaping": Hostile(bad("../outside.ipynb"), NOTEBOOK_ROW + "../outside", "not inside"),
    "notebook_path_absolute": Hostile(bad("/etc/passwd"), NOTEBOOK_ROW + "/etc/passwd", "not inside"),
    "notebook_path_empty": Hostile(bad(""), NOTEBOOK_ROW, "not inside"),
    "process_without_system_file": Hostile(bad(None), PROCESS_ROW, "no system file registered"),
    # process values
    "params_a_json_list": Hostile(bad(params=[1, 2]), PROCESS_ROW, "not a JSON object"),
    "params_key_the_notebook_does_not_declare": Hostile(bad(params={"greting": "hi"}), PROCESS_ROW,
                                                        "'greting' (did you mean 'greeting'?)"),
    "params_nested_3000_deep": Hostile(
        bad(then="UPDATE cntl_af.cntl_cfg_prcs SET params = (repeat('[', 3000) || repeat(']', 3000))::jsonb "
                 "WHERE prcs_nm = 'bad_step'"),
        PROCESS_ROW, "params nests deeper than 32 levels", refused_by="cntl_cfg_prcs_params_depth"),
    "timeout_nan": Hostile(bad(then="UPDATE cntl_af.cntl_cfg_prcs SET timeout_min = 'NaN' WHERE prcs_nm = 'bad_step'"),
                           PROCESS_ROW, "timeout_min is nan", refused_by="cntl_cfg_prcs_timeout_min_range"),
    "timeout_infinity": Hostile(
        bad(then="UPDATE cntl_af.cntl_cfg_prcs SET timeout_min = 'Infinity' WHERE prcs_nm = 'bad_step'"),
        PROCESS_ROW, "timeout_min is inf", refused_by="cntl_cfg_prcs_timeout_min_range"),
    "timeout_1e13_minutes": Hostile(bad(timeout_min=10**13), PROCESS_ROW, "timeout_min is 1e+13",
                                    refused_by="cntl_cfg_prcs_timeout_min_range"),
    "retries_a_million": Hostile(bad(retries=10**6), PROCESS_ROW, "retries is 1000000",
                                 refused_by="cntl_cfg_prcs_retries_range"),
    "process_owner_3000_chars": Hostile(
        bad(then="UPDATE cntl_af.cntl_cfg_prcs SET owner_nm = repeat('o', 3000) WHERE prcs_nm = 'bad_step'"),
        PROCESS_ROW, "owner_nm has 3000 characters", refused_by="cntl_cfg_prcs_owner_nm_length"),
    "stream_owner_3000_chars": Hostile(
        bad(then="UPDATE cntl_af.cntl_cfg_strem SET owner_nm = repeat('o', 3000) WHERE strem_nm = 'bad'"),
        STREAM_ROW, "owner_nm has 3000 characters", refused_by="cntl_cfg_strem_owner_nm_length"),
    "stream_task_id_over_250_chars": Hostile(bad(group="g" * 200, process="p" * 200), "prcs_nm=" + "p" * 200,
                                             "401 characters"),
    # groups
    "max_parallel_10e8": Hostile(bad(max_parallel=10**8), GROUP_ROW, "max_parallel is 100000000",
                                 refused_by="cntl_cfg_prcs_grp_max_parallel_range"),
    "groups_a.b_and_a_b_collide": Hostile(groups("a.b", "a_b"), "prcs_grp_nm=a.b", "Airflow task group a_b",
                                          refused_by="cntl_cfg_prcs_grp_task_group_id_unique"),
    "group_named_finish_stream": Hostile(bad(group="finish_stream"), "prcs_grp_nm=finish_stream", "every stream DAG",
                                         refused_by="cntl_cfg_prcs_grp_nm_not_reserved"),
    "group_named_finish.stream": Hostile(bad(group="finish.stream"), "prcs_grp_nm=finish.stream", "every stream DAG",
                                         refused_by="cntl_cfg_prcs_grp_nm_not_reserved"),
    "stream_without_groups": Hostile(stream_without_groups, STREAM_ROW, "no active process group"),
    "group_without_processes": Hostile(group_without_processes, GROUP_ROW, "no active process"),
    "group_with_only_inactive_processes": Hostile(bad(active=False), GROUP_ROW, "no active process"),
    # dependencies
    "depends_on_a_process_of_an_inactive_stream": Hostile(depends_on_inactive_stream,
                                                          "prcs_nm=bad_step, depn_prcs_nm=retired_step", "inactive"),
    "dependency_cycle_across_streams": Hostile(cycle_across_streams, "prcs_nm=bad_step", "dependency cycle",
                                               placeholders=("bad", "bad2")),
    "depends_on_a_process_of_an_invalid_stream": Hostile(depends_on_invalid_stream, "depn_prcs_nm=broken_step",
                                                         "depends on broken_step", placeholders=("bad", "broken")),
    # schedules
    "cron_that_never_fires": Hostile(scheduled("0 6 31 2 *"), SCHEDULE_ROW, "never fires"),
    "cron_alias_airflow_does_not_expand": Hostile(scheduled("@midnight"), SCHEDULE_ROW, "not an alias Airflow"),
    "cron_with_seconds": Hostile(scheduled("0 0 6 * * *"), SCHEDULE_ROW, "has 6 field(s)"),
    "cron_minute_out_of_range": Hostile(scheduled("61 * * * *"), SCHEDULE_ROW, "minute field 61 is outside 0-59"),
    "cron_hashed": Hostile(scheduled("H 6 * * *"), SCHEDULE_ROW, "minute field H is not a number 0-59"),
    "cron_described_beyond_airflow_column": Hostile(scheduled(LONG_CRON), SCHEDULE_ROW, "Airflow stores at most 1000"),
    "timezone_unknown": Hostile(scheduled("0 6 * * *", "Mars/Olympus"), SCHEDULE_ROW, "not an IANA time zone"),
    "timezone_a_path": Hostile(scheduled("0 6 * * *", "../../etc/passwd"), SCHEDULE_ROW, "not an IANA time zone"),
    "timezone_empty": Hostile(scheduled("0 6 * * *", ""), SCHEDULE_ROW, "not an IANA time zone"),
    "two_active_schedules": Hostile(two_active_schedules, SCHEDULE_ROW, "2 active schedules",
                                    refused_by="cntl_cfg_schedule_one_active_idx"),
}
REFUSED = {name: case for name, case in CASES.items() if case.refused_by}


def _let_in_anyway(sql: Run, name: str) -> None:
    """Drop the constraint, index or trigger `name`, as if the rows were registered before it existed."""
    found = sql("SELECT 'constraint', conrelid::regclass::text FROM pg_constraint WHERE conname = %s "
                "UNION ALL SELECT 'trigger', tgrelid::regclass::text FROM pg_trigger WHERE tgname = %s "
                "UNION ALL SELECT 'index', indexrelid::regclass::text FROM pg_index "
                "WHERE indexrelid::regclass::text = 'cntl_af.' || %s", (name, name, name))
    ((kind, table),) = found
    statements = {
        "constraint": psql.SQL("ALTER TABLE {} DROP CONSTRAINT {}"),
        "trigger": psql.SQL("ALTER TABLE {} DISABLE TRIGGER {}"),
        "index": psql.SQL("DROP INDEX {1}"),
    }
    sql(statements[kind].format(psql.SQL(table), psql.Identifier("cntl_af", name) if kind == "index"
                                else psql.Identifier(name)))


def _validate(capsys) -> tuple[int, list[str], str]:
    capsys.readouterr()
    code = main(["validate"])
    out, err = capsys.readouterr()
    return code, [line for line in out.splitlines() if line.strip()], err


def assert_only_bad_streams_are_placeholders(bag, placeholders: tuple[str, ...], *texts: str) -> None:
    """No import error, the good stream whole, each of `placeholders` a placeholder (the first naming `texts`)
    and none of their process DAGs."""
    assert bag.import_errors == {}
    assert set(bag.dags) >= GOOD_DAGS
    assert not any("llf:invalid" in bag.dags[dag_id].tags for dag_id in GOOD_DAGS)
    for strem_nm in placeholders:
        placeholder = bag.dags[f"stream__{strem_nm}"]
        assert "llf:invalid" in placeholder.tags
        assert placeholder.description.startswith("INVALID REGISTRATION")
    doc = bag.dags[f"stream__{placeholders[0]}"].doc_md
    assert all(text in doc for text in texts), doc
    bad_processes = [dag_id for dag_id in bag.dags if dag_id.startswith(tuple(f"process__{s}" for s in placeholders))]
    assert bad_processes == []


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_given_a_hostile_registration_beside_a_good_stream_when_parsed_and_validated_then_only_it_is_named(
    case, hostile, registry, sql, dagbag, capsys
):
    if case.refused_by:
        _let_in_anyway(sql, case.refused_by)
    case.register(registry, sql)

    bag = dagbag()
    code, lines, err = _validate(capsys)

    assert_only_bad_streams_are_placeholders(bag, case.placeholders, case.row, case.says)
    DagSerialization.to_dict(bag.dags["stream__bad"])  # what the dag-processor does next
    assert code == 1
    assert "Traceback" not in err and "Traceback" not in "\n".join(lines)
    assert all(PROBLEM_LINE.match(line) for line in lines), lines
    assert any(case.row in line and case.says in line for line in lines), lines
    assert not any("strem_nm=good" in line for line in lines)


@pytest.mark.parametrize("case", REFUSED.values(), ids=REFUSED.keys())
def test_given_a_value_that_can_never_be_right_when_registered_then_the_database_refuses_it_by_name(
    case, hostile, registry, sql
):
    with pytest.raises(psycopg2.IntegrityError) as refused:
        case.register(registry, sql)
    assert refused.value.diag.constraint_name == case.refused_by


def _explode_for(target: Callable, name: str, attribute: str) -> Callable:
    """`target`, except that it raises for the row whose `attribute` is `name`: a bug validation cannot see."""

    def exploding(catalog, row, *args, **kwargs):
        if getattr(row, attribute) == name:
            raise RuntimeError(f"boom while building {name}")
        return target(catalog, row, *args, **kwargs)

    return exploding


def test_given_a_process_dag_that_raises_when_parsed_then_its_stream_and_dependants_are_placeholders(
    hostile, registry, sql, dagbag, monkeypatch
):
    bad()(registry, sql)
    registry.process(registry.group(registry.stream("downstream"), "main"), "downstream_step")
    _depends(sql, registry, "downstream_step", "bad_step")
    monkeypatch.setattr(builder, "build_process_dag", _explode_for(builder.build_process_dag, "bad_step", "prcs_nm"))

    bag = dagbag()

    assert_only_bad_streams_are_placeholders(bag, ("bad",), "cntl_cfg_prcs (prcs_id=", "prcs_nm=bad_step",
                                             "RuntimeError: boom while building bad_step")
    assert_only_bad_streams_are_placeholders(bag, ("downstream",), "depends on bad_step of stream bad")


def test_given_a_stream_dag_that_raises_when_parsed_then_it_is_a_placeholder_without_its_process_dags(
    hostile, registry, sql, dagbag, monkeypatch
):
    bad()(registry, sql)
    monkeypatch.setattr(builder, "build_stream_dag", _explode_for(builder.build_stream_dag, "bad", "strem_nm"))

    bag = dagbag()

    assert_only_bad_streams_are_placeholders(bag, ("bad",), "cntl_cfg_strem (strem_id=", "strem_nm=bad",
                                             "RuntimeError: boom while building bad")


def test_given_a_validation_check_that_raises_for_one_stream_when_parsed_and_validated_then_only_it_is_named(
    hostile, registry, sql, dagbag, capsys, monkeypatch
):
    bad()(registry, sql)

    def check_that_breaks(snapshot, stream, notebooks_dir):
        if stream.strem_nm == "bad":
            raise KeyError("a row this check did not expect")
        return []

    monkeypatch.setattr(validation, "STREAM_CHECKS", (*validation.STREAM_CHECKS, check_that_breaks))

    bag = dagbag()
    code, lines, err = _validate(capsys)

    assert_only_bad_streams_are_placeholders(bag, ("bad",), "strem_nm=bad", "llf could not check")
    assert code == 1 and "Traceback" not in err
    assert any("strem_nm=bad" in line and "check_that_breaks" in line for line in lines), lines


def test_given_a_placeholder_that_cannot_be_built_when_parsed_then_every_other_dag_still_loads(
    hostile, registry, sql, dagbag, monkeypatch
):
    bad("missing.ipynb")(registry, sql)

    def broken_placeholder(*args, **kwargs):
        raise ValueError("not even a placeholder")

    monkeypatch.setattr(builder, "build_placeholder_dag", broken_placeholder)

    bag = dagbag()

    assert bag.import_errors == {}
    assert set(bag.dags) == GOOD_DAGS


def test_given_a_hostile_stream_when_a_task_of_its_placeholder_parses_then_only_the_placeholder_is_built(
    hostile, registry, sql, dagbag, monkeypatch
):
    _let_in_anyway(sql, "cntl_cfg_prcs_timeout_min_range")
    CASES["timeout_nan"].register(registry, sql)
    dagbag()  # the dag-processor's parse writes the cache
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "stream__bad")
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", "invalid_registration")

    bag = dagbag()

    assert bag.import_errors == {}
    assert list(bag.dags) == ["stream__bad"]
    assert "timeout_min is nan" in bag.dags["stream__bad"].doc_md


def test_given_a_nan_timeout_when_served_from_the_cache_then_the_row_is_still_named(
    hostile, registry, sql, monkeypatch
):
    """NaN is no JSON number: the cache must keep it (as "NaN"), or the cache is unreadable every parse."""
    _let_in_anyway(sql, "cntl_cfg_prcs_timeout_min_range")
    CASES["timeout_nan"].register(registry, sql)
    fresh = build_dags()
    monkeypatch.setenv("LLF_SNAPSHOT_REFRESH_SECONDS", "3600")
    monkeypatch.setenv("LLF_CONTROL_DB_URL", "postgresql://llf@127.0.0.1:9/nowhere")  # the cache or nothing

    cached = build_dags()

    assert set(cached) == set(fresh)
    assert "timeout_min is nan" in cached["stream__bad"].doc_md


def nested(level: int) -> dict:
    """{"deep": [[...[1]...]]} whose innermost value is at `level` (the object itself at 0)."""
    value: Any = 1
    for _ in range(level - 1):
        value = [value]
    return {"deep": value}


ODD_BUT_FINE: dict[str, Register] = {
    "unicode_html_and_jinja_in_descriptions": bad(
        then="UPDATE cntl_af.cntl_cfg_strem SET strem_desc = 'Ventes 日本 ✓ <script>x</script> {{ ds }} %s', "
             "owner_nm = 'équipe, data' WHERE strem_nm = 'bad'"),
    "description_of_100k_characters": bad(
        then="UPDATE cntl_af.cntl_cfg_prcs SET prcs_desc = repeat('long ', 20000) WHERE prcs_nm = 'bad_step'"),
    "params_with_10k_keys": bad("many_params.ipynb", params={f"key_{n}": n for n in range(10_000)}),
    "params_exactly_32_deep": bad("many_params.ipynb", params=nested(PARAMS_MAX_DEPTH)),
    "names_of_200_characters_with_dots_and_dashes": bad(group="g.r-p", process="p.-_" * 50),
    "extreme_priorities": bad(
        priority=-(2**31),
        then="UPDATE cntl_af.cntl_cfg_prcs_grp SET priority = 2147483647 WHERE prcs_grp_nm = 'main'"),
    "bounds_reached_exactly": bad(max_parallel=64, timeout_min=10080, retries=100),
    "fractional_timeout": bad(timeout_min=0.01),
    "group_named_like_finish_stream_but_longer": bad(group="finish_stream_2"),
    "cron_on_leap_days_only": scheduled("0 6 29 2 *", "Pacific/Kiritimati"),
    "cron_on_the_last_day_of_the_month": scheduled("0 6 L * *"),
    "cron_alias_airflow_expands": scheduled("@daily", "Europe/Paris"),
}


@pytest.mark.parametrize("register", ODD_BUT_FINE.values(), ids=ODD_BUT_FINE.keys())
def test_given_an_odd_but_valid_registration_when_parsed_and_validated_then_it_builds_like_any_other(
    register, hostile, registry, sql, dagbag, capsys
):
    register(registry, sql)

    bag = dagbag()
    code, lines, _ = _validate(capsys)

    assert bag.import_errors == {}
    assert set(bag.dags) >= GOOD_DAGS | {"stream__bad"}
    assert not any("llf:invalid" in dag.tags for dag in bag.dags.values())
    for dag_id in sorted(set(bag.dags) - GOOD_DAGS):  # what the dag-processor does next
        DagSerialization.from_dict(DagSerialization.to_dict(bag.dags[dag_id]))
    assert code == 0, lines


def test_given_validation_that_fails_as_a_whole_when_parsed_then_every_stream_is_a_placeholder_not_an_import_error(
    hostile, dagbag, monkeypatch
):
    """The last line of defence in Catalog.of: unvalidated streams are not built blind, nor is the file lost."""

    def validation_bug(snapshot, notebooks_dir):
        raise AttributeError("validation itself is broken")

    monkeypatch.setattr(validation, "validate", validation_bug)

    bag = dagbag()

    assert bag.import_errors == {}
    assert set(bag.dags) == {"stream__good"}
    assert "llf:invalid" in bag.dags["stream__good"].tags
    assert "AttributeError: validation itself is broken" in bag.dags["stream__good"].doc_md


# Hostile rows that validation (and the database) normally stop, with that check switched off: what Airflow
# itself then raises while the DAGs are built must still cost only the stream, naming the row being built.
UNCHECKED = {
    "groups_a.b_and_a_b_collide": ("_groups", "groups_a.b_and_a_b_collide", "cntl_cfg_prcs_grp (prcs_grp_id=",
                                   "a_b"),
    "group_named_finish_stream": ("_groups", "group_named_finish_stream", "cntl_cfg_strem (strem_id=",
                                  "finish_stream"),
    "timeout_nan": ("_processes", "timeout_nan", "cntl_cfg_prcs (prcs_id=", "ValueError"),
    "timeout_1e13_minutes": ("_processes", "timeout_1e13_minutes", "cntl_cfg_prcs (prcs_id=", "OverflowError"),
    "stream_task_id_over_250_chars": ("_processes", "stream_task_id_over_250_chars", "prcs_nm=" + "p" * 200,
                                      "more than the 250 Airflow's database stores"),
    "cron_hashed": ("_schedules", "cron_hashed", "cntl_cfg_schedule (schedule_id=", "hash_id"),
}


@pytest.mark.parametrize(("check", "case", "row", "error"), UNCHECKED.values(), ids=UNCHECKED.keys())
def test_given_a_hostile_row_that_validation_misses_when_parsed_then_the_builder_guard_isolates_its_stream(
    hostile, registry, sql, dagbag, monkeypatch, check, case, row, error
):
    hostile_case = CASES[case]
    if hostile_case.refused_by:
        _let_in_anyway(sql, hostile_case.refused_by)
    hostile_case.register(registry, sql)
    monkeypatch.setattr(validation, "STREAM_CHECKS",
                        tuple(c for c in validation.STREAM_CHECKS if c.__name__ != check))

    bag = dagbag()

    assert_only_bad_streams_are_placeholders(bag, ("bad",), row, error, "building the DAGs of stream bad failed")
