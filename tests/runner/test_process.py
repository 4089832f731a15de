"""Running one process: papermill with a real kernel, outputs in the lake, every outcome in the run log."""

from __future__ import annotations

import json
import threading

import pytest

from llf.control import log as run_log
from llf.exceptions import ProcessFailed
from llf.runner.tasks import dependencies_to_trigger, run_process
from tests.runner.conftest import BUSINESS_DATE, last_message, run_context, statuses
from tests.support.notebooks import write_notebook


def _run(context) -> None:
    run_process(context)


def test_given_a_registered_notebook_when_run_then_success_is_logged_and_outputs_are_in_the_lake(
    registry, stream, sql, tmp_path, lake_dir
):
    marker = tmp_path / "ran.txt"
    registry.process(stream["group"], "p", params={"greeting": "bonjour", "marker": str(marker)})

    run_process(run_context("p"))

    assert marker.read_text() == f"bonjour {BUSINESS_DATE}"
    (row,) = sql("SELECT status, output_path, end_ts IS NOT NULL, run_id, strem_nm FROM cntl_af.cntl_cfg_log "
                 "WHERE prcs_nm = 'p'")
    assert row[0] == "SUCCESS" and row[2] and row[3] == "run_p" and row[4] == "s"
    run_folder = lake_dir / "runs" / "s" / "p" / str(BUSINESS_DATE) / "run_p" / "try-1"  # one folder per try
    assert row[1] == run_folder.as_uri() + "/"
    executed = json.loads((run_folder / "p.ipynb").read_text())
    injected = "".join(executed["cells"][1]["source"])
    assert "bonjour" in injected and str(BUSINESS_DATE) in injected and "run_id" not in injected
    assert "<html" in (run_folder / "p.html").read_text().lower()


def test_given_registered_params_with_braces_when_run_then_the_notebook_gets_them_as_registered(
    registry, stream, tmp_path
):
    # The DAG carries no params (op_kwargs would be Jinja-rendered): the runner reads the registration.
    marker = tmp_path / "ran.txt"
    registry.process(stream["group"], "p", params={"greeting": "Summarise {{ totals }}", "marker": str(marker)})

    run_process(run_context("p"))

    assert marker.read_text() == f"Summarise {{{{ totals }}}} {BUSINESS_DATE}"


def test_given_a_failing_notebook_when_run_then_failed_names_error_and_cell_and_output_is_stored(
    registry, stream, notebooks_dir, sql, lake_dir
):
    write_notebook(notebooks_dir / "bad.ipynb", "x = 1", "raise ValueError('no customers today')")
    registry.process(stream["group"], "p", notebook="bad.ipynb")

    with pytest.raises(ProcessFailed, match="no customers today"):
        run_process(run_context("p"))

    assert statuses(sql, "p") == ["FAILED"]
    message = last_message(sql, "p")
    assert "ValueError: no customers today" in message and "cell 3" in message
    folder = "runs/s/p/*/run_p/try-1"
    assert list(lake_dir.glob(f"{folder}/p.ipynb")) and list(lake_dir.glob(f"{folder}/p.html"))


@pytest.mark.parametrize(
    ("notebook", "params", "expected"),
    [
        ("missing.ipynb", {}, "notebook not found"),
        ("../escape.ipynb", {}, "not inside the notebooks folder"),
        ("untagged.ipynb", {}, "no cell tagged 'parameters'"),
        ("ok.ipynb", {"not-a-name": 1}, "not valid Python names"),
        ("empty_object.ipynb", {}, "not a readable Jupyter notebook"),
        ("null_tags.ipynb", {}, "not a list of strings"),
    ],
)
def test_given_bad_input_when_run_then_failed_with_an_actionable_message_and_no_running_row(
    registry, stream, notebooks_dir, sql, notebook, params, expected
):
    write_notebook(notebooks_dir / "untagged.ipynb", "x = 1", parameters=None)
    # edited after the last snapshot: the runner checks the file itself, as `llf validate` does
    (notebooks_dir / "empty_object.ipynb").write_text("{}", encoding="utf-8")
    write_notebook(notebooks_dir / "null_tags.ipynb", "x = 1")
    null_tags = json.loads((notebooks_dir / "null_tags.ipynb").read_text(encoding="utf-8"))
    null_tags["cells"][0]["metadata"]["tags"] = None
    (notebooks_dir / "null_tags.ipynb").write_text(json.dumps(null_tags), encoding="utf-8")
    registry.process(stream["group"], "p", notebook=notebook, params=params)

    with pytest.raises(ProcessFailed, match=expected):
        run_process(run_context("p"))

    assert statuses(sql, "p") == ["FAILED"]
    assert expected in last_message(sql, "p")
    # nothing ran, nothing was stored: the row links no outputs (its RUNNING row named where they would go)
    assert sql("SELECT output_path FROM cntl_af.cntl_cfg_log WHERE prcs_nm = 'p'") == [(None,)]


def test_given_an_unwritable_lake_when_run_then_failed_names_the_lake_setting(
    registry, stream, sql, tmp_path, monkeypatch
):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the lake folder should be")
    monkeypatch.setenv("LLF_LAKE_URL", (blocker / "lake").as_uri())
    registry.process(stream["group"], "p", params={"marker": str(tmp_path / "m.txt")})

    with pytest.raises(ProcessFailed, match="LLF_LAKE_URL"):
        run_process(run_context("p"))

    assert statuses(sql, "p") == ["FAILED"]
    assert sql("SELECT output_path FROM cntl_af.cntl_cfg_log WHERE prcs_nm = 'p'") == [(None,)]  # kept on the worker


def test_given_a_notebook_slower_than_its_timeout_when_run_then_failed_timed_out(
    registry, stream, notebooks_dir, sql
):
    write_notebook(notebooks_dir / "slow.ipynb", "import time\ntime.sleep(60)")
    registry.process(stream["group"], "p", notebook="slow.ipynb", timeout_min=0.05)

    with pytest.raises(ProcessFailed, match="timed out after 0.05 min"):
        run_process(run_context("p"))

    assert statuses(sql, "p") == ["FAILED"]


def test_given_a_failed_dependency_when_run_then_blocked_naming_it(registry, stream, sql, tmp_path):
    write_notebook_dir = tmp_path  # the dependency fails because its notebook is missing
    upstream = registry.process(stream["group"], "up", notebook="missing.ipynb")
    down = registry.process(stream["group"], "down", params={"marker": str(write_notebook_dir / "m")})
    registry.depend(down, upstream)
    with pytest.raises(ProcessFailed):
        run_process(run_context("up"))

    with pytest.raises(ProcessFailed, match=r"blocked: .*up \(FAILED\)"):
        run_process(run_context("down"))

    assert statuses(sql, "down") == ["BLOCKED"]
    assert not (tmp_path / "m").exists()


def test_given_a_success_for_the_date_when_the_stream_asks_again_then_skipped_but_manual_reruns(
    registry, stream, sql, tmp_path
):
    registry.process(stream["group"], "p", params={"marker": str(tmp_path / "m")})
    run_process(run_context("p"))

    run_process(run_context("p", run_id="second"))
    run_process(run_context("p", run_id="manual", triggered_by="manual"))

    assert statuses(sql, "p") == ["SUCCESS", "SKIPPED", "SUCCESS"]


def test_given_full_rerun_when_the_stream_asks_again_then_it_runs_once_per_stream_run(
    registry, stream, sql, tmp_path
):
    registry.process(stream["group"], "p", params={"marker": str(tmp_path / "m")})
    run_process(run_context("p", strem_run_id="first"))

    run_process(run_context("p", run_id="a", strem_run_id="second", full_rerun=True))
    run_process(run_context("p", run_id="b", strem_run_id="second", full_rerun=True, triggered_by="dependency"))

    assert statuses(sql, "p") == ["SUCCESS", "SUCCESS", "SKIPPED"]


def test_given_two_simultaneous_requests_when_run_then_the_notebook_runs_once(
    registry, stream, notebooks_dir, sql, tmp_path
):
    counter = tmp_path / "count.txt"
    write_notebook(notebooks_dir / "count.ipynb",
                   "import pathlib, time\np = pathlib.Path(counter)\n"
                   "p.write_text(str(int(p.read_text() or 0) + 1) if p.exists() else '1')\ntime.sleep(1)",
                   parameters=f"counter = {str(counter)!r}")
    registry.process(stream["group"], "p", notebook="count.ipynb")
    runs = [threading.Thread(target=_run, args=(run_context("p", run_id=f"r{i}"),)) for i in range(2)]

    for thread in runs:
        thread.start()
    for thread in runs:
        thread.join()

    assert counter.read_text() == "1"
    assert sorted(statuses(sql, "p")) == ["SKIPPED", "SUCCESS"]


def test_given_dependencies_when_asked_which_to_trigger_then_only_unmet_ones_not_failed_in_this_stream_run(
    registry, stream, sql, tmp_path, control_db_url
):
    done, failed, never = (registry.process(stream["group"], name, notebook=nb, params={"marker": str(tmp_path / name)})
                           for name, nb in (("done", "ok.ipynb"), ("failed", "missing.ipynb"), ("never", "ok.ipynb")))
    dependant = registry.process(stream["group"], "dependant")
    for upstream in (done, failed, never):
        registry.depend(dependant, upstream)
    run_process(run_context("done"))
    with pytest.raises(ProcessFailed):
        run_process(run_context("failed", strem_run_id="stream-1"))

    running = registry.process(stream["group"], "running")
    registry.depend(dependant, running)
    run_log.mark_running(control_db_url, run_context("running", strem_run_id="stream-1"))

    in_same_stream_run = dependencies_to_trigger(run_context("dependant", strem_run_id="stream-1"))
    on_its_own = dependencies_to_trigger(run_context("dependant", triggered_by="manual"))
    # scheduled runs of two streams on one cron share their run id: another stream's failure is not this run's
    in_another_stream = dependencies_to_trigger(run_context("dependant", strem_nm="other", strem_run_id="stream-1"))

    assert in_same_stream_run == ["never", "running"]  # a running one is awaited through its lock
    assert on_its_own == ["failed", "never", "running"]
    assert in_another_stream == ["failed", "never", "running"]
